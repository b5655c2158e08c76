import type { Json } from '../spec/types.js';
import { canonicalJson, sha256 } from './canonical.js';

/** The hash of the (empty) journal before its first entry. */
export const GENESIS = '0'.repeat(64);

/** One journal entry. `hash` covers every other field, `prev` included. */
export interface JournalEntry {
  seq: number;
  ts: string;
  type: string;
  /** Where in the image, when the entry comes from an instruction. */
  at?: string;
  data: Json;
  prev: string;
  hash: string;
}

export type EntryBody = Omit<JournalEntry, 'hash'>;

export function entryHash(body: EntryBody): string {
  return hashWithData(body, canonicalJson(body.data));
}

/**
 * entryHash with the data's canonical text already made: the canonical encoding of the
 * entry's fields, keys in order (at, data, prev, seq, ts, type), `at` left out when absent.
 */
export function hashWithData(body: EntryBody, dataText: string): string {
  const at = body.at === undefined ? '' : `"at":${JSON.stringify(body.at)},`;
  const text =
    `{${at}"data":${dataText},"prev":${JSON.stringify(body.prev)},"seq":${canonicalJson(body.seq)},` +
    `"ts":${JSON.stringify(body.ts)},"type":${JSON.stringify(body.type)}}`;
  return sha256(text);
}

export interface ChainProblem {
  seq: number;
  code:
    | 'hash_mismatch'
    | 'prev_mismatch'
    | 'seq_gap'
    | 'head_mismatch'
    | 'count_mismatch'
    | 'manifest_signature'
    | 'manifest_mismatch'
    | 'lock_mismatch';
  message: string;
}

export interface ChainReport {
  ok: boolean;
  count: number;
  head: string;
  problems: ChainProblem[];
}

/**
 * Checks a journal: every hash recomputes, every entry links to the one before, sequence
 * numbers run 1..n without gap, and, when an anchor is given (the head and count recorded
 * beside the journal, or in the manifest), the journal ends where the anchor says.
 */
export function verifyChain(
  entries: readonly JournalEntry[],
  anchor?: { head: string; count: number },
): ChainReport {
  const problems: ChainProblem[] = [];
  let prev = GENESIS;
  let expectedSeq = 1;

  for (const e of entries) {
    if (e.seq !== expectedSeq) {
      problems.push({
        seq: e.seq,
        code: 'seq_gap',
        message: `entry ${e.seq}: expected sequence number ${expectedSeq}`,
      });
    }
    if (e.prev !== prev) {
      problems.push({
        seq: e.seq,
        code: 'prev_mismatch',
        message: `entry ${e.seq}: does not link to the entry before it`,
      });
    }
    if (entryHash(e) !== e.hash) {
      problems.push({
        seq: e.seq,
        code: 'hash_mismatch',
        message: `entry ${e.seq}: content does not match its hash (edited)`,
      });
    }
    prev = e.hash;
    expectedSeq = e.seq + 1;
  }

  const head = entries.length > 0 ? entries[entries.length - 1]!.hash : GENESIS;
  if (anchor) {
    const n = entries.length;
    if (anchor.count > n) {
      const missing =
        anchor.count === n + 1 ? `entry ${n + 1} is` : `entries ${n + 1} to ${anchor.count} are`;
      problems.push({
        seq: n,
        code: 'count_mismatch',
        message: `journal ends at entry ${n} of the ${anchor.count} recorded: ${missing} missing (truncated)`,
      });
    } else if (anchor.count < n) {
      const extra =
        n === anchor.count + 1 ? `entry ${n} is` : `entries ${anchor.count + 1} to ${n} are`;
      problems.push({
        seq: n,
        code: 'count_mismatch',
        message: `journal holds ${n} entries, ${anchor.count} recorded: ${extra} beyond the record (appended)`,
      });
    }
    if (anchor.head !== head) {
      problems.push({
        seq: entries.length,
        code: 'head_mismatch',
        message: `journal head ${head.slice(0, 12)} differs from the recorded ${anchor.head.slice(0, 12)}`,
      });
    }
  }
  return { ok: problems.length === 0, count: entries.length, head, problems };
}
