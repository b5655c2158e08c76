import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LockFile } from '../src/host/lock.js';
import { mvm } from './cli.js';

describe('mvm.lock', () => {
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
});
