import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Json } from '../spec/types.js';
import { RunStore } from '../store/store.js';
import { canonicalJson, digest } from './canonical.js';
import { type ChainReport, entryHash, GENESIS, verifyChain } from './chain.js';

let dir: string;
let store: RunStore;
let runId: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvm-chain-'));
  store = RunStore.open(dir);
  runId = store.createRun({ imageName: 't', imageDigest: 'sha256:x', configPath: null }).id;
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Six entries, the way a run writes them: start, effects with their places, end. */
function writeJournal(): void {
  const j = store.journal(runId);
  j.append('run.start', { inputs: { q: 'hi' } });
  j.append('decision', { resource: 'tool:fs/read', verdict: 'allow' }, 'procedures.main.body[0]');
  j.append('tool.intent', { name: 'fs/read', args: { path: 'a.md' } }, 'procedures.main.body[0]');
  j.append('tool.result', { name: 'fs/read', content: 'hello' }, 'procedures.main.body[0]');
  j.append('user.show', { data: 'hello' }, 'procedures.main.body[1]');
  j.append('run.end', { status: 'done', output: 'hello' });
  // Into the database, as a run's end commits it.
  store.transaction(() => j.flush());
}

/** The journal checked against the anchor (head and count) kept in the runs table. */
function audit(): ChainReport {
  const run = store.getRun(runId)!;
  return verifyChain(store.entries(runId), { head: run.head, count: run.count });
}

const sql = (text: string, ...params: unknown[]) => store.database.prepare(text).run(...params);

const codes = (r: ChainReport) => r.problems.map((p) => `${p.seq}:${p.code}`);

