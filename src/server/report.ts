import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { digest } from '../audit/canonical.js';
import { verifyChain } from '../audit/chain.js';
import { buildManifest } from '../audit/manifest.js';
import { ConfigError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import type { RunStore } from '../store/store.js';
import { type PageData, page, type SignatureState } from './page.js';
import { effectsOf } from './timeline.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/**
 * Everything a report shows of a run, read from the store: its journal as effects, the
 * manifest the journal gives and the one stored, and whether the chain and the signature's
 * digest hold.
 */
export function reportData(store: RunStore, idOrPrefix: string): PageData {
  const run = store.findRun(idOrPrefix);
  const entries = store.entries(run.id);
  const manifest = buildManifest(run.id, entries);
  const stored = store.getManifest(run.id) ?? null;
  const { signature, ...unsigned } = asObject(stored);
  let sig: SignatureState = { state: 'unsigned' };
  if (signature !== undefined) {
    const s = asObject(signature);
    sig = {
      state: 'signed',
      key: typeof s.key === 'string' ? s.key : '?',
      digestMatches: s.digest === digest(unsigned),
    };
  }
  return {
    run,
    effects: effectsOf(entries),
    entryCount: entries.length,
    manifest,
    stored,
    manifestMatches: stored !== null && digest(unsigned) === digest(manifest),
    chain: verifyChain(entries, { head: run.head, count: run.count }),
    signature: sig,
    generatedAt: new Date().toISOString(),
    version: VERSION,
  };
}

const asObject = (v: Json | null): JsonObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};

/**
 * A stored run as one self-contained HTML page: no external resources, every piece of
 * journal content escaped, and a policy that runs no script but the page's own.
 *
 * ```ts
 * const html = renderReport(RunStore.open('.mvm'), '20261204');
 * ```
 */
export function renderReport(store: RunStore, idOrPrefix: string): string {
  return page(reportData(store, idOrPrefix));
}

/** Writes the report to `out`, or to `report.html` in the run's folder; gives the path. */
export function writeReport(store: RunStore, idOrPrefix: string, out?: string): string {
  const run = store.findRun(idOrPrefix);
  const path = resolve(out ?? join(run.dir, 'report.html'));
  const text = renderReport(store, run.id);
  try {
    writeFileSync(path, text);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigError('bad_out', `cannot write the report to ${path} (${why})`, { path }, e);
  }
  return path;
}
