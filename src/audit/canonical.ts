import * as crypto from 'node:crypto';
import { createHash } from 'node:crypto';

/**
 * Canonical JSON: object keys sorted by code unit, no white space, numbers and strings as
 * JSON.stringify writes them (lone surrogates escaped). Two equal values encode to the same
 * bytes, which is what the journal's hash chain needs. `undefined` fields are left out.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return primitive(value);
  // Much of what is journaled already has its keys in order (it was parsed from canonical
  // text, or built that way); JSON.stringify then writes the same bytes, several times faster.
  if (inOrder(value, 0)) return JSON.stringify(value);
  return encode(value);
}

function primitive(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' && !Number.isFinite(value)) return 'null';
  if (value === undefined) return 'null';
  return JSON.stringify(value);
}

/** A string as JSON.stringify writes it; a short one with nothing to escape is quoted as is. */
function quote(s: string): string {
  if (s.length > 200) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      return JSON.stringify(s);
    }
  }
  return `"${s}"`;
}

/** Keys recur (`role`, `content`, `callId`), so each is quoted once. */
const quotedKeys = new Map<string, string>();

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = quote(k);
    if (quotedKeys.size < 4096) quotedKeys.set(k, q);
  }
  return q;
}

/**
 * True when JSON.stringify writes `v` canonically: every object's own keys already in code
 * unit order, and nothing with a `toJSON`, which JSON.stringify would call.
 */
function inOrder(v: object, depth: number): boolean {
  // Past this depth the encoder below takes over, rather than recurse twice as deep.
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (const x of v) {
      if (x !== null && typeof x === 'object' && !inOrder(x, depth + 1)) return false;
    }
    return true;
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  let last: string | undefined;
  for (const k in v) {
    // Integer-like keys enumerate first, in numeric order, which is not code unit order.
    if (!Object.hasOwn(v, k) || (last !== undefined && !(last < k))) return false;
    last = k;
    const x = (v as Record<string, unknown>)[k];
    if (x !== null && typeof x === 'object' && !inOrder(x, depth + 1)) return false;
  }
  return true;
}

function encode(value: unknown): string {
  if (value === null || typeof value !== 'object') return primitive(value);
  if (Array.isArray(value)) {
    // A list of strings (a label's sources, tool names) is written as JSON.stringify writes it.
    if (value === lastList) return lastText;
    if (allStrings(value)) return strings(value);
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += encode(value[i]);
    }
    return `${out}]`;
  }
  const keys = sortedKeys(value);
  let out = '{';
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${quoteKey(k)}:${encode(v)}`;
  }
  return `${out}}`;
}

/**
 * The text of lists of strings that are frozen, so cannot change: a run's label holds a
 * source per tool result, and several entries of each step record the same list, one after
 * another. The last one written is kept, and long ones are kept as long as the list lives.
 */
const frozenTexts = new WeakMap<readonly string[], string>();
let lastList: readonly string[] | undefined;
let lastText = '';

function strings(list: string[]): string {
  if (!Object.isFrozen(list)) return JSON.stringify(list);
  const long = list.length >= 32;
  let text = long ? frozenTexts.get(list) : undefined;
  if (text === undefined) {
    text = JSON.stringify(list);
    if (long) frozenTexts.set(list, text);
  }
  lastList = list;
  lastText = text;
  return text;
}

/**
 * An object's keys in code unit order. Objects here have a handful of keys, often nearly in
 * order, and an insertion sort in place makes no garbage, where Array.prototype.sort copies.
 */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

function allStrings(list: unknown[]): list is string[] {
  for (let i = 0; i < list.length; i++) if (typeof list[i] !== 'string') return false;
  return true;
}

/** Node's one-shot hash (20.12 and later), which skips making a Hash object per call. */
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;

export function sha256(text: string): string {
  return oneShot ? oneShot('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

/** The digest of a JSON value: sha256 over its canonical encoding, prefixed with the algorithm. */
export function digest(value: unknown): string {
  return `sha256:${sha256(canonicalJson(value))}`;
}
