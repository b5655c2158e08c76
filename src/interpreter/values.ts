import { canonicalJson } from '../audit/canonical.js';
import type { Message } from '../models/driver.js';
import { TrapError } from '../spec/errors.js';
import { schemaErrors, validatorFor } from '../spec/json-schema.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import { textOf } from './frame.js';

export { schemaErrors, validatorFor };

/**
 * The shapes of the values the machine makes: model replies, decoded tool calls, tool
 * results and history messages. All are plain JSON so that they journal and compare as data.
 */

/** The largest value a register may hold, in characters of its JSON text. */
export const MAX_VALUE_CHARS = 32 * 1024 * 1024;

/** How deep a value a register holds may nest. */
export const MAX_VALUE_DEPTH = 512;

interface Size {
  chars: number;
  depth: number;
}

/**
 * Values are never changed once made, so the size of each object is measured once. Only
 * objects of some size are kept: a small one costs less to walk again than to remember, and
 * what makes a register write dear is a long history walked on every turn.
 */
const sizes = new WeakMap<object, Size>();
const KEPT_FROM_CHARS = 256;

/** The depth of the value `measure` last measured; it returns the characters. */
let measuredDepth = 0;

function measure(v: Json | undefined, depth: number): number {
  if (v === null || typeof v !== 'object') {
    measuredDepth = 0;
    return typeof v === 'string' ? v.length + 2 : 24;
  }
  const known = sizes.get(v);
  if (known) {
    measuredDepth = known.depth;
    return known.chars;
  }
  // Deeper than the limit is reported as such without walking further, so deep input
  // cannot exhaust the stack here.
  if (depth > MAX_VALUE_DEPTH) {
    measuredDepth = Number.POSITIVE_INFINITY;
    return 0;
  }
  let chars = 2;
  let inner = 0;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      chars += measure(v[i], depth + 1) + 1;
      if (measuredDepth > inner) inner = measuredDepth;
    }
  } else {
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      chars += measure(v[k], depth + 1) + k.length + 4;
      if (measuredDepth > inner) inner = measuredDepth;
    }
  }
  measuredDepth = inner + 1;
  if (chars >= KEPT_FROM_CHARS && Number.isFinite(measuredDepth)) {
    sizes.set(v, { chars, depth: measuredDepth });
  }
  return chars;
}

/**
 * Traps on a value too large or too deep to hold: a loop that doubles a list, or nests an
 * object in itself, would otherwise end in an exhausted heap or stack.
 */
export function checkSize(data: Json, at?: string): void {
  const chars = measure(data, 0);
  const depth = measuredDepth;
  if (chars > MAX_VALUE_CHARS) {
    throw new TrapError(
      'too_large',
      `a value of about ${chars} characters of JSON is larger than ${MAX_VALUE_CHARS}`,
      at,
    );
  }
  if (depth > MAX_VALUE_DEPTH) {
    throw new TrapError('too_deep', `a value nests deeper than ${MAX_VALUE_DEPTH} levels`, at);
  }
}

export type ParsedJson = { ok: true; value: Json } | { ok: false; error: string };

export function parseJsonText(text: string, schema?: JsonSchema): ParsedJson {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch (e) {
    return { ok: false, error: `not JSON: ${(e as Error).message}` };
  }
  if (schema !== undefined) {
    const v = validatorFor(schema);
    if (!v(parsed)) return { ok: false, error: `does not meet the schema: ${schemaErrors(v)}` };
  }
  return { ok: true, value: parsed };
}

/** A tool call as parse.tool_calls leaves it: the raw text kept, the arguments decoded. */
export interface DecodedCall {
  id: string;
  name: string;
  arguments: string;
  args: JsonObject | null;
  /** Why the arguments could not be used; the call then never reaches the tool. */
  error: string | null;
  /** The tools the model was offered when it made the call; it may reach no other. */
  offered?: string[];
}

/** How deep arguments from a model may nest; deeper is refused, not journaled. */
const MAX_DEPTH = 64;

function depth(v: unknown, d: number): number {
  if (d > MAX_DEPTH || v === null || typeof v !== 'object') return d;
  let max = d;
  for (const x of Object.values(v)) max = Math.max(max, depth(x, d + 1));
  return max;
}

