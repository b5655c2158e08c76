import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mvm } from './cli.js';

/** A command the CLI prints for a person to copy works from the folder it was printed in. */

function asker(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-copy-hints-'));
  writeFileSync(
    join(dir, 'image.yaml'),
    `mvm: 1
name: asker
permissions: [user]
procedures:
  main:
    body:
      - { op: user.ask, prompt: 'Your name?', schema: { type: string }, dst: name }
      - { op: halt, src: name }
`,
  );
  writeFileSync(join(dir, 'mvm.yaml'), `rules: [{ allow: user }]\nstore: { dir: store }\n`);
  return dir;
}

describe('the resume hint of a waiting run', () => {
  it('names the store the configuration chose, so that copying it resumes the run', async () => {
    const dir = asker();

    const first = await mvm('run', dir);

    expect(first.code).toBe(3);
    const hint = /resume with: (mvm resume .*)$/m.exec(first.out)?.[1];
    expect(hint).toMatch(
      new RegExp(`^mvm resume \\S+ --answer q1=VALUE --store ${join(dir, 'store')}$`),
    );
    const argv = hint!.replace('VALUE', 'Ann').split(' ').slice(1);
    const second = await mvm(...argv, '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.out)).toMatchObject({ status: 'done', output: 'Ann' });
  });

  it('names no store when it is .mvm in the current folder', async () => {
    const dir = asker();
    writeFileSync(join(dir, 'mvm.yaml'), 'rules: [{ allow: user }]\n');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const first = await mvm('run', '.');
      expect(first.out).toMatch(/resume with: mvm resume \S+ --answer q1=VALUE$/m);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('a run whose configuration changed since it started', () => {
  it('is told how to resume: the original file, or a copy of it as it was', async () => {
    const dir = asker();
    const config = join(dir, 'mvm.yaml');
    const original = readFileSync(config, 'utf8');
    const first = await mvm('run', dir, '--json');
    const { runId } = JSON.parse(first.out) as { runId: string };
    const store = join(dir, 'store');

    writeFileSync(config, `${original}principal: ann\n`);
    const changed = await mvm('resume', runId, '--answer', 'q1=Ann', '--store', store);
    expect(changed.code).toBe(2);
    expect(changed.err).toContain(
      `was started under ${config} as it was then, and the file has changed since; put it back as it was, or resume with --config naming a copy of it as it was [config_changed]`,
    );

    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'rules: [{ allow: user }]\n');
    const elsewhere = await mvm(
      'resume',
      runId,
      '--answer',
      'q1=Ann',
      '--config',
      other,
      '--store',
      store,
    );
    expect(elsewhere.err).toContain(
      `was started under another host configuration, ${config}; resume it with --config ${config} [config_changed]`,
    );

    const copy = join(dir, 'as-it-was.yaml');
    writeFileSync(copy, original);
    const resumed = await mvm('resume', runId, '--answer', 'q1=Ann', '--config', copy, '--json');
    expect(JSON.parse(resumed.out)).toMatchObject({ status: 'done', output: 'Ann' });
  });
});
