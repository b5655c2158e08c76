import type { JsonObject, JsonSchema } from '../spec/types.js';

/**
 * Endorsement: when an answer extracted from untrusted data may be trusted. An answer
 * forced into a narrow schema carries only a few bits the attacker could choose, and none
 * of them can be an instruction. What counts as narrow is the host's choice among these
 * kinds:
 *
 * - `boolean`: `{ type: boolean }`
 * - `enum`: `{ enum: [...] }` of strings, numbers or booleans, or a `const`
 * - `number`: a number or integer with both `minimum` and `maximum`
 * - `date`: a string with format `date` or `date-time`
 */
export type EndorseKind = 'boolean' | 'enum' | 'number' | 'date';

export const ENDORSE_KINDS: readonly EndorseKind[] = ['boolean', 'enum', 'number', 'date'];

const scalar = (v: unknown) => ['string', 'number', 'boolean'].includes(typeof v);

/** The kind of narrow schema `schema` is, or null when it is wider than all of them. */
export function narrowKind(schema: JsonSchema): EndorseKind | null {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return null;
  const s = schema as JsonObject;
  if (Array.isArray(s.enum)) return s.enum.length > 0 && s.enum.every(scalar) ? 'enum' : null;
  if ('const' in s) return scalar(s.const) ? 'enum' : null;
  if (s.type === 'boolean') return 'boolean';
  if (s.type === 'number' || s.type === 'integer') {
    const bounded = typeof s.minimum === 'number' && typeof s.maximum === 'number';
    return bounded ? 'number' : null;
  }
  if (s.type === 'string' && (s.format === 'date' || s.format === 'date-time')) return 'date';
  return null;
}

/** True when `schema` is of a kind in `kinds` (all kinds when not given). */
export function endorsable(
  schema: JsonSchema,
  kinds: readonly EndorseKind[] = ENDORSE_KINDS,
): boolean {
  const kind = narrowKind(schema);
  return kind !== null && kinds.includes(kind);
}
