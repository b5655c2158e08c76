import { readFileSync, statSync } from 'node:fs';
import type { JournalEntry } from '../audit/chain.js';
import { StoreError } from '../spec/errors.js';

/**
 * A run's commit log: the journal entries committed since they were last folded into the
 * database, one file in the run's folder. A commit is one `write` of its entries' lines and a
 * line that closes it, so it costs a system call where a database transaction costs tens of
 * microseconds; it is as durable against a killed process (the kernel holds what was
 * written), and with durability `full` it is synced before the commit returns, as the
 * database's would be.
 *
 * ```
 * E <tab> seq <tab> ts <tab> type as JSON <tab> at as JSON, or nothing <tab> prev <tab> hash <tab> data
 * C <tab> seq <tab> hash
 * ```
 *
 * The data is the entry's canonical JSON, the text its hash covers, which holds no tab or
 * line break outside an escape. Lines after the last `C` are a commit that did not finish
 * (a write cut short by the machine stopping): they are no part of the journal.
 */

export const LOG_FILE = 'journal.log';

/** An entry with the canonical text of its data, as it is committed. */
export interface Committed {
  entry: JournalEntry;
  /** The data's canonical text, which the hash covers and the row keeps. */
  dataText: string;
}

/** The lines of one commit. */
export function commitText(rows: Committed[]): string {
  let text = '';
  for (const { entry: e, dataText } of rows) {
    const at = e.at === undefined ? '' : JSON.stringify(e.at);
    text += `E\t${e.seq}\t${e.ts}\t${JSON.stringify(e.type)}\t${at}\t${e.prev}\t${e.hash}\t${dataText}\n`;
  }
  const last = rows[rows.length - 1]!.entry;
  return `${text}C\t${last.seq}\t${last.hash}\n`;
}

/** What a log holds past a sequence number, and where its last finished commit ends. */
export interface LogTail {
  rows: Committed[];
  /** Bytes up to the end of the last finished commit; past it is an unfinished one. */
  end: number;
}

/**
 * Reads the finished commits of a log, keeping the entries past `after`; undefined when there
 * is no log. A line that is not one the log writes, before the last finished commit, is
 * refused with its place: it was not cut short, so something else wrote it.
 */
export function readLog(path: string, after: number): LogTail | undefined {
  let bytes: Buffer;
  try {
    // Most runs have no log, or an empty one, when this is asked: finding that out throws no
    // error and reads nothing.
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) return undefined;
    if (stat.size === 0) return { rows: [], end: 0 };
    bytes = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreError('log_unreadable', `cannot read the commit log ${path}`, { path }, e);
  }
  const rows: Committed[] = [];
  let open: Committed[] = [];
  let end = 0;
  let at = 0;
  let line = 0;
  let damage: { line: number; reason: string } | undefined;
  // Read by bytes, which is how the writer measures the log: `end` is where it cuts a
  // commit cut short off, and a character offset would cut into one that finished. A line
  // break's byte is no part of any other character's UTF-8.
  while (at < bytes.length) {
    const stop = bytes.indexOf(0x0a, at);
    if (stop < 0) break; // cut short
    line++;
    const fields = decode(bytes, at, stop, path, line).split('\t');
    at = stop + 1;
    if (fields[0] === 'E' && fields.length === 8) {
      const [, seq, ts, type, atText, prev, hash, dataText] = fields as string[];
      const kind = parseString(type!);
      const entry: JournalEntry = {
        seq: Number(seq),
        ts: ts!,
        type: kind ?? '',
        data: null,
        prev: prev!,
        hash: hash!,
      };
      const where = atText === '' ? undefined : parseString(atText!);
      if (Number.isSafeInteger(entry.seq) && kind !== null && where !== null) {
        if (where !== undefined) entry.at = where;
        open.push({ entry, dataText: dataText! });
        continue;
      }
    } else if (fields[0] === 'C' && fields.length === 3) {
      const last = open[open.length - 1]?.entry;
      if (last && String(last.seq) === fields[1] && last.hash === fields[2]) {
        // Damage followed by a finished commit was not cut short: something else wrote it.
        if (damage) {
          throw new StoreError('bad_log', `${path}:${damage.line}: ${damage.reason}`, {
            path,
            line: damage.line,
          });
        }
        for (const row of open) if (row.entry.seq > after) rows.push(row);
        open = [];
        end = at;
        continue;
      }
    }
    damage ??= {
      line,
      reason: fields[0] === 'C' ? 'a commit line that closes no entries' : 'not an entry line',
    };
    open = [];
  }
  return { rows, end };
}

/**
 * A line's text. One longer than a string may be (which the log never writes: an entry's
 * text is a string) makes the log unreadable, as a file too long to read whole does.
 */
function decode(bytes: Buffer, from: number, to: number, path: string, line: number): string {
  try {
    return bytes.toString('utf8', from, to);
  } catch (e) {
    throw new StoreError('log_unreadable', `cannot read the commit log ${path}`, { path, line }, e);
  }
}

/** A string as a log line writes it, as JSON text; null when it is not one. */
function parseString(text: string): string | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}
