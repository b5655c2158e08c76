import { canonicalJson } from '../audit/canonical.js';
import { join, type Label, PUBLIC_TRUSTED } from '../labels/label.js';
import { type Value, valueAt } from '../labels/value.js';
import { InternalError, TrapError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';

/** The registers of one procedure activation. */
export class Frame {
  private readonly regs = new Map<string, Value>();

  constructor(readonly procedure: string) {}

  set(name: string, v: Value): void {
    this.regs.set(name, v);
  }

  /** A register the verifier proved defined; an undefined one is an internal error. */
  get(name: string, at?: string): Value {
    const v = this.regs.get(name);
    if (v === undefined) {
      throw new InternalError(`register '${name}' read before it was set`, { at, name });
    }
    return v;
  }

  has(name: string): boolean {
    return this.regs.has(name);
  }
}

/** Follows a dot path (`a.b.0`) into JSON; null when any step is absent. */
export function getPath(data: Json, path: string): Json {
  if (path === '') return data;
  let cur: Json = data;
  for (const key of path.split('.')) {
    if (Array.isArray(cur)) {
      const i = Number(key);
      cur = Number.isInteger(i) && i >= 0 && i < cur.length ? cur[i]! : null;
    } else if (cur !== null && typeof cur === 'object') {
      cur = Object.hasOwn(cur, key) ? cur[key]! : null;
    } else {
      return null;
    }
  }
  return cur;
}

/**
 * The text of a value as a template or a message shows it. JSON is written canonically (keys
 * sorted): the journal keeps values that way, so a resumed or replayed run renders the same.
 */
export function textOf(data: Json): string {
  if (typeof data === 'string') return data;
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    // A model reply or a tool result reads as its text.
    if (typeof data.text === 'string' && 'toolCalls' in data) return data.text;
    if (typeof data.content === 'string' && 'callId' in data) return data.content;
    // A resource read reads as the text of its contents.
    if (typeof data.text === 'string' && 'contents' in data) return data.text;
  }
  return canonicalJson(data);
}

const TEMPLATE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

/** The longest text a template may make; as long as the largest value a register holds. */
const MAX_TEMPLATE_CHARS = 32 * 1024 * 1024;

/** Fills a template from the frame; the result carries the join of the registers it read. */
export function render(template: string, frame: Frame, at?: string): Value {
  let label: Label = PUBLIC_TRUSTED;
  let chars = template.length;
  const data = template.replace(TEMPLATE, (_m, reg: string, path: string) => {
    // A path names a place, whose label may be finer than the whole register's.
    const v = valueAt(frame.get(reg, at), path.slice(1));
    label = join(label, v.label);
    const text = textOf(v.data);
    // Each register is bounded, but a template naming one many times multiplies it.
    chars += text.length;
    if (chars > MAX_TEMPLATE_CHARS) {
      throw new TrapError(
        'too_large',
        `the template makes more than ${MAX_TEMPLATE_CHARS} characters`,
        at,
      );
    }
    return text;
  });
  return { data, label };
}
