import type { KeyObject } from 'node:crypto';
import type { Json } from '../spec/types.js';
import { digest } from './canonical.js';
import { type ChainReport, type JournalEntry, verifyChain } from './chain.js';
import { checkManifest, type Manifest } from './manifest.js';
import { SignatureError, verifySignature } from './signing.js';

/** A run in one file: its journal and its manifest, checkable elsewhere with a public key. */
export interface RunExport {
  mvmExport: 1;
  run: string;
  entries: JournalEntry[];
  manifest: Manifest | null;
}

export function exportRun(
  run: string,
  entries: JournalEntry[],
  manifest: Manifest | null,
): RunExport {
  return { mvmExport: 1, run, entries, manifest };
}

/**
 * Checks an exported run: the chain, the manifest's head and count against it, and the
 * manifest's signature against the given public keys (required when the manifest is signed).
 */
export function verifyExport(
  data: unknown,
  keys: KeyObject[],
): ChainReport & { signedBy?: string } {
  const x = data as Partial<RunExport> | null;
  if (x?.mvmExport !== 1 || !Array.isArray(x.entries)) {
    return {
      ok: false,
      count: 0,
      head: '',
      problems: [{ seq: 0, code: 'hash_mismatch', message: 'not an exported mvm run' }],
    };
  }
  const m = x.manifest ?? null;
  const report: ChainReport & { signedBy?: string } = verifyChain(
    x.entries,
    m ? { head: m.journal.head, count: m.journal.entries } : undefined,
  );
  if (!m?.signature && keys.length > 0) {
    // Anyone can build a chain that verifies; only a signature says who vouches for it.
    report.ok = false;
    report.problems.push({
      seq: x.entries.length,
      code: 'manifest_signature',
      message: 'manifest: not signed, and a public key was given to check its signature',
    });
  }
  if (m?.signature) {
    const { signature, ...unsigned } = m;
    try {
      report.signedBy = verifySignature(signature, digest(unsigned as unknown as Json), keys);
    } catch (e) {
      if (!(e instanceof SignatureError)) throw e;
      report.ok = false;
      report.problems.push({
        seq: x.entries.length,
        code: 'manifest_signature',
        message: `manifest: ${e.message}`,
      });
    }
  }
  if (m) {
    const mismatches = checkManifest(m, x.entries);
    if (mismatches.length > 0) report.ok = false;
    report.problems.push(...mismatches);
  }
  return report;
}
