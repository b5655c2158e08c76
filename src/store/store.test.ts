import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GENESIS, verifyChain } from '../audit/chain.js';
import { StoreError } from '../spec/errors.js';
import { RunStore } from './store.js';

let dir: string;
let store: RunStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvm-store-'));
  store = RunStore.open(dir);
});

afterEach(() => {
  vi.useRealTimers();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const meta = (imageName = 'notes') => ({ imageName, imageDigest: 'sha256:abc', configPath: null });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The error a call throws, for asserting on its class and code. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** The shortest prefix of `id` that no other id starts with. */
function uniquePrefix(id: string, others: string[]): string {
  for (let n = 1; n <= id.length; n++) {
    const p = id.slice(0, n);
    if (!others.some((o) => o.startsWith(p))) return p;
  }
  return id;
}

describe('runs', () => {
  it('creates a run: running, an empty journal at genesis, its own folder', () => {
    const run = store.createRun({
      imageName: 'notes',
      imageDigest: 'sha256:abc',
      configPath: '/c',
    });

    expect(run).toMatchObject({
      imageName: 'notes',
      imageDigest: 'sha256:abc',
      configPath: '/c',
      status: 'running',
      endedAt: null,
      output: null,
      error: null,
      head: GENESIS,
      count: 0,
      dir: join(dir, 'runs', run.id),
    });
    expect(run.id).toMatch(/^\d{14}-[0-9a-f]{6}$/);
    expect(existsSync(run.dir)).toBe(true);
    expect(store.getRun(run.id)).toEqual(run);
    expect(store.getRun('nope')).toBeUndefined();
  });

  it('records how a run finished', () => {
    const run = store.createRun(meta());
    store.finishRun(run.id, 'failed', null, { kind: 'provider', code: 'timeout' });

    const again = store.getRun(run.id)!;

    expect(again.status).toBe('failed');
    expect(again.endedAt).not.toBeNull();
    expect(again.output).toBeNull();
    expect(again.error).toEqual({ kind: 'provider', code: 'timeout' });
  });

  it('lists runs newest first, up to a limit', async () => {
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      ids.push(store.createRun(meta(name)).id);
      await sleep(3);
    }

    expect(store.listRuns().map((r) => r.id)).toEqual(ids.toReversed());
    expect(store.listRuns().map((r) => r.imageName)).toEqual(['c', 'b', 'a']);
    expect(store.listRuns(2).map((r) => r.id)).toEqual([ids[2], ids[1]]);
  });

  it('lists runs created within the same millisecond newest first', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-06-01T12:00:00.000Z'));
    const ids = Array.from({ length: 8 }, () => store.createRun(meta()).id);

    expect(store.listRuns().map((r) => r.id)).toEqual(ids.toReversed());
  });

  it('finds a run by its id or by a unique prefix', () => {
    const a = store.createRun(meta('a'));
    const b = store.createRun(meta('b'));

    expect(store.findRun(a.id).id).toBe(a.id);
    expect(store.findRun(uniquePrefix(a.id, [b.id])).id).toBe(a.id);
    expect(store.findRun(uniquePrefix(b.id, [a.id])).id).toBe(b.id);
  });

  it('refuses an ambiguous prefix with run_not_found', () => {
    const a = store.createRun(meta('a'));
    store.createRun(meta('b'));
    // Both ids start with the date of today.
    const e = thrown(() => store.findRun(a.id.slice(0, 8)));

    expect(e).toBeInstanceOf(StoreError);
    expect(e).toMatchObject({ kind: 'store', code: 'run_not_found' });
    expect((e as Error).message).toContain('more than one run');
  });

  it('refuses an unknown prefix with run_not_found', () => {
    store.createRun(meta());

    for (const prefix of ['zz', '1999', `${store.listRuns()[0]!.id}x`, '', '%', '_']) {
      const e = thrown(() => store.findRun(prefix));
      expect(e).toBeInstanceOf(StoreError);
      expect(e).toMatchObject({ code: 'run_not_found', data: { run: prefix } });
      expect((e as Error).message).toContain('no run');
    }
  });

  it('refuses a journal of a run it does not hold with run_not_found', () => {
    expect(thrown(() => store.journal('nope'))).toMatchObject({
      kind: 'store',
      code: 'run_not_found',
    });
  });

  it('reports a store it cannot open as open_failed', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder');

    expect(thrown(() => RunStore.open(file))).toMatchObject({
      kind: 'store',
      code: 'open_failed',
    });
  });
});

