import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.js';

/** Canonical JSON as its definition reads, without the shortcuts: the encoder's oracle. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const parts: string[] = [];
  for (const k of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) parts.push(`${JSON.stringify(k)}:${reference(v)}`);
  }
  return `{${parts.join(',')}}`;
}

const key = fc.oneof(
  fc.constantFrom('a', 'b', 'role', 'content', '0', '9', '10', '__proto__', 'é', '\ud800', '"'),
  fc.string({ maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
);

const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('\u0000', 'a"b', 'back\\slash', '\ud83d\ude00', 'x\udc00y', '\n\t'),
  fc.string({ minLength: 190, maxLength: 260 }),
);

/** JSON and the near-JSON values that reach the encoder: undefined fields, non-finite numbers. */
const value: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, true, false, undefined, Number.NaN, Number.POSITIVE_INFINITY, -0),
    fc.oneof(fc.integer(), fc.double()),
    text,
    fc.array(tie('v'), { maxLength: 5 }),
    fc.array(fc.tuple(key, tie('v')), { maxLength: 5 }).map((pairs) => {
      const o: Record<string, unknown> = {};
      // defineProperty, so that `__proto__` is an own key, as JSON.parse makes it.
      for (const [k, v] of pairs) {
        Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true });
      }
      return o;
    }),
  ),
})).v;

describe('canonicalJson against its definition', () => {
  it('writes the same bytes as the plain encoder, keys in any order and already sorted', () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(canonicalJson(v)).toBe(reference(v));
        // Parsed back from canonical text, every object has its keys in order already.
        const sorted = JSON.parse(reference(v) ?? 'null');
        expect(canonicalJson(sorted)).toBe(reference(sorted));
      }),
      { numRuns: 2000 },
    );
  });

  it('does not call toJSON, nor follow inherited keys', () => {
    const date = new Date(0);
    const child = Object.create({ inherited: 1 }) as Record<string, unknown>;
    child.own = 2;

    expect(canonicalJson({ a: date, b: child })).toBe('{"a":{},"b":{"own":2}}');
  });

  it('writes a nesting deeper than its fast path can check', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? [deep] : { z: deep, a: i };

    expect(canonicalJson(deep)).toBe(reference(deep));
  });
});
