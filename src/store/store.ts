import { randomInt } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson } from '../audit/canonical.js';
import { GENESIS, hashWithData, type JournalEntry } from '../audit/chain.js';
import { StoreError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';
import { type Committed, commitText, LOG_FILE, type LogTail, readLog } from './log.js';

/** Where runs are kept when nothing names a store: a folder of the current one. */
export const DEFAULT_STORE = '.mvm';

/** The store's database file, in its folder. */
const DATABASE = 'mvm.db';

export type RunStatus = 'running' | 'done' | 'failed' | 'waiting' | 'interrupted';

export interface RunRecord {
  id: string;
  imageName: string;
  imageDigest: string;
  configPath: string | null;
  status: RunStatus;
  createdAt: string;
  endedAt: string | null;
  output: Json | null;
  error: Json | null;
  /** The hash and length of the journal as last appended; the anchor that exposes truncation. */
  head: string;
  count: number;
  /** A folder for the run's own files. */
  dir: string;
}

export type Durability = 'full' | 'normal';

export interface StoreOptions {
  /** `full` syncs every commit to disk; `normal` (default) survives a killed process. */
  durability?: Durability;
}

/**
 * The tables of a new store. The journal is a rowid table: SQLite appends to one without
 * rebalancing its neighbours, and keeps an entry of a few kilobytes (a long run's labels) in
 * its page rather than on an overflow page of its own, so a commit writes fewer pages: at 200
 * steps a run, an agent step took 10% less CPU. Stores made before keep the journal they have
 * (`WITHOUT ROWID`, keyed the same way); both layouts take the same statements, old code and
 * new read and write either, and nothing is migrated.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, image_name TEXT NOT NULL, image_digest TEXT NOT NULL,
  config_path TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, ended_at TEXT,
  output TEXT, error TEXT, head TEXT NOT NULL, count INTEGER NOT NULL, owner TEXT
);
CREATE TABLE IF NOT EXISTS journal (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, ts TEXT NOT NULL, type TEXT NOT NULL,
  at TEXT, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS manifests (run_id TEXT PRIMARY KEY, manifest TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS memory (
  scope TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, label TEXT NOT NULL,
  run_id TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (scope, key)
) WITHOUT ROWID;
`;

/** The layout this code writes; a store from newer code is refused rather than guessed at. */
const STORE_VERSION = 1;

/** Columns added since the first layout, with their definitions. */
const ADDED_COLUMNS: [table: string, column: string, definition: string][] = [
  ['runs', 'owner', 'TEXT'],
];

/** Brings a store written by older code up to this layout, in place. */
function migrate(db: Database.Database, dir: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > STORE_VERSION) {
    db.close();
    throw new StoreError(
      'newer_store',
      `the run store at ${dir} has layout ${version}; this mvm reads up to ${STORE_VERSION}`,
      { dir, version },
    );
  }
  if (version === STORE_VERSION) return;
  db.transaction(() => {
    for (const [table, column, definition] of ADDED_COLUMNS) {
      const columns = db.pragma(`table_info(${table})`) as { name: string }[];
      if (!columns.some((c) => c.name === column)) {
        db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
      }
    }
    db.pragma(`user_version = ${STORE_VERSION}`);
  })();
}

interface RunRow {
  id: string;
  image_name: string;
  image_digest: string;
  config_path: string | null;
  status: RunStatus;
  created_at: string;
  ended_at: string | null;
  output: string | null;
  error: string | null;
  head: string;
  count: number;
}

interface EntryRow {
  seq: number;
  ts: string;
  type: string;
  at: string | null;
  data: string;
  prev: string;
  hash: string;
}

/** Stored data that is not JSON (the file was edited) reads as a marker that fails its hash. */
function parseStored(text: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return { unreadable: text };
  }
}

/** This process, as a run's owner: `pid@host`. */
const OWNER = `${process.pid}@${hostname()}`;

