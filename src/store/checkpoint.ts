import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** The worker's whole program: its own connection to the file, a checkpoint when asked. */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.binding);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = ' + workerData.synchronous);
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {}
  parentPort.postMessage('done');
});
`;

/** SQLite's own threshold is a thousand pages; a journal commit writes three or four. */
const COMMITS_PER_CHECKPOINT = 300;

/**
 * Moves the store's WAL checkpoints off the thread that commits. A checkpoint copies the
 * write-ahead log back into the database file and syncs both; SQLite makes one, in the
 * committing thread, every thousand pages or so, and that commit waits for the syncs. On a
 * busy virtual disk this made the average commit two to three times slower. Here the
 * committing connection never checkpoints by itself: every few hundred commits a worker
 * thread, with a connection of its own, checkpoints what it can without blocking anyone.
 *
 * Durability does not change: a transaction is durable once its commit is in the log
 * (synced too, with durability `full`), checkpointed or not. The worker starts only when a
 * process has committed that much, so a short command never pays for it; if it cannot start
 * or stops answering, the connection checkpoints by itself again, as SQLite does by default.
 */
export class Checkpointer {
  private worker: Worker | undefined;
  private commits = 0;
  private waiting = false;
  private failed = false;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly synchronous: 'NORMAL' | 'FULL',
  ) {
    db.pragma('wal_autocheckpoint = 0');
    // When the log starts again from the front, it is cut back to this, not left as large as
    // it grew while a checkpoint was catching up.
    db.pragma(`journal_size_limit = ${8 * 2 ** 20}`);
  }

  /** Counts a commit; asks for a checkpoint when enough have gone by since the last. */
  committed(): void {
    if (this.failed) return;
    this.commits++;
    if (this.waiting) {
      // No answer yet (the worker is slow, or this thread has not let its answer in): the log
      // must not grow unbounded, so this connection checkpoints, as it would by default.
      // Not inside a transaction, where SQLite refuses a checkpoint: at a later commit.
      if (this.commits >= 4 * COMMITS_PER_CHECKPOINT && !this.db.inTransaction) {
        this.commits = 0;
        this.db.pragma('wal_checkpoint(PASSIVE)');
      }
      return;
    }
    if (this.commits < COMMITS_PER_CHECKPOINT) return;
    try {
      this.worker ??= this.start();
    } catch {
      this.fallBack();
      return;
    }
    this.commits = 0;
    this.waiting = true;
    this.worker.postMessage('checkpoint');
  }

  /** Lets the worker close its connection and end; nothing waits for it. */
  close(): void {
    this.worker?.postMessage('close');
    this.worker = undefined;
  }

  private start(): Worker {
    const binding = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER, {
      eval: true,
      workerData: { binding, file: this.file, synchronous: this.synchronous },
    });
    worker.unref();
    worker.on('message', () => {
      this.waiting = false;
      // The worker copied what the log held when it began; what came in since is little, and
      // once the log is copied to its end, the next commit starts it again from the front.
      if (this.db.open && !this.db.inTransaction) this.db.pragma('wal_checkpoint(PASSIVE)');
    });
    worker.on('error', () => this.fallBack());
    worker.on('exit', (code) => {
      if (code !== 0) this.fallBack();
    });
    return worker;
  }

  private fallBack(): void {
    if (this.failed) return;
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
  }
}
