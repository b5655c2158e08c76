import type { JournalEntry } from '../audit/chain.js';
import { buildManifest } from '../audit/manifest.js';
import { pendingOf } from '../host/answers.js';
import type { Pending } from '../interpreter/people.js';
import type { Json, JsonObject } from '../spec/types.js';
import type { RunRecord, RunStatus, RunStore } from '../store/store.js';

/** What `mvm serve` shows of runs, as its JSON API gives it and its page renders it. */

/** A pending request with the resources its call's arguments name, as the journal has them. */
export type PendingView = Pending & { resources: string[] };

export interface RunSummary {
  id: string;
  image: string;
  status: RunStatus;
  createdAt: string;
  endedAt: string | null;
  entries: number;
  /** Set for a waiting run: what it waits on. */
  pending: PendingView[];
  output: Json | null;
  error: Json | null;
}

export interface RunView extends RunSummary {
  head: string;
  manifest: ManifestSummary;
}

export interface ManifestSummary {
  status: string;
  durationMs: number | null;
  models: Array<{ slot: string; model: string; calls: number; tokens: number; cost: number }>;
  tools: Array<{ name: string; calls: number; errors: number; denied: number }>;
  decisions: { allow: number; deny: number; confirm: number };
  budgetsUsed: Json;
  journal: { entries: number; head: string };
}

/**
 * The files and URLs a call of a run would touch, as the host works them out from the
 * arguments: what a person asked on the terminal is shown.
 */
export type Touches = (runId: string, tool: string, args: JsonObject) => string[];

/**
 * What a run waits on, each confirmation with the resources its call names: those the
 * journal records for it, else (a call held back before its resources were worked out, as
 * the flow rules hold one) those `touches` gives.
 */
export function pendingViews(
  entries: readonly JournalEntry[],
  touches?: Touches,
  run?: string,
): PendingView[] {
  const named = new Map<string, string[]>();
  for (const e of entries) {
    const d = e.data as JsonObject;
    if (e.type === 'tool.resources' && typeof d.callId === 'string' && Array.isArray(d.resources)) {
      named.set(
        d.callId,
        d.resources.filter((r): r is string => typeof r === 'string'),
      );
    }
  }
  const runId = run ?? '';
  const resourcesOf = (p: Pending): string[] => {
    if (p.kind !== 'confirm') return [];
    const recorded = named.get(p.callId);
    if (recorded) return recorded;
    const call = p.request === 'tool' || p.request === 'unknown_outcome';
    return call && touches ? touches(runId, p.tool, p.args) : [];
  };
  return pendingOf(entries).map((p) => ({ ...p, resources: resourcesOf(p) }));
}

function summaryOf(
  run: RunRecord,
  entries: readonly JournalEntry[] | null,
  touches?: Touches,
): RunSummary {
  return {
    id: run.id,
    image: run.imageName,
    status: run.status,
    createdAt: run.createdAt,
    endedAt: run.endedAt,
    entries: run.count,
    pending: entries ? pendingViews(entries, touches, run.id) : [],
    output: run.output,
    error: run.error,
  };
}

/** The newest runs first; only a waiting run's journal is read, for what it waits on. */
export function listView(store: RunStore, limit = 50, touches?: Touches): RunSummary[] {
  return store
    .listRuns(limit)
    .map((r) => summaryOf(r, r.status === 'waiting' ? store.entries(r.id) : null, touches));
}

/** One run in full: its summary, and its manifest as the journal gives it now. */
export function runView(store: RunStore, idOrPrefix: string, touches?: Touches): RunView {
  const run = store.findRun(idOrPrefix);
  const entries = store.entries(run.id);
  const m = buildManifest(run.id, entries);
  return {
    ...summaryOf(run, run.status === 'waiting' ? entries : null, touches),
    head: run.head,
    manifest: {
      status: m.status,
      durationMs: m.durationMs,
      models: m.models.map((x) => ({
        slot: x.slot,
        model: x.model,
        calls: x.calls,
        tokens: x.inputTokens + x.outputTokens,
        cost: x.cost,
      })),
      tools: m.tools.map((t) => ({
        name: t.name,
        calls: t.calls,
        errors: t.errors,
        denied: t.denied,
      })),
      decisions: { allow: m.decisions.allow, deny: m.decisions.deny, confirm: m.decisions.confirm },
      budgetsUsed: m.budgets.used,
      journal: m.journal,
    },
  };
}