describe('journal', () => {
  it('chains appends: seq from 1, each prev the hash before, the anchor moved', () => {
    const run = store.createRun(meta());
    const j = store.journal(run.id);

    const e1 = j.append('run.start', { inputs: {} });
    const e2 = j.append('decision', { verdict: 'allow' }, 'procedures.main.body[0]');

    expect([e1.seq, e2.seq]).toEqual([1, 2]);
    expect(e1.prev).toBe(GENESIS);
    expect(e2.prev).toBe(e1.hash);
    expect(store.getRun(run.id)).toMatchObject({ head: e2.hash, count: 2 });
    expect(store.entries(run.id)).toEqual([e1, e2]);
    expect(store.journal(run.id)).toBe(j);
  });

  it('keeps the journal of one run apart from another', () => {
    const a = store.createRun(meta('a'));
    const b = store.createRun(meta('b'));
    store.journal(a.id).append('x', 1);
    const first = store.journal(b.id).append('y', 2);

    expect(first).toMatchObject({ seq: 1, prev: GENESIS });
    expect(store.entries(a.id).map((e) => e.type)).toEqual(['x']);
  });

  it('survives closing and reopening, and a new store continues the chain', () => {
    const run = store.createRun(meta());
    const j = store.journal(run.id);
    j.append('run.start', { inputs: {} });
    j.append('tool.intent', { name: 'fs/read' }, 'procedures.main.body[0]');
    const last = j.append('tool.result', { content: 'x' }, 'procedures.main.body[0]');
    const before = store.entries(run.id);
    store.close();

    store = RunStore.open(dir);
    const reopened = store.journal(run.id);

    expect(store.entries(run.id)).toEqual(before);
    expect(reopened.count).toBe(3);
    expect(reopened.head).toBe(last.hash);

    const next = reopened.append('run.end', { status: 'done' });

    expect(next.seq).toBe(4);
    expect(next.prev).toBe(last.hash);
    const after = store.getRun(run.id)!;
    expect(after).toMatchObject({ head: next.hash, count: 4 });
    expect(verifyChain(store.entries(run.id), { head: after.head, count: after.count })).toEqual({
      ok: true,
      count: 4,
      head: next.hash,
      problems: [],
    });
  });

  /** A run with entry 1 committed, and an entry 2 someone else wrote into the same file. */
  function intruded() {
    const run = store.createRun(meta());
    const j = store.journal(run.id);
    j.append('a', 1);
    store.transaction(() => j.flush());
    store.database
      .prepare(
        `INSERT INTO journal (run_id, seq, ts, type, at, data, prev, hash)
         VALUES (?, 2, 'ts', 'b', NULL, '2', 'p', 'h')`,
      )
      .run(run.id);
    return { run, j };
  }

  it('refuses to commit where an entry already sits, with append_failed', () => {
    const { run, j } = intruded();

    j.append('c', 3);
    expect(thrown(() => store.transaction(() => j.flush()))).toMatchObject({
      kind: 'store',
      code: 'append_failed',
    });
    // The failed commit moved nothing.
    expect(j.count).toBe(1);
    expect(store.getRun(run.id)!.count).toBe(1);
  });

  it('refuses to fold a commit log where an entry already sits, leaving the run running', () => {
    const { run, j } = intruded();
    const c = j.append('c', 3);
    j.flush(); // into the log, which knows nothing of the database's rows

    const settled = () => store.settle(run.id, 'done', { output: null, error: null, manifest: {} });
    expect(thrown(settled)).toMatchObject({ kind: 'store', code: 'append_failed' });
    expect(store.getRun(run.id)).toMatchObject({ status: 'running' });
    // The log keeps the commit for whoever looks into the run.
    expect(readFileSync(join(run.dir, 'journal.log'), 'utf8')).toContain(c.hash);
  });
});

describe('settling a run', () => {
  it('commits the journal, the status and the manifest together, then lets the journal go', () => {
    const run = store.createRun(meta());
    const j = store.journal(run.id);
    j.append('run.start', { inputs: {} });
    const end = j.append('run.end', { status: 'done' });

    store.settle(run.id, 'done', { output: 'ok', error: null, manifest: { head: end.hash } });

    expect(store.getRun(run.id)).toMatchObject({ status: 'done', output: 'ok', count: 2 });
    expect(store.getManifest(run.id)).toEqual({ head: end.hash });
    expect(thrown(() => j.append('late', 1))).toMatchObject({ code: 'journal_closed' });
    // A new object takes up the chain where the anchor stands.
    const again = store.journal(run.id);
    expect(again).not.toBe(j);
    expect(again.append('audit.note', 1)).toMatchObject({ seq: 3, prev: end.hash });
  });

  it('leaves the run as it was when the transaction fails, and the journal reopens', () => {
    const run = store.createRun(meta());
    const j = store.journal(run.id);
    j.append('run.start', { inputs: {} });
    j.flush();
    j.append('run.suspend', { pending: [] });
    store.database.exec('DROP TABLE manifests');

    expect(
      thrown(() => store.settle(run.id, 'waiting', { output: null, error: null, manifest: 1 })),
    ).toBeDefined();

    expect(store.getRun(run.id)).toMatchObject({ status: 'running', count: 1 });
    expect(store.journal(run.id).count).toBe(1);
    expect(store.entries(run.id).map((e) => e.type)).toEqual(['run.start']);
  });
});

