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

function unionSources(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = [...a];
  for (const s of b) if (!out.includes(s)) out.push(s);
  return out;
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
