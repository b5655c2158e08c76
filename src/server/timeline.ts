import type { JournalEntry } from '../audit/chain.js';
import type { Json, JsonObject } from '../spec/types.js';

/**
 * A run's journal as a list of effects: each model call, tool call, tool load, memory access
 * and exchange with a person becomes one effect that holds every entry belonging to it
 * (the monitor's decisions, the resources named, the intent and the outcome). Each entry of
 * the journal lands in exactly one effect, in journal order.
 */

export type Family = 'run' | 'model' | 'tool' | 'toolset' | 'memory' | 'user' | 'policy' | 'other';

export interface Effect {
  family: Family;
  /** The entry that names the effect: its intent, or its only entry. */
  head: JournalEntry;
  /** The outcome of an effect that has one (a reply, a result, an error, an answer). */
  outcome?: JournalEntry;
  /** Every entry of the effect in journal order: decisions and preparation first. */
  entries: JournalEntry[];
  /** Where in the image the effect comes from, when an instruction made it. */
  at: string | null;
  /** Milliseconds from the run's first entry to the entry before this effect, and to its last. */
  startMs: number;
  endMs: number;
  /** What the effect measured itself (a model or tool call's `ms`), when the journal says. */
  measuredMs: number | null;
}

/** Entries that prepare the effect after them at the same instruction. */
const PREPARES = new Set(['decision', 'model.load', 'tool.resources', 'confirm.request']);

/** Entries that open an effect whose outcome is journaled after them. */
const OPENS: Record<string, (d: JsonObject) => string> = {
  'model.intent': (d) => `model:${String(d.slot)}:${String(d.n)}`,
  'tool.intent': (d) => `tool:${String(d.callId)}`,
  'user.ask': (d) => `ask:${String(d.id)}`,
  // A list has no id; only one request is under way at a time, so its namespace will do.
  'resource.intent': (d) => `resource:${String(d.ns)}:${String(d.id ?? d.op)}`,
  'prompt.intent': (d) => `prompt:${String(d.ns)}:${String(d.id ?? d.op)}`,
};

/** Entries that close an effect opened before, by the same key. */
const CLOSES: Record<string, (d: JsonObject) => string> = {
  'model.reply': OPENS['model.intent']!,
  'model.error': OPENS['model.intent']!,
  'tool.result': OPENS['tool.intent']!,
  'tool.error': OPENS['tool.intent']!,
  'tool.unknown': OPENS['tool.intent']!,
  'user.answer': OPENS['user.ask']!,
  'resource.result': OPENS['resource.intent']!,
  'resource.error': OPENS['resource.intent']!,
  'prompt.result': OPENS['prompt.intent']!,
  'prompt.error': OPENS['prompt.intent']!,
};

export function familyOf(type: string): Family {
  if (type === 'tool.load' || type === 'tool.unload') return 'toolset';
  if (type.startsWith('confirm.') || type === 'decision') return 'policy';
  const prefix = type.split('.')[0]!;
  if (prefix === 'mem') return 'memory';
  if (prefix === 'run' || prefix === 'model' || prefix === 'tool' || prefix === 'user') {
    return prefix;
  }
  return 'other';
}

export const dataOf = (e: JournalEntry): JsonObject =>
  e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data)
    ? (e.data as JsonObject)
    : {};

/** The effects of a run, in the order their first entries were journaled. */
export function effectsOf(entries: readonly JournalEntry[]): Effect[] {
  const effects: Effect[] = [];
  const open = new Map<string, Effect>();
  let prep: JournalEntry[] = [];
  const clock = clockOf(entries);

  const add = (family: Family, members: JournalEntry[], head: JournalEntry) => {
    const effect: Effect = {
      family,
      head,
      entries: members,
      at: head.at ?? null,
      startMs: 0,
      endMs: 0,
      measuredMs: null,
    };
    effects.push(effect);
    return effect;
  };
  // Preparation that no effect at its instruction took up (a decision that stopped the run,
  // a confirmation the run waits on) stands as an effect of its own.
  const flushPrep = () => {
    if (prep.length === 0) return;
    add('policy', prep, prep.find((e) => e.type === 'confirm.request') ?? prep[0]!);
    prep = [];
  };

  for (const e of entries) {
    const d = dataOf(e);
    const closes = CLOSES[e.type];
    const target = closes ? open.get(closes(d)) : undefined;
    if (target) {
      target.entries.push(e);
      target.outcome = e;
      open.delete(closes!(d));
      continue;
    }
    if (PREPARES.has(e.type) || (e.type === 'confirm.answer' && e.at !== undefined)) {
      if (prep.length > 0 && prep[0]!.at !== e.at) flushPrep();
      prep.push(e);
      continue;
    }
    const taken = prep.length > 0 && prep[0]!.at === e.at && e.at !== undefined;
    if (!taken) flushPrep();
    const effect = add(familyOf(e.type), taken ? [...prep, e] : [e], e);
    if (taken) prep = [];
    const opens = OPENS[e.type];
    if (opens) open.set(opens(d), effect);
  }
  flushPrep();

  for (const effect of effects) {
    const first = effect.entries[0]!;
    const last = effect.entries[effect.entries.length - 1]!;
    effect.startMs = clock.before(first.seq);
    effect.endMs = Math.max(effect.startMs, clock.at(last.seq));
    const ms = effect.outcome ? dataOf(effect.outcome).ms : undefined;
    if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) effect.measuredMs = ms;
  }
  return effects;
}

/**
 * Offsets of entries from the first one, in milliseconds. A timestamp that does not parse,
 * or goes back in time, counts as the one before it: the journal is data, not a clock.
 */
function clockOf(entries: readonly JournalEntry[]) {
  const offsets = new Map<number, number>();
  const order: number[] = [];
  let t0: number | null = null;
  let last = 0;
  for (const e of entries) {
    const t = Date.parse(e.ts);
    if (Number.isFinite(t)) {
      t0 ??= t;
      last = Math.max(last, t - t0);
    }
    offsets.set(e.seq, last);
    order.push(e.seq);
  }
  const index = new Map(order.map((seq, i) => [seq, i] as const));
  return {
    at: (seq: number) => offsets.get(seq) ?? 0,
    /** The offset of the entry before this one: where the time this entry took began. */
    before: (seq: number) => {
      const i = index.get(seq) ?? 0;
      return i === 0 ? 0 : (offsets.get(order[i - 1]!) ?? 0);
    },
  };
}

/** The monitor's decisions among an effect's entries. */
export interface DecisionView {
  seq: number;
  resource: string;
  verdict: string;
  rule: string | null;
  reason: string;
  context: Json;
}

export function decisionsOf(effect: Effect): DecisionView[] {
  return effect.entries
    .filter((e) => e.type === 'decision')
    .map((e) => {
      const d = dataOf(e);
      return {
        seq: e.seq,
        resource: String(d.resource ?? ''),
        verdict: String(d.verdict ?? ''),
        rule: typeof d.rule === 'string' ? d.rule : null,
        reason: typeof d.reason === 'string' ? d.reason : '',
        context: d.context ?? null,
      };
    });
}