describe('manifests and memory', () => {
  it('keeps a manifest per run, the latest one winning', () => {
    const run = store.createRun(meta());
    store.saveManifest(run.id, { v: 1 });
    store.saveManifest(run.id, { v: 2, nested: { list: [1, 'two', null] } });

    expect(store.getManifest(run.id)).toEqual({ v: 2, nested: { list: [1, 'two', null] } });
    expect(store.getManifest('nope')).toBeUndefined();
  });

  it('keeps memory data and label, by scope and key, across reopening', () => {
    const run = store.createRun(meta());
    const label = { readers: ['alice'], integrity: 'untrusted', sources: ['tool:fs'] };
    store.memoryPut('notes', 'summary', { text: 'hi', n: [1, 2] }, label, run.id);
    store.memoryPut('other', 'summary', 'elsewhere', { readers: 'public' }, run.id);
    store.close();
    store = RunStore.open(dir);

    expect(store.memoryGet('notes', 'summary')).toEqual({ data: { text: 'hi', n: [1, 2] }, label });
    expect(store.memoryGet('other', 'summary')).toEqual({
      data: 'elsewhere',
      label: { readers: 'public' },
    });
    expect(store.memoryGet('notes', 'missing')).toBeUndefined();
    expect(store.memoryGet('nowhere', 'summary')).toBeUndefined();
  });

  it('replaces a memory value and its label together', () => {
    const run = store.createRun(meta());
    store.memoryPut('s', 'k', 1, { integrity: 'trusted' }, run.id);
    store.memoryPut('s', 'k', null, { integrity: 'untrusted' }, run.id);

    expect(store.memoryGet('s', 'k')).toEqual({ data: null, label: { integrity: 'untrusted' } });
  });
});

describe('store layout', () => {
  it('brings a store from before run owners up to date, keeping its runs', async () => {
    const old = mkdtempSync(join(tmpdir(), 'mvm-store-old-'));
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(old, 'mvm.db'));
    db.exec(`CREATE TABLE runs (
      id TEXT PRIMARY KEY, image_name TEXT NOT NULL, image_digest TEXT NOT NULL,
      config_path TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, ended_at TEXT,
      output TEXT, error TEXT, head TEXT NOT NULL, count INTEGER NOT NULL)`);
    db.prepare(
      `INSERT INTO runs VALUES ('r1', 'notes', 'sha256:abc', NULL, 'done', 'then', NULL,
       NULL, NULL, ?, 0)`,
    ).run(GENESIS);
    db.close();

    const migrated = RunStore.open(old);
    expect(migrated.getRun('r1')).toMatchObject({ status: 'done' });
    const run = migrated.createRun(meta());
    expect(migrated.getRun(run.id)).toMatchObject({ status: 'running' });
    migrated.close();
    rmSync(old, { recursive: true, force: true });
  });

  it('reads and writes the journal of a store made before, kept WITHOUT ROWID', async () => {
    const old = mkdtempSync(join(tmpdir(), 'mvm-store-old-'));
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(old, 'mvm.db'));
    db.exec(`CREATE TABLE journal (
      run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL,
      at TEXT, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
      PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID`);
    db.close();

    const before = RunStore.open(old);
    const run = before.createRun(meta());
    const j = before.journal(run.id);
    j.append('run.start', { inputs: {} });
    j.flush();
    j.append('tool.result', { content: 'x'.repeat(5000) }, 'main[0]');
    before.settle(run.id, 'done', { output: 'ok', error: null, manifest: {} });
    before.close();

    const again = RunStore.open(old);
    const entries = again.entries(run.id);
    expect(entries.map((e) => e.type)).toEqual(['run.start', 'tool.result']);
    expect(verifyChain(entries, again.getRun(run.id)!).ok).toBe(true);
    const kept = again.database
      .prepare("SELECT sql FROM sqlite_master WHERE name = 'journal'")
      .get() as { sql: string };
    expect(kept.sql).toMatch(/WITHOUT ROWID/);
    again.close();
    rmSync(old, { recursive: true, force: true });
  });

  it('refuses a store written by a newer mvm, naming its layout', async () => {
    const { default: Database } = await import('better-sqlite3');
    store.close();
    const db = new Database(join(dir, 'mvm.db'));
    db.pragma('user_version = 99');
    db.close();
    const err = thrown(() => RunStore.open(dir));
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('newer_store');
    expect((err as StoreError).message).toMatch(/layout 99/);
    store = RunStore.open(mkdtempSync(join(tmpdir(), 'mvm-store-')));
  });
});

