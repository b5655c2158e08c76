import { createHash } from 'node:crypto';
import type { JsonObject } from '../spec/types.js';
import type { Message } from './driver.js';

/**
 * Small helpers every wire format needs: reading untyped JSON defensively, and mapping
 * qualified tool names and call ids onto what a provider accepts.
 */

/** The default rule of OpenAI, Anthropic and most servers that copy them. */
export const FUNCTION_NAME_MAX = 64;

/**
 * The per-request map between qualified names (`ns/name`) and function names limited to
 * `^[a-zA-Z0-9_-]{1,max}$`. A name that encodes badly (too long, or the same as one already
 * taken) gets a digest suffix so that decoding stays one-to-one.
 *
 * ```ts
 * const names = new WireNames();
 * names.encode('fs/read_file'); // 'fs__read_file'
 * names.decode('fs__read_file'); // 'fs/read_file'
 * ```
 */
export class WireNames {
  private readonly toWire = new Map<string, string>();
  private readonly fromWire = new Map<string, string>();

  constructor(private readonly max = FUNCTION_NAME_MAX) {}

  encode(name: string): string {
    const known = this.toWire.get(name);
    if (known !== undefined) return known;

    const max = this.max;
    const plain = name.replaceAll('/', '__').replace(/[^a-zA-Z0-9_-]/g, '_');
    let wire = plain;
    if (wire.length === 0 || wire.length > max || this.fromWire.has(wire)) {
      const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
      for (let n = 1; n === 1 || this.fromWire.has(wire); n++) {
        const suffix = `_${digest}${n === 1 ? '' : n}`;
        wire = `${plain.slice(0, max - suffix.length)}${suffix}`;
      }
    }

    this.toWire.set(name, wire);
    this.fromWire.set(wire, name);
    return wire;
  }

  /** A name the request never offered passes through; the machine answers it as an error. */
  decode(wire: string): string {
    return this.fromWire.get(wire) ?? wire;
  }
}

/**
 * Registers the offered tools first, so they keep the plain encoding, then every name in the
 * history, so a call the model made earlier to a tool no longer offered still encodes the same.
 */
export function namesFor(tools: { name: string }[], messages: Message[], max?: number) {
  const names = new WireNames(max);
  for (const tool of tools) names.encode(tool.name);
  for (const message of messages) {
    if (message.role === 'assistant')
      for (const call of message.toolCalls ?? []) names.encode(call.name);
  }
  return names;
}

/**
 * A call id as providers that restrict ids to `^[a-zA-Z0-9_-]+$` accept it. The mapping is a
 * function of the id alone, so a call and its result, encoded apart, still pair.
 */
export function safeCallId(id: string): string {
  const safe = id.replace(/[^a-zA-Z0-9_-]/g, '_');
  return safe === '' ? 'call' : safe;
}

/** The number of the reply being asked for: one more than the assistant turns before it. */
export function turnOf(messages: Message[]): number {
  return messages.filter((message) => message.role === 'assistant').length + 1;
}

/**
 * Raw argument text as the object some wire formats insist on. Text that is not a JSON
 * object (the model wrote it malformed, and was told so) becomes `{}`: those formats cannot
 * carry anything else, and the tool result that follows already says what went wrong.
 */
export function argumentsObject(raw: string): JsonObject {
  try {
    const value: unknown = JSON.parse(raw);
    return isRecord(value) ? (value as JsonObject) : {};
  } catch {
    return {};
  }
}

/** Text of a reply field that should be a string but may be parts, null or anything else. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return '';
  if (!Array.isArray(content)) return stringify(content);
  return content
    .map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

/** A token count, or 0 for anything that is not a finite count. */
export function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

export function stringify(value: unknown): string {
  return JSON.stringify(value) ?? '';
}

/** Arguments a provider sent as a string are kept raw; anything else is its JSON text. */
export function rawArguments(args: unknown): string {
  if (typeof args === 'string') return args;
  return args === undefined || args === null ? '' : stringify(args);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON value of one stream record, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
