import { createContext, Script } from 'node:vm';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { JsonSchema } from './types.js';

/**
 * The one JSON Schema validator of the machine, for image schemas and tool schemas alike, so
 * that what the verifier accepts is what the interpreter compiles.
 *
 * A `pattern` may come from a tool server, and a JavaScript regular expression can take
 * exponential time on a crafted string. Patterns with a repetition in them are therefore
 * tested in a separate context with a deadline: one validation may spend PATTERN_BUDGET_MS
 * on patterns in all, after which it fails with a `pattern` error instead of hanging.
 */

/** What one validation may spend testing patterns, in milliseconds. */
export const PATTERN_BUDGET_MS = 250;

/** The context patterns are tested in, so that a timeout interrupts only the test. */
const sandbox = createContext({ re: /(?:)/, s: '' }) as { re: RegExp; s: string };
const probe = new Script('re.test(s)');
/** When the validation under way must stop testing patterns. */
let deadline: number | undefined;

class PatternTimeout extends Error {}

function slowTest(re: RegExp, s: string): boolean {
  const left = Math.floor((deadline ?? Date.now() + PATTERN_BUDGET_MS) - Date.now());
  if (left <= 0) throw new PatternTimeout();
  sandbox.re = re;
  sandbox.s = s;
  try {
    return probe.runInContext(sandbox, { timeout: left }) as boolean;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT')
      throw new PatternTimeout();
    throw e;
  }
}

/** A pattern without repetition runs in linear time and is tested directly. */
function boundedRegExp(pattern: string, flags: string): { test(s: string): boolean } {
  const re = new RegExp(pattern, flags);
  if (!/[*+?{]/.test(pattern)) return re;
  return { test: (s: string) => slowTest(re, s) };
}

// Library code does not print: unknown keywords and formats are accepted quietly.
const ajv = new Ajv({
  allErrors: true,
  strict: false,
  logger: false,
  code: { regExp: boundedRegExp as never },
});
addFormats.default(ajv);
/**
 * Compiled validators by the schema's text: every run lists its tools afresh, and the same
 * definitions should not be compiled again each time. Bounded, so that a server handing out
 * new schemas cannot grow it (or ajv's own cache, which holds each schema compiled) forever.
 */
const compiled = new Map<string, { v: ValidateFunction; schema: JsonSchema }>();
const COMPILED_MAX = 1000;

function bounded(inner: ValidateFunction): ValidateFunction {
  const outer = ((data: unknown) => {
    deadline = Date.now() + PATTERN_BUDGET_MS;
    try {
      const ok = inner(data) as boolean;
      outer.errors = inner.errors;
      return ok;
    } catch (e) {
      if (!(e instanceof PatternTimeout)) throw e;
      const error: ErrorObject = {
        keyword: 'pattern',
        instancePath: '',
        schemaPath: '#',
        params: {},
        message: `took longer than ${PATTERN_BUDGET_MS} ms to check against its patterns`,
      };
      outer.errors = [error];
      return false;
    } finally {
      deadline = undefined;
    }
  }) as ValidateFunction;
  outer.schema = inner.schema;
  return outer;
}

/**
 * A validator for a JSON Schema, compiled once per distinct schema. Throws when the schema
 * does not compile (see `schemaProblem`).
 *
 * ```ts
 * const v = validatorFor({ type: 'string' }); v('x') // true
 * ```
 */
export function validatorFor(schema: JsonSchema): ValidateFunction {
  const key = JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit.v;
  const v = bounded(ajv.compile(schema));
  if (compiled.size >= COMPILED_MAX) {
    const [oldest, entry] = compiled.entries().next().value!;
    compiled.delete(oldest);
    if (typeof entry.schema === 'object') ajv.removeSchema(entry.schema);
  }
  compiled.set(key, { v, schema });
  return v;
}

/** Why a schema does not compile, or undefined when it does. */
export function schemaProblem(schema: JsonSchema): string | undefined {
  try {
    validatorFor(schema);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export function schemaErrors(v: ValidateFunction): string {
  return (v.errors ?? [])
    .slice(0, 5)
    .map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`)
    .join('; ');
}
