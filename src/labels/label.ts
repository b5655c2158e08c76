/**
 * Labels: who may read a value (confidentiality) and whether it can be trusted (integrity),
 * with the sources it came from. Joining two labels meets their readers and lowers their
 * integrity, so a value made from others is as secret and as untrusted as the worst of them.
 */
export type Readers = 'public' | readonly string[];

export type Integrity = 'trusted' | 'untrusted';

export interface Label {
  readonly readers: Readers;
  readonly integrity: Integrity;
  /** Where the value came from: `input:question`, `tool:fs/read_file#c1`, `model:main#3`. */
  readonly sources: readonly string[];
}

export const PUBLIC_TRUSTED: Label = Object.freeze({
  readers: 'public',
  integrity: 'trusted',
  sources: Object.freeze([]) as readonly string[],
});

function meetReaders(a: Readers, b: Readers): Readers {
  if (a === 'public') return b;
  if (b === 'public') return a;
  return a.filter((r) => b.includes(r));
}

/**
 * What is known of source lists this module made, which nobody changes: the list each one
 * was made from by adding sources at the end, and which ones hold no source twice. A run's
 * label grows a source per tool result and is joined, step after step, with earlier ones of
 * itself; these let such a join see that one list starts with the other in a few lookups.
 */
const grownFrom = new WeakMap<readonly string[], readonly string[]>();
const distinct = new WeakSet<readonly string[]>();

const isDistinct = (l: readonly string[]) => l.length <= 1 || distinct.has(l);

/** True when `long` is known to have been grown from `short`, by way of lists made here. */
function knownToStartWith(long: readonly string[], short: readonly string[]): boolean {
  let l: readonly string[] | undefined = long;
  while (l !== undefined && l.length > short.length) l = grownFrom.get(l);
  return l === short;
}

/** Records what a list made here is: `from` with sources added at its end. */
function grown(out: string[], from: readonly string[]): readonly string[] {
  grownFrom.set(out, from);
  if (isDistinct(from)) distinct.add(out);
  // Frozen, a list's journal text can be kept while entries record it in turn.
  return Object.freeze(out);
}

/** `a`, then each source of `b` not already there, in order. */
function unionSources(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0 || a === b) return a;
  if (a.length === 0) return b;
  // Most joins are of a list with one that starts with it: settled from what is known of the
  // two, else by comparing the shorter one's entries in place, without a copy or a set.
  if (a.length >= b.length && knownToStartWith(a, b)) return a;
  const k = b.length > a.length && knownToStartWith(b, a) ? a.length : commonPrefix(a, b);
  if (k === b.length) return a;
  if (k === a.length && isDistinct(b)) return b;
  if (k === a.length && b.length - k <= 8) {
    let added = 0;
    for (let i = k; i < b.length; i++) {
      const s = b[i]!;
      if (a.includes(s) || b.indexOf(s, k) !== i) break;
      added++;
    }
    if (k + added === b.length) return b;
  }
  const out = [...a];
  if (a.length * b.length <= 256) {
    for (const s of b) if (!out.includes(s)) out.push(s);
  } else {
    // A conversation's label gathers a source per tool result, and each step joins it with
    // a label that holds most of the same sources: a scan of both would be quadratic.
    const seen = new Set(a);
    for (const s of b) {
      if (seen.has(s)) continue;
      seen.add(s);
      out.push(s);
    }
  }
  // Most often one list holds the other: share it rather than keep an equal copy.
  if (out.length === a.length) return a;
  if (out.length === b.length && b.every((s, i) => s === out[i])) return b;
  return grown(out, a);
}

/** How many entries at the start of `a` and `b` are the same, up to the shorter's length. */
function commonPrefix(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The least label at least as restrictive as both. */
export function join(a: Label, b: Label): Label {
  if (a === b) return a;
  if (b === PUBLIC_TRUSTED) return a;
  if (a === PUBLIC_TRUSTED) return b;
  return {
    readers: meetReaders(a.readers, b.readers),
    integrity: a.integrity === 'untrusted' || b.integrity === 'untrusted' ? 'untrusted' : 'trusted',
    sources: unionSources(a.sources, b.sources),
  };
}

export function joinAll(labels: Iterable<Label>): Label {
  let out = PUBLIC_TRUSTED;
  for (const l of labels) out = join(out, l);
  return out;
}

/** A label that records one source and is otherwise public and trusted. */
export function sourced(source: string): Label {
  return { readers: 'public', integrity: 'trusted', sources: [source] };
}

/** True when data with label `l` may be read by every one of `recipients`. */
export function readableBy(l: Label, recipients: Readers): boolean {
  if (l.readers === 'public') return true;
  if (recipients === 'public') return false;
  return recipients.every((r) => l.readers.includes(r));
}
