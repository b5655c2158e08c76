import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunStore } from './store.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvm-checkpoint-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const MB = 2 ** 20;
const walSize = () => statSync(join(dir, 'mvm.db-wal'), { throwIfNoEntry: false })?.size ?? 0;

/** 3000 commits of a 300-character entry: about 40 MB of log if nothing is checkpointed. */
async function commit(store: RunStore, yieldEvery: number | null) {
  const run = store.createRun({ imageName: 'x', imageDigest: 'sha256:x', configPath: null });
  const journal = store.journal(run.id);
  let largest = 0;
  for (let i = 0; i < 3000; i++) {
    journal.append('tool.result', { content: 'x'.repeat(300), i });
    // Half the commits inside a transaction of the store's, as a run's start and end are.
    if (i % 2 === 0) journal.flush();
    else store.transaction(() => journal.flush());
    if (yieldEvery !== null && i % yieldEvery === 0) await new Promise((r) => setTimeout(r, 1));
    largest = Math.max(largest, walSize());
  }
  return { run, largest };
}

describe('checkpoints', () => {
  it('keep the log bounded while a process commits and waits in turn', async () => {
    const store = RunStore.open(dir);
    const { run, largest } = await commit(store, 20);

    expect(largest).toBeLessThan(16 * MB);
    expect(store.entries(run.id)).toHaveLength(3000);
    store.close();
  });

  it('keep it bounded when the committing thread never lets the worker answer', async () => {
    const store = RunStore.open(dir);
    const { largest } = await commit(store, null);

    expect(largest).toBeLessThan(24 * MB);
    store.close();
  });

  it('leave every commit in place across a reopen, the log folded in on close', async () => {
    const store = RunStore.open(dir, { durability: 'full' });
    const { run } = await commit(store, 100);
    const head = store.getRun(run.id)!.head;
    store.close();
    await new Promise((r) => setTimeout(r, 200));

    const again = RunStore.open(dir);
    expect(again.getRun(run.id)).toMatchObject({ head, count: 3000 });
    again.close();
  });
});
