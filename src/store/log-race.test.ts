import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { verifyChain } from '../audit/chain.js';
import type * as Log from './log.js';
import { type Journal, RunStore } from './store.js';

/** What runs when a reader opens the commit log: before it reads the file, or after. */
const hook: { when?: 'before' | 'after'; run?: () => void } = {};

vi.mock('./log.js', async (original) => {
  const log = await original<typeof Log>();
  return {
    ...log,
    readLog: (path: string, after: number) => {
      const run = hook.run;
      hook.run = undefined;
      if (hook.when === 'before') run?.();
      const tail = log.readLog(path, after);
      if (hook.when === 'after') run?.();
      return tail;
    },
  };
});

let dir: string;
let writer: RunStore;
let reader: RunStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mvm-log-race-'));
  writer = RunStore.open(dir);
  reader = RunStore.open(dir);
});

afterEach(() => {
  writer.close();
  reader.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Appends and commits `n` entries, as a run between effects does. */
function steps(j: Journal, n: number): void {
  for (let i = 0; i < n; i++) {
    j.append('step', { i });
    j.flush();
  }
}

describe('a reader while another process folds the commit log', () => {
  for (const when of ['before', 'after'] as const) {
    it(`reads every entry when the fold lands just ${when} it reads the log`, () => {
      const run = writer.createRun({
        imageName: 'notes',
        imageDigest: 'sha256:abc',
        configPath: null,
      });
      const j = writer.journal(run.id);
      steps(j, 510);
      hook.when = when;
      // The log reaches 512 entries, is folded in and emptied, and takes one commit more.
      hook.run = () => steps(j, 3);
      const entries = reader.entries(run.id);
      expect(entries.map((e) => e.seq)).toEqual(
        Array.from({ length: entries.length }, (_, i) => i + 1),
      );
      expect(entries.length).toBeGreaterThanOrEqual(510);
      expect(verifyChain(reader.entries(run.id), reader.getRun(run.id)!)).toMatchObject({
        ok: true,
        count: 513,
      });
    });
  }
});
