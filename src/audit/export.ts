import type { KeyObject } from 'node:crypto';
import { type ChainReport, type JournalEntry, verifyChain } from './chain.js';
import { checkManifest, type Manifest } from './manifest.js';
import { checkManifestSignature, type SignatureState } from './manifest-signature.js';

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

/** What `verifyExport` found: the chain's report, and what the manifest's signature says. */
export type ExportReport = ChainReport & { signature: SignatureState; signedBy?: string };

/**
 * Checks an exported run: the chain, the manifest's head and count against it, and the
 * manifest's signature against the given public keys (with none given, it is held to the
 * manifest's digest but who made it is not checked, and the report says so).
 */
export function verifyExport(data: unknown, keys: KeyObject[]): ExportReport {
  const x = data as Partial<RunExport> | null;
  if (x?.mvmExport !== 1 || !Array.isArray(x.entries)) {
    return {
      ok: false,
      count: 0,
      head: '',
      problems: [{ seq: 0, code: 'hash_mismatch', message: 'not an exported mvm run' }],
      signature: { state: 'none' },
    };
  }
  const m = x.manifest ?? null;
  const report: ExportReport = {
    ...verifyChain(x.entries, m ? { head: m.journal.head, count: m.journal.entries } : undefined),
    signature: { state: 'none' },
  };
  const { signature, problems } = checkManifestSignature(m, keys, x.entries.length);
  report.signature = signature;
  if (signature.state === 'verified') report.signedBy = signature.key;
  if (problems.length > 0) report.ok = false;
  report.problems.push(...problems);
  if (m) {
    const mismatches = checkManifest(m, x.entries);
    if (mismatches.length > 0) report.ok = false;
    report.problems.push(...mismatches);
  }
  return report;
}
