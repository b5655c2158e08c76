import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LockFile } from '../src/host/lock.js';
import { mvm } from './cli.js';

describe('mvm.lock', () => {
  it('leaves nothing behind in the temporary folder', async () => {
    const notes = join(mkdtempSync(join(tmpdir(), 'mvm-lock-')), 'notes');
    cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
    const scratch = mkdtempSync(join(tmpdir(), 'mvm-lock-tmp-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    try {
      expect((await mvm('lock', notes)).code).toBe(0);
    } finally {
      process.env.TMPDIR = before;
    }
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('pins the tools, stops a run whose server changed a tool, and takes an update after review', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-lock-'));
    const notes = join(dir, 'notes');
    cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
    const store = join(dir, 'store');
    const lockFile = join(notes, 'mvm.lock');

    expect((await mvm('lock', notes)).code).toBe(0);
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as LockFile;
    expect(Object.keys(lock.namespaces)).toEqual(['fs', 'memory']);
    expect(Object.keys(lock.namespaces.fs!.tools)).toContain('read_text_file');
    const first = await mvm('run', notes, '--store', store, '--json');
    expect(first.code).toBe(0);
    // The manifest names the lock the run was held to.
    const manifest = JSON.parse(readFileSync(JSON.parse(first.out).manifest, 'utf8'));
    expect(manifest.lock).toEqual({ path: lockFile, digest: expect.stringMatching(/^sha256:/) });

    // As if the server changed a description after the operator approved it, and dropped a tool.
    lock.namespaces.fs!.tools.read_text_file!.description = 'sha256:0';
    lock.namespaces.fs!.tools.read_text_file!.digest = 'sha256:0';
    delete lock.namespaces.memory!.tools.read_graph;
    writeFileSync(lockFile, JSON.stringify(lock));

    const stopped = await mvm('run', notes, '--store', store, '--json');
    expect(stopped.code).toBe(1);
    const error = JSON.parse(stopped.out).error as { code: string; message: string };
    expect(error.code).toBe('lock_mismatch');
    expect(error.message).toContain('~ fs/read_text_file: description changed');

    const refused = await mvm('lock', notes);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('+ memory/read_graph: a new tool');

    const updated = await mvm('lock', notes, '--update');
    expect(updated.code).toBe(0);
    const after = await mvm('run', notes, '--store', store, '--json');
    expect(after.code).toBe(0);
    const relocked = JSON.parse(readFileSync(JSON.parse(after.out).manifest, 'utf8'));
    // The update pins what the servers offer again, the same as the first lock.
    expect(relocked.lock.digest).toBe(manifest.lock.digest);
  }, 60_000);

  it('refuses a lock it cannot read before any run is stored, and replaces it on --update', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-lock-bad-'));
    const notes = join(dir, 'notes');
    cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
    const store = join(dir, 'store');
    const lockFile = join(notes, 'mvm.lock');

    for (const [text, says] of [
      ['{bad', 'not a lock file'],
      ['{"mvmLock": 2, "namespaces": {}}', 'mvmLock: expected 1, found 2'],
      ['{"mvmLock": 1, "namespaces": {"fs": 3}}', 'namespaces.fs.tools: expected an object'],
      [
        '{"mvmLock": 1, "namespaces": {"fs": {"tools": {}, "server": {"version": 2}}}}',
        'namespaces.fs.server: expected an object of strings',
      ],
    ] as const) {
      writeFileSync(lockFile, text);
      const r = await mvm('run', notes, '--store', store, '--json');
      expect(r.code).toBe(2);
      expect(JSON.parse(r.out).error).toMatchObject({ code: 'bad_lock', file: lockFile });
      expect(r.err).toContain(says);
      expect((await mvm('runs', '--store', store, '--json')).out.trim()).toBe('[]');
    }
    expect((await mvm('lock', notes)).code).toBe(2);
    expect((await mvm('lock', notes, '--update')).code).toBe(0);
    expect((await mvm('run', notes, '--store', store)).code).toBe(0);
  }, 60_000);

  it('pins who each server is, and stops a run whose server is another one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-lock-server-'));
    const notes = join(dir, 'notes');
    cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
    const store = join(dir, 'store');
    const lockFile = join(notes, 'mvm.lock');
    expect((await mvm('lock', notes)).code).toBe(0);
    const lock = JSON.parse(readFileSync(lockFile, 'utf8')) as LockFile;
    const version = (name: string) =>
      (
        JSON.parse(
          readFileSync(
            join(import.meta.dirname, '..', 'node_modules', name, 'package.json'),
            'utf8',
          ),
        ) as { version: string }
      ).version;
    expect(lock.namespaces.fs!.server).toEqual({
      command: 'node',
      package: `@modelcontextprotocol/server-filesystem@${version('@modelcontextprotocol/server-filesystem')}`,
      name: expect.any(String),
      version: expect.any(String),
    });
    expect(lock.namespaces.memory!.server!.package).toMatch(
      /^@modelcontextprotocol\/server-memory@/,
    );

    // As if the package had been upgraded since the review, and a tool's hints rewritten.
    lock.namespaces.fs!.server!.package = '@modelcontextprotocol/server-filesystem@0.0.1';
    const tool = lock.namespaces.fs!.tools.read_text_file!;
    tool.annotations = 'sha256:0';
    tool.digest = 'sha256:0';
    writeFileSync(lockFile, JSON.stringify(lock));
    const stopped = await mvm('run', notes, '--store', store, '--json');
    expect(stopped.code).toBe(1);
    const { message } = JSON.parse(stopped.out).error as { message: string };
    expect(message).toContain(
      `~ fs: another server: package "@modelcontextprotocol/server-filesystem@0.0.1" -> "@modelcontextprotocol/server-filesystem@${version('@modelcontextprotocol/server-filesystem')}"`,
    );
    expect(message).toContain('~ fs/read_text_file: annotations changed');
  }, 60_000);

  it('resumes a run only under the lock it started with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-lock-resume-'));
    const notes = join(dir, 'notes');
    cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
    const config = join(notes, 'mvm.yaml');
    // The example's memory calls put to a person, so that the run waits.
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        '  - allow: user\n',
        '  - allow: user\n  - confirm: tool:memory/create_entities\n',
      ),
    );
    const store = join(dir, 'store');
    const lockFile = join(notes, 'mvm.lock');
    const waiting = async () => {
      const r = await mvm('run', notes, '--store', store, '--json');
      expect(r.code).toBe(3);
      return JSON.parse(r.out) as { runId: string; pending: Array<{ id: string }> };
    };

    // Started with no lock: one written since is not the run's.
    const bare = await waiting();
    expect((await mvm('lock', notes)).code).toBe(0);
    const r1 = await mvm('resume', bare.runId, '--approve', bare.pending[0]!.id, '--store', store);
    expect([r1.code, r1.err]).toEqual([2, expect.stringContaining('[lock_changed]')]);

    // Started under the lock: a changed lock is refused, the same lock resumes.
    const held = await waiting();
    const kept = readFileSync(lockFile, 'utf8');
    const lock = JSON.parse(kept) as LockFile;
    delete lock.namespaces.memory!.tools.read_graph;
    writeFileSync(lockFile, JSON.stringify(lock));
    const id = held.pending[0]!.id;
    const r2 = await mvm('resume', held.runId, '--approve', id, '--store', store);
    expect([r2.code, r2.err]).toEqual([2, expect.stringContaining('the lock has changed since')]);
    expect((await mvm('runs', '--store', store, '--json')).out).toContain('"waiting"');
    writeFileSync(lockFile, kept);
    const r3 = await mvm('resume', held.runId, '--approve', id, '--store', store, '--json');
    expect(JSON.parse(r3.out)).toMatchObject({ status: 'done' });
  }, 90_000);

  it('takes an image or its folder as run does, and refuses a path that is not there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-lock-target-'));
    writeFileSync(join(dir, 'image.yaml'), 'mvm: 1\nname: x\nprocedures: { main: { body: [] } }\n');

    const none = await mvm('lock', join(dir, 'image.yaml'));
    expect(none.code).toBe(2);
    expect(none.err).toContain(
      `no configuration found: looked for mvm.yaml, mvm.yml or mvm.json in ${dir} [no_config]`,
    );
    const nowhere = await mvm('lock', join(dir, 'nowhere.yaml'));
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toBe(
      `mvm: ${join(dir, 'nowhere.yaml')}: no such configuration file or folder [not_found]`,
    );

    writeFileSync(join(dir, 'mvm.yaml'), 'rules: []\n');
    const beside = await mvm('lock', join(dir, 'image.yaml'));
    expect(beside.code).toBe(0);
    expect(beside.out).toBe(`${join(dir, 'mvm.lock')}: written`);
    expect(JSON.parse(readFileSync(join(dir, 'mvm.lock'), 'utf8'))).toEqual({
      mvmLock: 1,
      namespaces: {},
    });
  });
});