/** Whether the owner process is alive; one on another machine is taken to be. */
function ownerAlive(owner: string): boolean {
  const [pid, host] = owner.split('@');
  if (host !== hostname()) return true;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let lastMs = 0;
let lastIso = '';

/** The time as an entry records it; entries a millisecond apart share the text. */
function timestamp(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

function newRunId(): string {
  const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  // Drawn from node's pool of random bytes; `randomBytes` asks OpenSSL anew for each id.
  return `${t}-${randomInt(0x1000000).toString(16).padStart(6, '0')}`;
}

/**
 * The run store: runs, their hash-chained journals, manifests and memory, in one SQLite file
 * at `<dir>/mvm.db`; each run also gets a folder `<dir>/runs/<id>/` for its own files.
 *
 * ```ts
 * const store = RunStore.open('.mvm');
 * const run = store.createRun({ imageName: 'notes', imageDigest, configPath: null });
 * store.journal(run.id).append('run.start', { inputs: {} });
 * ```
 */
export class RunStore {
  readonly dir: string;
  private readonly db: Database.Database;
  private readonly journals = new Map<string, Journal>();
  /** Each statement is prepared once: preparing costs more than running most of them. */
  private readonly statements = new Map<string, Database.Statement>();
  private claimTx: Database.Transaction<(id: string) => void> | undefined;
  private journalStore: JournalStore | undefined;
  private oneTransaction: Database.Transaction<(fn: () => unknown) => unknown> | undefined;

  private constructor(
    dir: string,
    db: Database.Database,
    private readonly durability: Durability,
  ) {
    this.dir = dir;
    this.db = db;
  }

  /** Whether a store has been made in `dir`: a command that only reads runs needs one. */
  static exists(dir: string): boolean {
    return existsSync(join(resolve(dir), DATABASE));
  }

  static open(dir: string, options: StoreOptions = {}): RunStore {
    const abs = resolve(dir);
    let db: Database.Database;
    try {
      mkdirSync(join(abs, 'runs'), { recursive: true });
      db = new Database(join(abs, DATABASE));
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma('busy_timeout = 5000');
      db.exec(SCHEMA);
    } catch (e) {
      throw new StoreError('open_failed', `cannot open the run store at ${abs}`, { dir: abs }, e);
    }
    migrate(db, abs);
    const durability = options.durability ?? 'normal';
    return new RunStore(abs, db, durability);
  }

  runDir(id: string): string {
    return join(this.dir, 'runs', id);
  }

  createRun(meta: {
    imageName: string;
    imageDigest: string;
    configPath: string | null;
  }): RunRecord {
    const createdAt = new Date().toISOString();
    const insert = this.sql(
      `INSERT INTO runs (id, image_name, image_digest, config_path, status, created_at, head,
         count, owner) VALUES (?, ?, ?, ?, 'running', ?, ?, 0, ?)`,
    );
    // An id has 24 random bits per second, so runs made a few hundred a second can draw one
    // that is taken (about one in twenty over 10,000 such runs): that one is drawn again.
    for (let attempt = 1; ; attempt++) {
      const id = newRunId();
      try {
        insert.run(
          id,
          meta.imageName,
          meta.imageDigest,
          meta.configPath,
          createdAt,
          GENESIS,
          OWNER,
        );
      } catch (e) {
        const taken = (e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
        if (taken && attempt < 5) continue;
        throw e;
      }
      mkdirSync(this.runDir(id), { recursive: true });
      // As the row now reads, without reading it back.
      const run: RunRecord = {
        id,
        imageName: meta.imageName,
        imageDigest: meta.imageDigest,
        configPath: meta.configPath,
        status: 'running',
        createdAt,
        endedAt: null,
        output: null,
        error: null,
        head: GENESIS,
        count: 0,
        dir: this.runDir(id),
      };
      return run;
    }
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.sql('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    return row ? this.toRecord(row) : undefined;
  }

  /** The run with this id, or the only run whose id starts with it. */
  findRun(idOrPrefix: string): RunRecord {
    const exact = this.getRun(idOrPrefix);
    if (exact) return exact;
    // A prefix is taken literally and must say something: an empty one names no run.
    const rows =
      idOrPrefix.trim() === ''
        ? []
        : (this.sql('SELECT * FROM runs WHERE substr(id, 1, ?) = ? ORDER BY rowid LIMIT 2').all(
            idOrPrefix.length,
            idOrPrefix,
          ) as RunRow[]);
    if (rows.length === 1) return this.toRecord(rows[0]!);
    const why = rows.length === 0 ? 'no run' : 'more than one run';
    throw new StoreError('run_not_found', `${why} matches '${idOrPrefix}' in ${this.dir}`, {
      run: idOrPrefix,
    });
  }

  listRuns(limit = 50): RunRecord[] {
    const rows = this.sql('SELECT * FROM runs ORDER BY rowid DESC LIMIT ?').all(limit) as RunRow[];
    return rows.map((r) => this.toRecord(r));
  }

  finishRun(id: string, status: RunStatus, output: Json | null, error: Json | null): void {
    this.sql(
      'UPDATE runs SET status = ?, ended_at = ?, output = ?, error = ?, owner = NULL WHERE id = ?',
    ).run(
      status,
      new Date().toISOString(),
      output === null ? null : JSON.stringify(output),
      error === null ? null : JSON.stringify(error),
      id,
    );
  }

  /**
   * Commits what a run's journal holds together with how the run now stands, in one
   * transaction: waiting, or ended with its output or error; with its manifest. The store
   * then lets go of the run's journal object; a resumed run opens it again from the anchor.
   */
  settle(
    id: string,
    status: RunStatus,
    end: { output: Json | null; error: Json | null; manifest: Json },
  ): void {
    const journal = this.journals.get(id);
    try {
      this.transaction(() => {
        journal?.flush();
        if (status === 'waiting' || status === 'running') this.setStatus(id, status);
        else this.finishRun(id, status, end.output, end.error);
        this.saveManifest(id, end.manifest);
      });
    } finally {
      this.release(id);
    }
  }

  /**
   * Commits a run's journal and lets go of its object, which the store otherwise keeps while
   * the run may still append; a later `journal(id)` opens it again from the anchor.
   */
  release(id: string): void {
    const journal = this.journals.get(id);
    this.journals.delete(id);
    journal?.close();
  }

  /**
   * Runs `fn` in one transaction: everything it writes, journal flushes included, is
   * committed together or not at all. A journal whose flush is rolled back with it must be
   * released, since its object has moved on.
   */
  transaction<T>(fn: () => T): T {
    // Immediate: the write lock is taken at the start, so what `fn` reads stays true. One
    // wrapper serves every call: better-sqlite3 makes four variants for each new one.
    this.oneTransaction ??= this.db.transaction((f: () => unknown) => f());
    return this.oneTransaction.immediate(fn) as T;
  }

  /** Marks a run waiting, or running again, without ending it. */
  setStatus(id: string, status: RunStatus): void {
    const owner = status === 'running' ? OWNER : null;
    this.sql('UPDATE runs SET status = ?, owner = ? WHERE id = ?').run(status, owner, id);
  }

  /**
   * Takes a run for this process. A run another live process on this machine holds is
   * refused: two processes must never carry on the same run.
   */
  claim(id: string): void {
    // Read and taken under the write lock, so that two processes cannot both take it.
    this.claimTx ??= this.db.transaction((id: string) => {
      const row = this.sql('SELECT owner FROM runs WHERE id = ?').get(id) as
        | { owner: string | null }
        | undefined;
      const owner = row?.owner ?? null;
      if (owner && owner !== OWNER && ownerAlive(owner)) {
        throw new StoreError(
          'run_in_progress',
          `run ${id} is being carried on by process ${owner}`,
          { run: id, owner },
        );
      }
      this.sql('UPDATE runs SET owner = ? WHERE id = ?').run(OWNER, id);
    });
    this.claimTx.immediate(id);
  }

  /**
   * The journal a run is appended to, from where it stands: the database's rows and what the
   * run's commit log holds past them (a process that stopped leaves its last commits there).
   */
  journal(runId: string): Journal {
    let j = this.journals.get(runId);
    if (!j) {
      const run = this.sql('SELECT head, count FROM runs WHERE id = ?').get(runId) as
        | { head: string; count: number }
        | undefined;
      if (!run) throw new StoreError('run_not_found', `no run '${runId}'`, { run: runId });
      const log = this.logPath(runId);
      const tail = readLog(log, run.count);
      j = new Journal(
        this.forJournals(),
        runId,
        log,
        run.head,
        run.count,
        tail,
        this.durability === 'full',
      );
      this.journals.set(runId, j);
    }
    return j;
  }

  /** A run's journal entries in order; with `after`, only those past that sequence number. */
  entries(runId: string, after = 0): JournalEntry[] {
    this.journals.get(runId)?.flush();
    // The log first, then the database: a process that folds the log in between moves its
    // entries into the database before it empties the log, so they are read in one or the
    // other. Read the other way round, they could be in neither.
    const tail = readLog(this.logPath(runId), after);
    const rows = this.sql(
      'SELECT seq, ts, type, at, data, prev, hash FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq',
    ).all(runId, after) as EntryRow[];
    const entries = rows.map((r) => {
      const e: JournalEntry = {
        seq: r.seq,
        ts: r.ts,
        type: r.type,
        data: parseStored(r.data),
        prev: r.prev,
        hash: r.hash,
      };
      if (r.at !== null) e.at = JSON.parse(r.at) as string;
      return e;
    });
    // The commit log holds what the run committed since it was last folded in.
    const stored = entries.at(-1)?.seq ?? after;
    for (const { entry, dataText } of tail?.rows ?? []) {
      if (entry.seq > stored) entries.push({ ...entry, data: parseStored(dataText) });
    }
    return entries;
  }

  /**
   * The last entry a running run's commit log holds past the table. A log that cannot be read
   * leaves the record at the table's anchor: listing runs goes on, and reading the journal
   * says what is wrong with it.
   */
  private loggedHead(row: RunRow): JournalEntry | undefined {
    try {
      return readLog(this.logPath(row.id), row.count)?.rows.at(-1)?.entry;
    } catch (e) {
      if (e instanceof StoreError) return undefined;
      throw e;
    }
  }

  private logPath(runId: string): string {
    return join(this.runDir(runId), LOG_FILE);
  }

  saveManifest(runId: string, manifest: Json): void {
    this.sql('INSERT OR REPLACE INTO manifests (run_id, manifest) VALUES (?, ?)').run(
      runId,
      JSON.stringify(manifest),
    );
  }

  getManifest(runId: string): Json | undefined {
    const row = this.sql('SELECT manifest FROM manifests WHERE run_id = ?').get(runId) as
      | { manifest: string }
      | undefined;
    return row ? parseStored(row.manifest) : undefined;
  }

  memoryGet(scope: string, key: string): { data: Json; label: Json } | undefined {
    const row = this.sql('SELECT data, label FROM memory WHERE scope = ? AND key = ?').get(
      scope,
      key,
    ) as { data: string; label: string } | undefined;
    if (!row) return undefined;
    return { data: JSON.parse(row.data) as Json, label: JSON.parse(row.label) as Json };
  }

  memoryPut(scope: string, key: string, data: Json, label: Json, runId: string): void {
    this.sql(
      `INSERT OR REPLACE INTO memory (scope, key, data, label, run_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
    ).run(scope, key, JSON.stringify(data), JSON.stringify(label), runId, new Date().toISOString());
  }

  /** Direct access for tests and tools that inspect or tamper with the file. */
  get database(): Database.Database {
    return this.db;
  }

  /** Commits what the journals buffer and closes the file. */
  close(): void {
    try {
      for (const j of this.journals.values()) j.flush();
    } finally {
      this.db.close();
    }
  }

  /** What journals need of the store: rows written with their run's anchor, and its count. */
  private forJournals(): JournalStore {
    if (this.journalStore) return this.journalStore;
    const insert = this.sql(
      'INSERT INTO journal (run_id, seq, ts, type, at, data, prev, hash) VALUES (?,?,?,?,?,?,?,?)',
    );
    const anchor = this.sql('UPDATE runs SET head = ?, count = ? WHERE id = ?');
    const count = this.sql('SELECT count FROM runs WHERE id = ?').pluck();
    const write = this.db.transaction((runId: string, rows: Committed[]) => {
      for (const { entry, dataText } of rows) {
        insert.run(
          runId,
          entry.seq,
          entry.ts,
          entry.type,
          // As JSON text, so that a lone surrogate survives SQLite's UTF-8 and the hash holds.
          entry.at === undefined ? null : JSON.stringify(entry.at),
          dataText,
          entry.prev,
          entry.hash,
        );
      }
      const last = rows[rows.length - 1]!.entry;
      anchor.run(last.hash, last.seq, runId);
    });
    const db = this.db;
    this.journalStore = {
      insert: (runId, rows) => write(runId, rows),
      get inTransaction() {
        return db.inTransaction;
      },
      stored: (runId) => (count.get(runId) as number | undefined) ?? 0,
      transaction: (fn) => this.transaction(fn),
    };
    return this.journalStore;
  }

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  private toRecord(row: RunRow): RunRecord {
    // The anchor as the run's journal stands: a running run's last commits may be in its log.
    let { head, count } = row;
    this.journals.get(row.id)?.flush();
    if (row.status === 'running') {
      const last = this.loggedHead(row);
      if (last) {
        head = last.hash;
        count = last.seq;
      }
    }
    return {
      id: row.id,
      imageName: row.image_name,
      imageDigest: row.image_digest,
      configPath: row.config_path,
      status: row.status,
      createdAt: row.created_at,
      endedAt: row.ended_at,
      output: row.output === null ? null : parseStored(row.output),
      error: row.error === null ? null : parseStored(row.error),
      head,
      count,
      dir: this.runDir(row.id),
    };
  }
}

/** What a journal needs of its store. */
interface JournalStore {
  /** Writes rows into the database with the run's anchor, in a transaction of its own or the caller's. */
  insert(runId: string, rows: Committed[]): void;
  /** Whether a transaction is open: a commit then goes into it, not into the log. */
  readonly inTransaction: boolean;
  /** How many of the run's entries the database holds. */
  stored(runId: string): number;
  /** Runs `fn` in a transaction of its own. */
  transaction(fn: () => void): void;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** Entries the log may hold before they are folded into the database while the run goes on. */
const FOLD_ENTRIES = 512;
const FOLD_BYTES = 1 << 20;

/**
 * A run's journal, append-only. Entries are chained as they are appended and committed in
 * batches: `flush` commits what is buffered. The machine flushes before every effect on the
 * world, so an intent is on disk before its effect starts; an outcome is written with the
 * next flush, and a process that stops before it leaves an intent without an outcome, which a
 * resumed run treats as unknown, never as done. With durability `full`, every append is
 * committed and synced at once.
 *
 * A commit goes to the run's commit log (`log.ts`), one write, and the log is folded into
 * the database when the run ends or waits, or when it grows past a bound; a commit made
 * inside a database transaction (a run's start, its resume, its end) goes into that
 * transaction instead, with the log's entries before it. Readers see both: the store reads
 * the log past what the database holds. A log left by a stopped process is read, and then
 * continued, by whoever opens the run's journal next.
 */
export class Journal {
  private buffer: Committed[] = [];
  private closed = false;
  /** Committed to the log and not yet to the database, as far as this object knows. */
  private logged: Committed[] = [];
  private fd: number | undefined;
  /** Bytes of finished commits in the log; past them is a commit cut short, if anything. */
  private logSize: number;
  /** The log holds entries the database took in a caller's transaction, up to this seq. */
  private foldedInto = 0;
  /** Whether this object appended: only a writer empties the log. */
  private wrote = false;

  constructor(
    private readonly store: JournalStore,
    readonly runId: string,
    private readonly logPath: string,
    private headHash: string,
    private length: number,
    found: LogTail | undefined,
    private readonly eager = false,
  ) {
    this.logSize = found?.end ?? 0;
    const last = found?.rows[found.rows.length - 1];
    if (found && last) {
      this.logged = found.rows;
      this.headHash = last.entry.hash;
      this.length = last.entry.seq;
    }
  }

  get head(): string {
    return this.headHash;
  }

  get count(): number {
    return this.length;
  }

  append(type: string, data: Json, at?: string): JournalEntry {
    if (this.closed) {
      // Another object may hold the run's journal by now: a second writer would fork the chain.
      throw new StoreError('journal_closed', `the journal of ${this.runId} was let go`, {
        run: this.runId,
        type,
      });
    }
    // The table keeps a type as UTF-8 text, where half a surrogate pair cannot be written:
    // the entry would fail its hash once folded in.
    if (LONE_SURROGATE.test(type)) {
      throw new StoreError('bad_entry_type', `an entry's type must be well-formed text`, {
        run: this.runId,
        type,
      });
    }
    const seq = this.length + 1;
    const prev = this.headHash;
    // One object, the entry itself, kept until the commit and handed back: made with its
    // fields in one of two fixed orders, it costs less than a body copied into an entry.
    const entry: JournalEntry =
      at === undefined
        ? { seq, ts: timestamp(), type, data, prev, hash: '' }
        : { seq, ts: timestamp(), type, at, data, prev, hash: '' };
    const dataText = canonicalJson(data);
    entry.hash = hashWithData(entry, dataText);
    this.buffer.push({ entry, dataText });
    this.headHash = entry.hash;
    this.length = seq;
    this.wrote = true;
    if (this.eager) this.flush();
    return entry;
  }

  /** Commits what is buffered, lets go of the log if the database holds it all; later appends are refused. */
  close(): void {
    try {
      this.flush();
    } finally {
      this.closed = true;
      this.closeLog();
    }
  }

  /**
   * Commits the buffered entries. When that fails, the buffered entries are dropped and the
   * journal stands where it was last committed.
   */
  flush(): void {
    const rows = this.buffer;
    // Inside a transaction what the log holds goes into the database with it.
    if (rows.length === 0 && (this.logged.length === 0 || !this.store.inTransaction)) return;
    this.buffer = [];
    try {
      if (this.store.inTransaction) this.fold(rows);
      else if (this.logged.length + rows.length >= FOLD_ENTRIES || this.logSize >= FOLD_BYTES) {
        this.store.transaction(() => this.fold(rows));
        try {
          this.emptyLog();
        } catch {
          // The rows are in the database now, and stay: a log that cannot be emptied here
          // is emptied before the next commit is written to it.
        }
      } else this.log(rows);
    } catch (e) {
      const first = rows[0] ?? this.logged[0]!;
      if (rows.length > 0) {
        this.headHash = first.entry.prev;
        this.length = first.entry.seq - 1;
      }
      throw new StoreError(
        'append_failed',
        `cannot append to the journal of ${this.runId}`,
        { run: this.runId, type: first.entry.type },
        e,
      );
    }
  }

  /** Into the database, with what the log holds before them. */
  private fold(rows: Committed[]): void {
    const all =
      this.logged.length === 0 ? rows : rows.length === 0 ? this.logged : [...this.logged, ...rows];
    this.store.insert(this.runId, all);
    this.logged = [];
    this.foldedInto = all[all.length - 1]!.entry.seq;
  }

  /** One write to the log, synced with durability `full`. */
  private log(rows: Committed[]): void {
    const text = commitText(rows);
    const fd = this.openLog();
    try {
      this.logSize += writeAll(fd, text);
      if (this.eager) fdatasyncSync(fd);
    } catch (e) {
      // What part of the commit went in is cut off, so that the next one follows the last.
      ftruncateSync(fd, this.logSize);
      throw e;
    }
    this.logged.push(...rows);
  }

  private openLog(): number {
    if (this.fd !== undefined) {
      if (this.foldedInto > 0) this.emptyLog();
      return this.fd;
    }
    let fd: number;
    try {
      fd = openSync(this.logPath, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(this.logPath), { recursive: true });
      fd = openSync(this.logPath, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND);
    }
    this.fd = fd;
    // A log this object did not start may hold what the database now holds, or end in a
    // commit cut short: the next commit starts after the last finished one.
    const size = fstatSync(fd).size;
    if (size === 0) {
      this.foldedInto = 0;
      this.logSize = 0;
      if (this.eager) syncFolder(dirname(this.logPath));
    } else if (this.foldedInto > 0) this.emptyLog();
    else if (size !== this.logSize) ftruncateSync(fd, this.logSize);
    return fd;
  }

  /**
   * Empties the log once the database holds what it held. Folded in a caller's transaction,
   * that is so only once the caller committed, which the database itself tells.
   */
  private emptyLog(): void {
    if (this.store.stored(this.runId) < this.foldedInto) {
      throw new StoreError(
        'log_unfolded',
        `the database lacks entries of ${this.runId} that its commit log holds`,
        { run: this.runId },
      );
    }
    if (this.fd !== undefined) ftruncateSync(this.fd, 0);
    this.foldedInto = 0;
    this.logSize = 0;
  }

  /**
   * Closes the log, emptied when the database holds every entry. An empty log is left in
   * place: removing a file that held data costs five times what emptying it does. An object
   * that only read the log leaves it alone: a process that runs the run may be writing to it.
   * A log that cannot be emptied is left as it is: the database holds all it holds, so
   * readers pass over it, and the run has settled, which an error here would hide.
   */
  private closeLog(): void {
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (!this.wrote || (fd === undefined && this.logSize === 0)) return;
      if (this.logged.length > 0 || this.store.stored(this.runId) !== this.length) return;
      if (fd !== undefined) ftruncateSync(fd, 0);
      else truncateSync(this.logPath, 0);
    } catch {
      // Left as it is: see above.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}

/** Writes text whole, one call unless the kernel takes less than all of it; its bytes. */
function writeAll(fd: number, text: string): number {
  const done = writeSync(fd, text);
  const length = Buffer.byteLength(text);
  if (done === length) return length;
  const bytes = Buffer.from(text);
  for (let at = done; at < length; ) at += writeSync(fd, bytes, at, length - at);
  return length;
}

/** Syncs a folder, so that a file made in it stays after the machine stops. */
function syncFolder(path: string): void {
  const fd = openSync(path, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