describe('canonicalJson', () => {
  it('encodes equal objects to the same bytes whatever the key order, at every depth', () => {
    const a = { b: 1, a: { d: [1, { z: true, y: null }], c: 'x' } };
    const b = { a: { c: 'x', d: [1, { y: null, z: true }] }, b: 1 };

    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":true}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    expect(digest(b)).toBe(digest(a));
    expect(digest(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('keeps array order, which carries meaning', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
  });

  it('sorts keys by UTF-16 code unit, integer-like keys included', () => {
    // Code units, not code points: U+1F600 is stored as 0xD83D 0xDE00, below U+FFFF.
    const v = { é: 1, z: 2, Z: 3, '9': 4, '10': 5, '\uffff': 6, '😀': 7 };

    expect(canonicalJson(v)).toBe('{"10":5,"9":4,"Z":3,"z":2,"é":1,"😀":7,"\uffff":6}');
  });

  it('leaves out undefined fields and writes non-finite numbers as null', () => {
    const v = { a: undefined, b: Number.NaN, c: [undefined, Number.POSITIVE_INFINITY] };

    expect(canonicalJson(v)).toBe('{"b":null,"c":[null,null]}');
  });

  it('gives an entry the same hash whatever the key order of its data', () => {
    const body = { seq: 1, ts: '2026-01-01T00:00:00.000Z', type: 't', prev: GENESIS };
    const h1 = entryHash({ ...body, data: { a: 1, b: { c: 2, d: 3 } } });
    const h2 = entryHash({ ...body, data: { b: { d: 3, c: 2 }, a: 1 } });

    expect(h1).toBe(h2);
    expect(entryHash({ ...body, data: { a: 1, b: { c: 2, d: 4 } } })).not.toBe(h1);
  });

  it('lets lone surrogates and NUL survive a round trip through the store', () => {
    const data: Json = {
      lone: 'a\ud800b',
      trail: '\udfff',
      nul: 'x\u0000y',
      pair: '😀',
      'key\ud83d': ['\u0000', '\ud800\ud800'],
    };
    const written = store.journal(runId).append('tool.result', data, 'procedures.main.body[0]');
    store.close();
    store = RunStore.open(dir);

    const [read] = store.entries(runId);

    expect(read!.data).toEqual(data);
    expect(canonicalJson(read!.data)).toBe(canonicalJson(data));
    expect(read!.hash).toBe(written.hash);
    expect(entryHash(read!)).toBe(written.hash);
    expect(audit()).toMatchObject({ ok: true, problems: [] });
  });

  it('lets NUL survive in the type and place of an entry', () => {
    store.journal(runId).append('odd\u0000type', {}, 'at\u0000here');

    const [read] = store.entries(runId);

    expect(read).toMatchObject({ type: 'odd\u0000type', at: 'at\u0000here' });
    expect(audit().ok).toBe(true);
  });

  it('lets a lone surrogate survive in the place of an entry', () => {
    store.journal(runId).append('t', {}, 'procedures.p\ud800');

    const [read] = store.entries(runId);

    expect(read!.at).toBe('procedures.p\ud800');
    expect(audit()).toMatchObject({ ok: true, problems: [] });
  });
});

describe('verifyChain on a journal written by RunStore', () => {
  beforeEach(writeJournal);

  it('verifies an untouched journal, ending at the anchor', () => {
    const run = store.getRun(runId)!;
    const report = audit();

    expect(report).toEqual({ ok: true, count: 6, head: run.head, problems: [] });
    expect(run.count).toBe(6);
    expect(report.head).toBe(store.journal(runId).head);
    expect(store.entries(runId).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('verifies an empty journal at the genesis hash', () => {
    expect(verifyChain([], { head: GENESIS, count: 0 })).toEqual({
      ok: true,
      count: 0,
      head: GENESIS,
      problems: [],
    });
  });

  it('names an edited entry: hash_mismatch at its seq, nothing else', () => {
    sql(
      'UPDATE journal SET data = ? WHERE run_id = ? AND seq = 4',
      JSON.stringify({ name: 'fs/read', content: 'goodbye' }),
      runId,
    );

    const report = audit();

    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(['4:hash_mismatch']);
    expect(report.problems[0]!.message).toContain('entry 4');
  });

  it('sees an edit of a field outside data: the place, NULL or not', () => {
    sql('UPDATE journal SET at = NULL WHERE run_id = ? AND seq = 2', runId);

    expect(codes(audit())).toEqual(['2:hash_mismatch']);
  });

  it('names the entry after an edited one whose hash was recomputed', () => {
    const e = store.entries(runId)[2]!;
    const data = { name: 'fs/read', args: { path: '../secret' } };
    sql(
      'UPDATE journal SET data = ?, hash = ? WHERE run_id = ? AND seq = 3',
      JSON.stringify(data),
      entryHash({ ...e, data }),
      runId,
    );

    const report = audit();

    expect(codes(report)).toEqual(['4:prev_mismatch']);
    expect(report.problems[0]!.message).toContain('entry 4');
  });

  it('names the entry after a dropped one: seq_gap and prev_mismatch, and the count', () => {
    sql('DELETE FROM journal WHERE run_id = ? AND seq = 3', runId);

    const report = audit();

    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(['4:seq_gap', '4:prev_mismatch', '5:count_mismatch']);
    expect(report.problems[0]!.message).toContain('expected sequence number 3');
  });

  it('names both entries when two swap their data and hash', () => {
    const [a, b] = [store.entries(runId)[2]!, store.entries(runId)[3]!];
    const set = 'UPDATE journal SET data = ?, hash = ? WHERE run_id = ? AND seq = ?';
    sql(set, JSON.stringify(b.data), b.hash, runId, 3);
    sql(set, JSON.stringify(a.data), a.hash, runId, 4);

    const report = audit();

    expect(report.ok).toBe(false);
    expect(codes(report)).toContain('3:hash_mismatch');
    expect(codes(report)).toContain('4:hash_mismatch');
    expect(codes(report)).toContain('4:prev_mismatch');
  });

  it('names both entries when two swap their sequence numbers', () => {
    sql('UPDATE journal SET seq = -1 WHERE run_id = ? AND seq = 3', runId);
    sql('UPDATE journal SET seq = 3 WHERE run_id = ? AND seq = 4', runId);
    sql('UPDATE journal SET seq = 4 WHERE run_id = ? AND seq = -1', runId);

    const report = audit();

    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(
      expect.arrayContaining(['3:prev_mismatch', '3:hash_mismatch', '4:hash_mismatch']),
    );
    expect(codes(report)).toContain('5:prev_mismatch');
  });

  it('sees a truncated tail only through the anchor kept in the runs table', () => {
    sql('DELETE FROM journal WHERE run_id = ? AND seq > 4', runId);
    const entries = store.entries(runId);

    // The remaining prefix is a perfectly good chain on its own.
    expect(verifyChain(entries).ok).toBe(true);

    const report = audit();

    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(['4:count_mismatch', '4:head_mismatch']);
    expect(report.problems[0]!.message).toBe(
      'journal ends at entry 4 of the 6 recorded: entries 5 to 6 are missing (truncated)',
    );
  });

  it('names an entry appended behind the store’s back, chained correctly', () => {
    const last = store.entries(runId).at(-1)!;
    const body = {
      seq: 7,
      ts: new Date().toISOString(),
      type: 'tool.result',
      at: 'procedures.main.body[1]',
      data: { name: 'fs/write', content: 'done' } as Json,
      prev: last.hash,
    };
    sql(
      'INSERT INTO journal (run_id, seq, ts, type, at, data, prev, hash) VALUES (?,?,?,?,?,?,?,?)',
      runId,
      body.seq,
      body.ts,
      body.type,
      JSON.stringify(body.at),
      JSON.stringify(body.data),
      body.prev,
      entryHash(body),
    );

    expect(verifyChain(store.entries(runId)).ok).toBe(true);

    const report = audit();

    expect(report.ok).toBe(false);
    expect(report.count).toBe(7);
    expect(codes(report)).toEqual(['7:count_mismatch', '7:head_mismatch']);
    expect(report.problems[0]!.message).toBe(
      'journal holds 7 entries, 6 recorded: entry 7 is beyond the record (appended)',
    );
  });
});
