import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted by code unit, no white space, numbers and strings as
 * JSON.stringify writes them (lone surrogates escaped). Two equal values encode to the same
 * bytes, which is what the journal's hash chain needs. `undefined` fields are left out.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The digest of a JSON value: sha256 over its canonical encoding, prefixed with the algorithm. */
export function digest(value: unknown): string {
  return `sha256:${sha256(canonicalJson(value))}`;
}
