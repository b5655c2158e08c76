import { randomInt } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { canonicalJson } from '../audit/canonical.js';
import { GENESIS, hashWithData, type JournalEntry } from '../audit/chain.js';
import { StoreError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';

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
  private inTransaction: Database.Transaction<(fn: () => unknown) => unknown> | undefined;
  private writeRows: RowWriter | undefined;

  private constructor(
    dir: string,
    db: Database.Database,
    private readonly durability: Durability,
  ) {
    this.dir = dir;
    this.db = db;
  }

  static open(dir: string, options: StoreOptions = {}): RunStore {
    const abs = resolve(dir);
    let db: Database.Database;
    try {
      mkdirSync(join(abs, 'runs'), { recursive: true });
      db = new Database(join(abs, 'mvm.db'));
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
    this.journals.get(id)?.flush();
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
    this.inTransaction ??= this.db.transaction((f: () => unknown) => f());
    return this.inTransaction.immediate(fn) as T;
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

  journal(runId: string): Journal {
    let j = this.journals.get(runId);
    if (!j) {
      const run = this.sql('SELECT head, count FROM runs WHERE id = ?').get(runId) as
        | { head: string; count: number }
        | undefined;
      if (!run) throw new StoreError('run_not_found', `no run '${runId}'`, { run: runId });
      this.writeRows ??= this.rowWriter();
      j = new Journal(this.writeRows, runId, run.head, run.count, this.durability === 'full');
      this.journals.set(runId, j);
    }
    return j;
  }

  /** A run's journal entries in order; with `after`, only those past that sequence number. */
  entries(runId: string, after = 0): JournalEntry[] {
    this.journals.get(runId)?.flush();
    const rows = this.sql(
      'SELECT seq, ts, type, at, data, prev, hash FROM journal WHERE run_id = ? AND seq > ? ORDER BY seq',
    ).all(runId, after) as EntryRow[];
    return rows.map((r) => {
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

  /** One transaction for every journal: a run's buffered entries, then its anchor. */
  private rowWriter(): RowWriter {
    const insert = this.sql(
      'INSERT INTO journal (run_id, seq, ts, type, at, data, prev, hash) VALUES (?,?,?,?,?,?,?,?)',
    );
    const anchor = this.sql('UPDATE runs SET head = ?, count = ? WHERE id = ?');
    const write = this.db.transaction((runId: string, rows: Buffered[]) => {
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
    return (runId, rows) => write(runId, rows);
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
      head: row.head,
      count: row.count,
      dir: this.runDir(row.id),
    };
  }
}

/**
 * A run's journal, append-only. Entries are chained as they are appended and written in
 * batches: `flush` commits what is buffered, with the anchor, in one transaction. The machine
 * flushes before every effect on the world, so an intent is on disk before its effect
 * starts; an outcome is written with the next flush, and a process that stops before it
 * leaves an intent without an outcome, which a resumed run treats as unknown, never as
 * done. With durability `full`, every append is committed and synced at once.
 */
export class Journal {
  private buffer: Buffered[] = [];
  private closed = false;

  /** `write` commits a run's rows and moves its anchor, in one transaction. */
  constructor(
    private readonly write: RowWriter,
    readonly runId: string,
    private headHash: string,
    private length: number,
    private readonly eager = false,
  ) {}

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
    if (this.eager) this.flush();
    return entry;
  }

  /** Commits what is buffered; later appends are refused. */
  close(): void {
    try {
      this.flush();
    } finally {
      this.closed = true;
    }
  }

  /**
   * Commits the buffered entries and the anchor in one transaction. When that fails, the
   * buffered entries are dropped and the journal stands where it was last committed.
   */
  flush(): void {
    if (this.buffer.length === 0) return;
    const rows = this.buffer;
    this.buffer = [];
    try {
      this.write(this.runId, rows);
    } catch (e) {
      this.headHash = rows[0]!.entry.prev;
      this.length = rows[0]!.entry.seq - 1;
      throw new StoreError(
        'append_failed',
        `cannot append to the journal of ${this.runId}`,
        { run: this.runId, type: rows[0]!.entry.type },
        e,
      );
    }
  }
}

type RowWriter = (runId: string, rows: Buffered[]) => void;

interface Buffered {
  entry: JournalEntry;
  /** The data's canonical text, which the hash covers and the row keeps. */
  dataText: string;
}