export function decodeArguments(raw: string): { args: JsonObject | null; error: string | null } {
  if (raw.trim() === '') return { args: {}, error: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    return { args: null, error: `arguments are not valid JSON: ${(e as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { args: null, error: 'arguments must be a JSON object' };
  }
  if (depth(parsed, 0) > MAX_DEPTH) {
    return { args: null, error: `arguments nest deeper than ${MAX_DEPTH} levels` };
  }
  return { args: parsed as JsonObject, error: null };
}

export function decodeToolCalls(reply: Json): Json {
  if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) return [];
  const calls = reply.toolCalls;
  if (!Array.isArray(calls)) return [];
  return calls.map((c, i) => {
    const o = (c ?? {}) as JsonObject;
    const raw = typeof o.arguments === 'string' ? o.arguments : canonicalJson(o.arguments ?? '');
    const { args, error } = decodeArguments(raw);
    const call: DecodedCall = {
      id: typeof o.id === 'string' && o.id !== '' ? o.id : `call_${i}`,
      name: typeof o.name === 'string' ? o.name : '',
      arguments: raw,
      args,
      error,
    };
    if (Array.isArray(reply.offered)) call.offered = reply.offered as string[];
    return call as unknown as Json;
  });
}

/** A tool result as tool.call leaves it. */
export interface ToolResultValue {
  callId: string;
  name: string;
  ok: boolean;
  /** The text the model reads. */
  content: string;
  isError: boolean;
  denied?: boolean;
  /** The call passed its deadline; whether it took effect is not known. */
  timedOut?: boolean;
  /** The result is held by the machine; the model sees this reference instead. */
  handle?: string;
  /** The content blocks as the server sent them, when it was called. */
  blocks?: Json[];
  structured?: Json;
}

function toolMessage(src: Json, at?: string): Json {
  if (src === null || typeof src !== 'object' || Array.isArray(src) || !('callId' in src)) {
    throw new TrapError('not_a_tool_result', 'a tool message needs a tool result', at);
  }
  return {
    role: 'tool',
    callId: src.callId as string,
    name: src.name as string,
    content: src.content as string,
    isError: Boolean(src.isError) || src.ok === false,
  };
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

/** A history as a model call reads it: a list of messages, each with a role; else a trap. */
export function historyOf(data: Json, at?: string): Message[] {
  const ok =
    Array.isArray(data) &&
    data.every(
      (m) =>
        m !== null &&
        typeof m === 'object' &&
        !Array.isArray(m) &&
        ROLES.has(m.role as string) &&
        typeof (m.content ?? '') === 'string',
    );
  if (!ok) throw new TrapError('not_a_history', 'not a history: a list of messages', at);
  return data as unknown as Message[];
}

/** The history with one message (or, for a list of tool results, several) added. */
export function appendMessages(
  history: Json,
  role: 'user' | 'assistant' | 'tool',
  src: Json,
  at?: string,
): Json {
  if (!Array.isArray(history)) throw new TrapError('not_a_history', 'not a history', at);
  const out = [...history];
  const before = out.length;
  if (role === 'user') {
    out.push({ role: 'user', content: textOf(src) });
  } else if (role === 'assistant') {
    const isReply =
      src !== null && typeof src === 'object' && !Array.isArray(src) && 'toolCalls' in src;
    if (isReply) {
      const message: JsonObject = { role: 'assistant', content: src.text as string };
      if (Array.isArray(src.toolCalls) && src.toolCalls.length > 0)
        message.toolCalls = src.toolCalls;
      out.push(message);
    } else {
      out.push({ role: 'assistant', content: textOf(src) });
    }
  } else if (Array.isArray(src)) {
    for (const r of src) out.push(toolMessage(r, at));
  } else {
    out.push(toolMessage(src, at));
  }
  sizeAfterAppend(history, out, before);
  return out;
}

/**
 * The size of a history grown by appending, from the size of the one it grew from: writing
 * it to a register would otherwise measure every message again, on every turn.
 */
function sizeAfterAppend(history: Json[], out: Json[], before: number): void {
  const known = sizes.get(history);
  if (!known) return;
  let { chars, depth } = known;
  for (let i = before; i < out.length; i++) {
    chars += measure(out[i], 1) + 1;
    depth = Math.max(depth, measuredDepth + 1);
  }
  if (Number.isFinite(depth)) sizes.set(out, { chars, depth });
}
