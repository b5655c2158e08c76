import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { parseConfig } from '../../src/host/config.js';
import { Mvm, type RunResult } from '../../src/host/host.js';
import { imageFromObject } from '../../src/host/image-file.js';
import type { JsonObject } from '../../src/spec/types.js';

/**
 * What every fault case checks besides its own outcome: no promise rejected unhandled while
 * the file ran, and the run's journal verifies.
 */
export function watchRejections(): { seen: unknown[] } {
  const state = { seen: [] as unknown[] };
  const listener = (reason: unknown) => state.seen.push(reason);
  beforeAll(() => {
    process.on('unhandledRejection', listener);
  });
  afterAll(() => {
    process.off('unhandledRejection', listener);
  });
  return state;
}

/** True once the pid has ended (a zombie has ended too; only its parent's wait is left). */
export function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Runs an image under a configuration; returns the result and how long the run took. */
export async function runOnce(
  store: string,
  config: JsonObject,
  image: JsonObject,
): Promise<{ result: RunResult; ms: number; mvm: Mvm }> {
  const mvm = new Mvm({ config: parseConfig(config, { path: null, dir: store }), storeDir: store });
  const started = Date.now();
  const result = await mvm.run(imageFromObject(image));
  const ms = Date.now() - started;
  const audit = mvm.auditRun(result.runId).report;
  expect(audit.problems).toEqual([]);
  expect(audit.ok).toBe(true);
  return { result, ms, mvm };
}
