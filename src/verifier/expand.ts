import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { canonicalJson } from '../audit/canonical.js';
import type { VerifyIssue } from '../spec/errors.js';
import type { Image, Instruction, Json, Procedure } from '../spec/types.js';

/** A procedure ready to run: statics bound, every instruction tagged with where it came from. */
export interface LinkedProcedure {
  name: string;
  /** The name in its source: the image's own, or a std.* procedure. */
  source: string;
  params: string[];
  body: Instruction[];
}

export interface LinkedImage {
  image: Image;
  entry: string;
  procedures: Map<string, LinkedProcedure>;
}

let stdlib: Record<string, Procedure> | undefined;

/** The standard library's procedures, from stdlib/std.yaml beside the package. */
export function standardLibrary(): Record<string, Procedure> {
  if (!stdlib) {
    const url = new URL('../../stdlib/std.yaml', import.meta.url);
    const doc = parseYaml(readFileSync(url, 'utf8')) as { procedures: Record<string, Procedure> };
    stdlib = doc.procedures;
  }
  return stdlib;
}

function substitute(node: unknown, statics: Record<string, Json>): unknown {
  if (typeof node === 'string' && node.startsWith('$')) {
    const key = node.slice(1);
    return Object.hasOwn(statics, key) ? statics[key] : node;
  }
  if (Array.isArray(node)) return node.map((n) => substitute(n, statics));
  if (node !== null && typeof node === 'object') {
    // fromEntries defines every key, `__proto__` too, where assigning it would not.
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, substitute(v, statics)]));
  }
  return node;
}

const BLOCK_KEYS = ['then', 'else', 'body'] as const;

/** Calls `visit` on every instruction of a block, nested blocks included, with its path. */
export function walk(
  block: Instruction[],
  path: string,
  visit: (ins: Instruction, at: string) => void,
): void {
  block.forEach((ins, i) => {
    const at = `${path}[${i}]`;
    visit(ins, at);
    for (const key of BLOCK_KEYS) {
      const nested = (ins as Record<string, unknown>)[key];
      if (Array.isArray(nested)) walk(nested as Instruction[], `${at}.${key}`, visit);
    }
  });
}

/**
 * Links an image: finds each procedure a call names (the image's own or the standard
 * library's), makes one instance per distinct set of static arguments, and tags every
 * instruction with its source location. Problems are collected, not thrown.
 */
export function link(image: Image, issues: VerifyIssue[]): LinkedImage {
  const entry = image.entry ?? 'main';
  const library = standardLibrary();
  const procedures = new Map<string, LinkedProcedure>();

  const sourceOf = (name: string): { proc: Procedure; path: string } | undefined => {
    if (Object.hasOwn(image.procedures, name)) {
      return { proc: image.procedures[name]!, path: `procedures.${name}` };
    }
    if (name.startsWith('std.') && Object.hasOwn(library, name)) {
      return { proc: library[name]!, path: `stdlib.${name}` };
    }
    return undefined;
  };

  // The procedures being linked, innermost last: a call back into one of them is recursion,
  // whatever its static arguments, and linking stops there.
  const linking: string[] = [];

  const instantiate = (name: string, statics: Record<string, Json>): string => {
    const src = sourceOf(name)!;
    const key = Object.keys(statics).length === 0 ? name : `${name}<${canonicalJson(statics)}>`;
    if (procedures.has(key)) return key;
    if (procedures.size >= MAX_INSTANCES) {
      throw new LinkLimit(`more than ${MAX_INSTANCES} procedure instances`);
    }
    const body = structuredClone(substitute(src.proc.body, statics)) as Instruction[];
    const linked: LinkedProcedure = {
      name: key,
      source: name,
      params: src.proc.params ?? [],
      body,
    };
    procedures.set(key, linked);
    linking.push(name);
    walk(body, `${src.path}.body`, (ins, at) => {
      ins.at = at;
      if (ins.op === 'call') linkCall(ins, at);
    });
    linking.pop();
    return key;
  };

  const linkCall = (ins: Extract<Instruction, { op: 'call' }>, at: string) => {
    const target = sourceOf(ins.proc);
    if (!target) {
      issues.push({ code: 'unknown_procedure', at, message: `no procedure '${ins.proc}'` });
      return;
    }
    const wanted = target.proc.static ?? [];
    const given = ins.static ?? {};
    let ok = true;
    for (const s of wanted) {
      if (!Object.hasOwn(given, s)) {
        issues.push({
          code: 'missing_static',
          at,
          message: `'${ins.proc}' needs static parameter '${s}'`,
        });
        ok = false;
      }
    }
    for (const s of Object.keys(given)) {
      if (!wanted.includes(s)) {
        issues.push({
          code: 'unknown_static',
          at,
          message: `'${ins.proc}' has no static parameter '${s}'`,
        });
        ok = false;
      }
    }
    if (!ok) return;
    if (canonicalJson(given).length > MAX_STATIC_TEXT) {
      issues.push({
        code: 'too_large',
        at,
        message: `static arguments longer than ${MAX_STATIC_TEXT} characters`,
      });
      return;
    }
    if (linking.includes(ins.proc) && Object.keys(given).length > 0) {
      issues.push({
        code: 'recursive_call',
        at,
        message: `'${ins.proc}' calls itself, directly or not`,
      });
      return;
    }
    ins.proc = instantiate(ins.proc, given);
    delete ins.static;
  };

  try {
    linkFrom(entry);
  } catch (e) {
    if (!(e instanceof LinkLimit)) throw e;
    issues.push({ code: 'too_large', at: 'procedures', message: e.message });
  }
  return { image, entry, procedures };

  function linkFrom(entry: string) {
    if (!Object.hasOwn(image.procedures, entry)) {
      issues.push({ code: 'entry_missing', at: 'entry', message: `no procedure '${entry}'` });
    } else if ((image.procedures[entry]!.static ?? []).length > 0) {
      issues.push({
        code: 'entry_static',
        at: `procedures.${entry}`,
        message: 'the entry procedure cannot take static parameters',
      });
    } else {
      instantiate(entry, {});
    }
    // Procedures nothing calls are checked too, as written, unless they need statics.
    for (const [name, proc] of Object.entries(image.procedures)) {
      if (!procedures.has(name) && (proc.static ?? []).length === 0) instantiate(name, {});
    }
  }
}

/** How long a call's static arguments may be, as JSON text. */
export const MAX_STATIC_TEXT = 10_000;

/** How many instances of procedures linking may make, before the image is too large. */
export const MAX_INSTANCES = 1000;

class LinkLimit extends Error {}
