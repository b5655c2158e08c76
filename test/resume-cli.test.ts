import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunStore } from '../src/store/store.js';
import { mvmProcess as mvm, mvm as mvmHere, spawnMvm } from './cli.js';

function agent() {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-resume-cli-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'image.yaml'),
    `mvm: 1
name: writer
models: { main: {} }
tools: { fs: {} }
permissions: [model:main, 'tool:fs/*']
procedures:
  main:
    body:
      - { op: tool.load, ns: fs, dst: tools }
      - { op: history.new, system: write the note, dst: h }
      - op: call
        proc: std.chat
        static: { slot: main, max_turns: 4 }
        args: { history: h, tools: tools }
        dst: answer
      - { op: halt, src: answer }
`,
  );
  writeFileSync(
    join(dir, 'mvm.yaml'),
    `models:
  main:
    driver: replay
    replies:
      - toolCalls: [{ id: w1, name: fs/write_file, arguments: '{"path": "note.md", "content": "hello"}' }]
      - text: written
mcpServers:
  fs:
    command: node
    args: ['\${package:@modelcontextprotocol/server-filesystem}/dist/index.js', '\${configDir}/data']
rules:
  - allow: model:main
  - allow: 'tool:fs/*'
  - allow: 'fs:\${configDir}/data/**'
  - confirm: tool:fs/write_file
    reason: writes change the notes
`,
  );
  return dir;
}

describe('a run that waits for a person, across processes', () => {
  it('suspends, then resumes in a new process and writes the file exactly once', async () => {
    const dir = agent();
    const store = join(dir, 'store');
    const note = join(dir, 'data', 'note.md');

    const first = await mvm('run', dir, '--store', store, '--json');
    expect(first.code).toBe(3);
    const waiting = JSON.parse(first.stdout) as {
      runId: string;
      status: string;
      pending: unknown[];
    };
    expect(waiting.status).toBe('waiting');
    expect(waiting.pending).toMatchObject([
      { id: 'c1', tool: 'fs/write_file', reason: 'writes change the notes' },
    ]);
    expect(existsSync(note)).toBe(false);

    const wrong = await mvm('resume', waiting.runId, '--approve', 'c7', '--store', store);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("no pending request 'c7'");

    const second = await mvm(
      'resume',
      waiting.runId,
      '--approve',
      'c1',
      '--store',
      store,
      '--json',
    );
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ status: 'done', output: 'written' });
    expect(readFileSync(note, 'utf8')).toBe('hello');

    const s = RunStore.open(store);
    const intents = s.entries(waiting.runId).filter((e) => e.type === 'tool.intent');
    s.close();
    expect(intents).toHaveLength(1);

    const audit = await mvm('audit', 'verify', waiting.runId, '--store', store);
    expect(audit.code).toBe(0);
    const again = await mvm('resume', waiting.runId, '--approve', 'c1', '--store', store);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('[not_resumable]');
  }, 60_000);

  it('takes answers given ahead from an approve file', async () => {
    const dir = agent();
    const answers = join(dir, 'answers.yaml');
    writeFileSync(answers, "- { match: 'tool:fs/write_*', verdict: deny, reason: not today }\n");
    const r = await mvm(
      'run',
      dir,
      '--store',
      join(dir, 'store'),
      '--approve-file',
      answers,
      '--json',
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'done', output: 'written' });
    expect(existsSync(join(dir, 'data', 'note.md'))).toBe(false);
  }, 60_000);
});

