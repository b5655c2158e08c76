import { join, type Label, PUBLIC_TRUSTED } from '../labels/label.js';
import type { Json, JsonObject } from '../spec/types.js';

/**
 * Handles: tool results kept out of a model's context. The model sees a reference and a
 * description, which say nothing the tool returned; it can pass the reference on as an
 * argument, and the machine puts the content in its place. Reading the content into the
 * context takes the namespace's `inspect_handle` tool, whose result carries the content's
 * label, so the context is then as untrusted as what it read.
 */

/** The tool the machine adds to a namespace whose results come as handles. */
export const INSPECT = 'inspect_handle';

export const INSPECT_DEFINITION = {
  name: INSPECT,
  description:
    'Reads the content of a handle into the conversation. Only read a handle when you ' +
    'must see what it holds: passing it on as an argument needs no reading.',
  inputSchema: {
    type: 'object',
    properties: { handle: { type: 'string', description: 'the handle, as h1' } },
    required: ['handle'],
  },
};

interface Held {
  content: string;
  label: Label;
}

export interface Resolved {
  args: JsonObject;
  /** For each argument that holds a handle, the join of the labels of those it holds. */
  byArg: Map<string, Label>;
  used: string[];
  /** A handle named that does not exist, if any. */
  missing?: string;
}

const isRef = (v: Json): v is { $handle: string } =>
  v !== null &&
  typeof v === 'object' &&
  !Array.isArray(v) &&
  Object.keys(v).length === 1 &&
  typeof (v as JsonObject).$handle === 'string';

export class Handles {
  private readonly held = new Map<string, Held>();

  /** Keeps `content` and gives the reference and description the model sees in its place. */
  add(id: string, tool: string, content: string, label: Label): string {
    this.held.set(id, { content, label });
    return (
      `[handle ${id}: the result of ${tool}, ${content.length} characters, not shown. ` +
      `Pass {"$handle": "${id}"} as an argument to use it, or read it with ${INSPECT}.]`
    );
  }

  get(id: string): Held | undefined {
    return this.held.get(id);
  }

  /** Puts each `{"$handle": "h1"}` in the arguments, at any depth, in place of its content. */
  resolve(args: JsonObject): Resolved {
    let here: Label | undefined;
    const used: string[] = [];
    let missing: string | undefined;
    const walk = (v: Json): Json => {
      if (isRef(v)) {
        const held = this.held.get(v.$handle);
        if (!held) {
          missing ??= v.$handle;
          return v;
        }
        here = join(here ?? PUBLIC_TRUSTED, held.label);
        if (!used.includes(v.$handle)) used.push(v.$handle);
        return held.content;
      }
      if (Array.isArray(v)) return v.map(walk);
      if (v !== null && typeof v === 'object') {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
      }
      return v;
    };
    const entries: [string, Json][] = [];
    const byArg = new Map<string, Label>();
    for (const [key, v] of Object.entries(args)) {
      here = undefined;
      entries.push([key, walk(v)]);
      if (here !== undefined) byArg.set(key, here);
    }
    // fromEntries keeps a `__proto__` key as a key, as the arguments had it.
    const out = Object.fromEntries(entries) as JsonObject;
    return missing === undefined ? { args: out, byArg, used } : { args, byArg, used, missing };
  }
}
