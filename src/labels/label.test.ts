import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../audit/canonical.js';
import { join, type Label } from './label.js';

/**
 * The union as first written: a's sources, then each of b's not yet there; either list as it
 * is when the other is empty. Journals hold labels made so, and resumed runs must match them.
 */
function naive(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out = [...a];
  for (const s of b) if (!out.includes(s)) out.push(s);
  return out;
}

const label = (sources: string[]): Label => ({ readers: 'public', integrity: 'trusted', sources });
const sources = fc.array(fc.constantFrom(...Array.from({ length: 60 }, (_, i) => `tool:t#${i}`)), {
  maxLength: 80,
});

describe('joining the sources of two labels', () => {
  it('keeps the order and the duplicates of the first, small lists and large', () => {
    fc.assert(
      fc.property(sources, sources, (a, b) => {
        expect(join(label(a), label(b)).sources).toEqual(naive(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with the first union when one list starts with the other', () => {
    const prefixed = fc
      .tuple(sources, sources, fc.nat(80), fc.boolean())
      .map(([base, tail, cut, swap]) => {
        const a = base.slice(0, cut);
        const b = [...base, ...tail.slice(0, 10)];
        return swap ? [b, a] : [a, b];
      });
    fc.assert(
      fc.property(prefixed, ([a, b]) => {
        expect(join(label(a!), label(b!)).sources).toEqual(naive(a!, b!));
      }),
      { numRuns: 1000 },
    );
  });

  it('agrees with the first union along a run of joins of labels made from each other', () => {
    const name = fc.constantFrom(...Array.from({ length: 40 }, (_, i) => `tool:t#${i}`));
    const op = fc.oneof(
      fc.record({ add: name }),
      fc.record({ x: fc.nat(), y: fc.nat(), flip: fc.boolean() }),
    );
    fc.assert(
      fc.property(sources, fc.array(op, { maxLength: 60 }), (start, ops) => {
        const made: Label[] = [label(start)];
        for (const o of ops) {
          if ('add' in o) {
            const last = made[made.length - 1]!;
            const out = join(last, label([o.add]));
            expect(out.sources).toEqual(naive(last.sources, [o.add]));
            made.push(out);
          } else {
            const a = made[o.x % made.length]!;
            const b = made[o.y % made.length]!;
            const [l, r] = o.flip ? [b, a] : [a, b];
            const out = join(l, r);
            expect(out.sources).toEqual(naive(l.sources, r.sources));
            made.push(out);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('freezes a long list it makes, so that its journal text can be kept', () => {
    const a = label(Array.from({ length: 40 }, (_, i) => `tool:t#${i}`));
    const made = join(a, label(['tool:t#40'])).sources;

    expect(made).toHaveLength(41);
    expect(Object.isFrozen(made)).toBe(true);
    expect(canonicalJson({ sources: made })).toBe(JSON.stringify({ sources: made }));
  });

  it('gives back the longer list itself when it extends the shorter', () => {
    const a = Array.from({ length: 300 }, (_, i) => `tool:t#${i}`);
    const b = [...a, 'tool:t#300'];

    expect(join(label(a), label(b)).sources).toBe(b);
    expect(join(label(b), label(a)).sources).toBe(b);
    expect(join(label(a), label([...a])).sources).toBe(a);
  });
});