describe('the commit log', () => {
  /** A run with `n` entries committed outside a transaction, as a run between effects does. */
  function running(n: number) {
    const run = store.createRun(meta());
    const j = store.journal(run.id);
    store.transaction(() => {
      j.append('run.start', { inputs: {} });
      j.flush();
    });
    for (let i = 2; i <= n; i++) {
      j.append('step', { i });
      j.flush();
    }
    return { run, j, log: join(run.dir, 'journal.log') };
  }

  it('holds the commits between effects, which another store sees and carries on', () => {
    const { run, j, log } = running(5);
    expect(store.database.prepare('SELECT count(*) FROM journal').pluck().get()).toBe(1);
    expect(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('E')),
    ).toHaveLength(4);

    // As a process that finds the run after this one was killed.
    const other = RunStore.open(dir);
    try {
      const seen = other.getRun(run.id)!;
      expect(seen).toMatchObject({ count: 5, head: j.head });
      const entries = other.entries(run.id);
      expect(entries.map((e) => e.data)).toEqual([
        { inputs: {} },
        ...[2, 3, 4, 5].map((i) => ({ i })),
      ]);
      expect(verifyChain(entries, seen).ok).toBe(true);

      const again = other.journal(run.id);
      expect(again.count).toBe(5);
      again.append('step', { i: 6 });
      other.settle(run.id, 'done', { output: null, error: null, manifest: {} });
      const all = other.entries(run.id);
      expect(all).toHaveLength(6);
      expect(verifyChain(all, other.getRun(run.id)!).ok).toBe(true);
      expect(other.database.prepare('SELECT count(*) FROM journal').pluck().get()).toBe(6);
      // Folded in: nothing is left in the log.
      expect(existsSync(log) ? readFileSync(log, 'utf8') : '').toBe('');
    } finally {
      other.close();
    }
  });

  it('is left alone by a store that only read it, while the run goes on writing to it', () => {
    const { run, j } = running(3);
    j.append('step', { i: 4 });
    store.transaction(() => j.flush()); // the log still holds 2 and 3, which the database has
    const other = RunStore.open(dir);
    try {
      other.journal(run.id);
      other.release(run.id);
      j.append('step', { i: 5 });
      j.flush();
      expect(other.entries(run.id).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      other.close();
    }
  });

  it('leaves out a commit cut short, and the next commit starts where the last finished', () => {
    const { run, j, log } = running(3);
    writeFileSync(
      log,
      `${readFileSync(log, 'utf8')}E\t4\t2026-01-01T00:00:00.000Z\t"step"\t\t${j.head}\tabc\t{"i"`,
      {
        flag: 'w',
      },
    );
    const other = RunStore.open(dir);
    try {
      expect(other.getRun(run.id)!.count).toBe(3);
      expect(other.entries(run.id)).toHaveLength(3);
      const again = other.journal(run.id);
      again.append('step', { i: 4 });
      again.flush();
      expect(readFileSync(log, 'utf8')).not.toContain('{"i"\n');
      expect(verifyChain(other.entries(run.id), other.getRun(run.id)!)).toMatchObject({
        ok: true,
        count: 4,
      });
    } finally {
      other.close();
    }
  });

  it('is carried on from its last finished commit when it holds text outside ASCII', () => {
    const { run, j, log } = running(1);
    j.append('step', { text: 'héllo wörld — 日本語 ✓' });
    j.flush();
    const last = j.append('step', { text: 'plain' });
    j.flush();
    // As a process that finds the run after this one was killed, and carries it on.
    const other = RunStore.open(dir);
    try {
      const again = other.journal(run.id);
      expect(again.head).toBe(last.hash);
      again.append('step', { i: 4 });
      again.flush();
      expect(readFileSync(log, 'utf8')).toContain(`C\t3\t${last.hash}\n`);
      const entries = other.entries(run.id);
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(verifyChain(entries, other.getRun(run.id)!).ok).toBe(true);
    } finally {
      other.close();
    }
  });

  it('settles a carried-on run whose log cannot be emptied, leaving the log to be passed over', () => {
    const { run, log } = running(3);
    const other = RunStore.open(dir);
    try {
      const again = other.journal(run.id);
      again.append('step', { i: 4 });
      // The log can no longer be written: here, a folder stands where it was.
      rmSync(log);
      mkdirSync(log);
      other.settle(run.id, 'done', { output: null, error: null, manifest: {} });
      expect(other.getRun(run.id)).toMatchObject({ status: 'done', count: 4 });
      expect(other.database.prepare('SELECT count(*) FROM journal').pluck().get()).toBe(4);
    } finally {
      other.close();
    }
  });

  it('refuses a log with a line it does not write before a finished commit, naming the line', () => {
    const { run, log } = running(3);
    const lines = readFileSync(log, 'utf8').split('\n');
    lines[0] = 'not a line of the log';
    writeFileSync(log, lines.join('\n'));
    expect(thrown(() => store.entries(run.id))).toMatchObject({
      kind: 'store',
      code: 'bad_log',
      message: `${log}:1: not an entry line`,
    });
    // Listing runs goes on, the run at the table's anchor.
    expect(store.listRuns().find((r) => r.id === run.id)).toMatchObject({ count: 1 });
  });

  it('refuses a log with a line longer than a string may be as log_unreadable', () => {
    const { run, log } = running(3);
    writeFileSync(log, `${readFileSync(log, 'utf8')}E\t4\t${'x'.repeat(64)}\n`);
    // A line too long to decode, as a hand-made one of more than half a gigabyte is.
    const decode = Buffer.prototype.toString;
    const tooLong = function (this: Buffer, ...args: Parameters<Buffer['toString']>) {
      const [, from = 0, to = this.length] = args;
      if (to - from > 64)
        throw new Error('Cannot create a string longer than 0x1fffffe8 characters');
      return decode.apply(this, args);
    };
    const spy = vi.spyOn(Buffer.prototype, 'toString').mockImplementation(tooLong as () => string);
    try {
      expect(thrown(() => store.entries(run.id))).toMatchObject({
        kind: 'store',
        code: 'log_unreadable',
      });
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps a type or place with tabs, line breaks and lone surrogates as they were', () => {
    const { run, j } = running(1);
    const odd = j.append('odd\ttype\n', { text: 'a\tb\nc\ud800' }, 'procedures.p\ud800\t');
    j.flush();
    const [, read] = store.entries(run.id);
    expect(read).toEqual(odd);
    expect(verifyChain(store.entries(run.id), store.getRun(run.id)!).ok).toBe(true);
  });

  it('refuses a type holding half a surrogate pair, which the table cannot keep', () => {
    const { j } = running(1);
    expect(thrown(() => j.append('odd\ud800', {}))).toMatchObject({
      kind: 'store',
      code: 'bad_entry_type',
    });
    expect(j.count).toBe(1);
    expect(j.append('pair \ud83d\ude00', {}).seq).toBe(2);
  });

  it('is folded into the database as it grows, and stays short', () => {
    const { run, j, log } = running(1200);
    const stored = store.database.prepare('SELECT count(*) FROM journal').pluck().get() as number;
    expect(stored).toBeGreaterThanOrEqual(1024);
    const inLog = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('E'));
    expect(stored + inLog.length).toBe(1200);
    expect(verifyChain(store.entries(run.id), { head: j.head, count: 1200 }).ok).toBe(true);
  });

  it('with durability full, holds each entry as soon as it is appended', () => {
    const full = RunStore.open(dir, { durability: 'full' });
    try {
      const run = full.createRun(meta());
      const j = full.journal(run.id);
      j.append('run.start', {});
      const second = j.append('step', { i: 2 });
      // Seen from another connection with nothing flushed by hand.
      expect(store.getRun(run.id)).toMatchObject({ count: 2, head: second.hash });
      expect(store.entries(run.id).at(-1)).toEqual(second);
    } finally {
      full.close();
    }
  });

  it('goes into the transaction a commit is made in, with what the log held before', () => {
    const { run, j } = running(4);
    j.append('step', { i: 5 });
    store.transaction(() => {
      j.flush();
      store.setStatus(run.id, 'waiting');
    });
    expect(store.database.prepare('SELECT count(*) FROM journal').pluck().get()).toBe(5);
  });
});