describe('answers given to resume on the command line', () => {
  it('denies with a reason the refusal carries, and the run goes on', async () => {
    const dir = agent();
    const store = join(dir, 'store');
    const first = JSON.parse((await mvm('run', dir, '--store', store, '--json')).stdout);
    const r = await mvm(
      'resume',
      first.runId,
      '--deny',
      'c1',
      '--reason',
      'not in this folder',
      '--store',
      store,
      '--json',
    );
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'data', 'note.md'))).toBe(false);
    const s = RunStore.open(store);
    const refused = s.entries(first.runId).find((e) => e.type === 'tool.refused');
    s.close();
    expect(refused?.data).toMatchObject({ reason: 'denied by a person: not in this folder' });
  }, 60_000);

  it('answers a question as JSON, or as the text typed, and refuses one without an id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-answer-cli-'));
    writeFileSync(
      join(dir, 'image.yaml'),
      `mvm: 1
name: asks
permissions: [user]
procedures:
  main:
    body:
      - { op: user.ask, prompt: how many?, dst: n }
      - { op: halt, src: n }
`,
    );
    writeFileSync(join(dir, 'mvm.yaml'), 'rules: [{ allow: user }]\n');
    const store = join(dir, 'store');
    const waiting = async () => {
      const r = await mvmHere('run', dir, '--store', store, '--json');
      expect(r.code).toBe(3);
      return JSON.parse(r.out) as { runId: string; pending: Array<{ id: string }> };
    };

    const a = await waiting();
    expect(a.pending).toMatchObject([{ id: 'q1', kind: 'question', prompt: 'how many?' }]);
    const bad = await mvmHere('resume', a.runId, '--answer', '=3', '--store', store);
    expect([bad.code, bad.err]).toEqual([2, expect.stringContaining('[bad_answer]')]);
    const n = await mvmHere('resume', a.runId, '--answer', 'q1=3', '--store', store, '--json');
    expect(JSON.parse(n.out)).toMatchObject({ status: 'done', output: 3 });

    const b = await waiting();
    const t = await mvmHere('resume', b.runId, '--answer', 'q1=a few', '--store', store, '--json');
    expect(JSON.parse(t.out)).toMatchObject({ status: 'done', output: 'a few' });
  });

  it('takes the text typed as the answer when the question wants a string and the JSON is not one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-answer-text-'));
    writeFileSync(
      join(dir, 'image.yaml'),
      `mvm: 1
name: asks
permissions: [user]
procedures:
  main:
    body:
      - { op: user.ask, prompt: which room?, schema: { type: string }, dst: a }
      - { op: user.ask, prompt: how many?, schema: { type: integer }, dst: b }
      - { op: data.object, fields: { a: a, b: b }, dst: both }
      - { op: halt, src: both }
`,
    );
    writeFileSync(join(dir, 'mvm.yaml'), 'rules: [{ allow: user }]\n');
    const store = join(dir, 'store');
    const first = JSON.parse((await mvmHere('run', dir, '--store', store, '--json')).out) as {
      runId: string;
    };

    const room = await mvmHere(
      'resume',
      first.runId,
      '--answer',
      'q1=5',
      '--store',
      store,
      '--json',
    );
    expect(JSON.parse(room.out)).toMatchObject({ status: 'waiting', pending: [{ id: 'q2' }] });
    const many = await mvmHere('resume', first.runId, '--answer', 'q2=five', '--store', store);
    expect(many.code).toBe(2);
    expect(many.err).toContain('[bad_answer]');
    const done = await mvmHere(
      'resume',
      first.runId,
      '--answer',
      'q2=5',
      '--store',
      store,
      '--json',
    );
    expect(JSON.parse(done.out)).toMatchObject({ status: 'done', output: { a: '5', b: 5 } });
    const s = RunStore.open(store);
    const answers = s.entries(first.runId).filter((e) => e.type === 'user.answer');
    s.close();
    expect(answers.map((e) => e.data)).toEqual([
      { id: 'q1', answer: '5' },
      { id: 'q2', answer: 5 },
    ]);
  });
});

describe('an interrupted run', () => {
  it('stops on SIGINT, resumable: the call it was making is asked about, not failed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-sigint-'));
    writeFileSync(
      join(dir, 'image.yaml'),
      `mvm: 1
name: long
tools: { e: {} }
permissions: ['tool:e/*']
procedures:
  main:
    body:
      - { op: tool.load, ns: e }
      - { op: data.const, value: { duration: 60, steps: 2 }, dst: a }
      - { op: tool.call, tool: e/trigger-long-running-operation, args: a, dst: r }
      - { op: halt, src: r }
`,
    );
    writeFileSync(
      join(dir, 'mvm.yaml'),
      `mcpServers:
  e:
    command: node
    args: ['\${package:@modelcontextprotocol/server-everything}/dist/index.js', stdio]
rules: [{ allow: 'tool:e/*' }]
toolTimeoutMs: 120000
`,
    );
    const store = join(dir, 'store');
    const child = spawnMvm('run', dir, '--store', store);
    // Interrupt once the call is under way: its intent is in the journal.
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      if (!existsSync(join(store, 'mvm.db'))) continue;
      const s = RunStore.open(store);
      const run = s.listRuns()[0];
      const busy = run && s.entries(run.id).some((e) => e.type === 'tool.intent');
      s.close();
      if (busy) break;
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(4);
    const s = RunStore.open(store);
    const run = s.listRuns()[0]!;
    const types = s.entries(run.id).map((e) => e.type);
    s.close();
    expect(run.status).toBe('interrupted');
    expect(types.at(-1)).toBe('run.interrupt');
    // The call was under way: no outcome is recorded, neither a result nor an error.
    expect(types).not.toContain('tool.error');
    expect(types).not.toContain('run.end');
    const audit = await mvm('audit', 'verify', run.id, '--store', store);
    expect(audit.code).toBe(0);

    // Resumed, the run does not repeat the call on its own: a person is asked first.
    const resumed = await mvm('resume', run.id, '--store', store, '--json');
    expect(resumed.code).toBe(3);
    const waiting = JSON.parse(resumed.stdout);
    expect(waiting.pending).toEqual([
      expect.objectContaining({ id: 'c1', kind: 'confirm', request: 'unknown_outcome' }),
    ]);
    const denied = await mvm('resume', run.id, '--deny', 'c1', '--store', store, '--json');
    // Told not to repeat it, the run ends there: what the call did, if anything, is unknown.
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stdout).error).toMatchObject({ code: 'unknown_outcome' });
  }, 60_000);
});
