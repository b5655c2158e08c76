/** Edits between two short strings, case aside: insert, delete, substitute, swap two. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d = Array.from({ length: x.length + 1 }, (_, i) =>
    Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[x.length]![y.length]!;
}

/**
 * The known name a misspelt one most likely means: the closest within one edit for a short
 * name, two for a longer one, case aside.
 *
 * ```ts
 * closest('lable', ['label', 'readers']) // 'label'
 * ```
 */
export function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: { k: string; d: number } | undefined;
  for (const k of candidates) {
    const d = distance(key, k);
    if (d <= (k.length <= 4 ? 1 : 2) && (!best || d < best.d)) best = { k, d };
  }
  return best?.k;
}

/** The end of a message that offers the name meant: ` (did you mean 'label'?)`, or nothing. */
export function didYouMean(near: string | undefined): string {
  return near ? ` (did you mean '${near}'?)` : '';
}
