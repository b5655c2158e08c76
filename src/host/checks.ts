import { canonicalJson } from '../audit/canonical.js';
import type { JournalEntry } from '../audit/chain.js';
import { schemaErrors, validatorFor } from '../spec/json-schema.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type { Expectation, ToolMatch } from './suite.js';

/** A tool call the model asked for, as the journal records it. */
export interface ToolCall {
  name: string;
  /** The arguments, or null when they were not a JSON object. */
  args: Json | null;
  /** The machine made the call (its intent is journaled), whatever the tool answered. */
  made: boolean;
  /** The monitor denied it. */
  denied: boolean;
}

/** What a check looks at: a run's outcome and the tool calls its journal holds. */
export interface Outcome {
  status: string;
  output: Json | null;
  error: JsonObject | null;
  calls: ToolCall[];
}

/** The tool calls of a run: each made (`tool.intent`) or refused (`tool.refused`). */
export function callsOf(entries: readonly JournalEntry[]): ToolCall[] {
  const calls: ToolCall[] = [];
  for (const e of entries) {
    const d = e.data as JsonObject;
    if (e.type === 'tool.intent') {
      calls.push({ name: String(d.name), args: d.args ?? null, made: true, denied: false });
    } else if (e.type === 'tool.refused') {
      calls.push({
        name: String(d.name),
        args: parsed(d.arguments),
        made: false,
        denied: d.denied === true,
      });
    }
  }
  return calls;
}

/** Arguments as the model wrote them: an object when they parse as one. */
function parsed(text: Json | undefined): Json | null {
  if (typeof text !== 'string') return null;
  try {
    const value = JSON.parse(text) as Json;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The checks of an expectation that a run's outcome fails, each said in one line; none when
 * it meets them all. Tool checks read the calls the journal records (which the manifest's
 * `tools` counts).
 *
 * ```ts
 * checkOutcome({ status: ['done'], output: { contains: 'x' } }, outcome) // ["output does not contain 'x'"]
 * ```
 */
export function checkOutcome(expect: Expectation, outcome: Outcome): string[] {
  const failures: string[] = [];
  if (!(expect.status as string[]).includes(outcome.status)) {
    const why = outcome.error
      ? `: ${String(outcome.error.message)} [${String(outcome.error.code)}]`
      : '';
    failures.push(`status is ${outcome.status}, expected ${expect.status.join(' or ')}${why}`);
  }
  if (expect.error !== undefined && outcome.error?.code !== expect.error) {
    const found = outcome.error ? `'${String(outcome.error.code)}'` : 'none';
    failures.push(`error is ${found}, expected '${expect.error}'`);
  }
  if (expect.output) failures.push(...outputFailures(expect.output, outcome.output));
  if (expect.tools) failures.push(...toolFailures(expect.tools, outcome.calls));
  return failures;
}

/** A string output as it is, any other value as canonical JSON. */
function textOf(output: Json): string {
  return typeof output === 'string' ? output : canonicalJson(output);
}

function outputFailures(check: NonNullable<Expectation['output']>, output: Json | null): string[] {
  if (output === null && check.equals !== null) return ['there is no output'];
  const failures: string[] = [];
  const text = textOf(output);
  if (check.equals !== undefined && canonicalJson(check.equals) !== canonicalJson(output)) {
    failures.push(`output is ${quote(text)}, expected ${quote(textOf(check.equals))}`);
  }
  const wanted = typeof check.contains === 'string' ? [check.contains] : (check.contains ?? []);
  for (const piece of wanted) {
    if (!text.includes(piece)) failures.push(`output does not contain '${piece}'`);
  }
  if (check.matches !== undefined && !new RegExp(check.matches, 'u').test(text)) {
    failures.push(`output does not match /${check.matches}/`);
  }
  if (check.schema !== undefined) {
    const v = validatorFor(check.schema);
    if (!v(output)) failures.push(`output does not meet its schema: ${schemaErrors(v)}`);
  }
  return failures;
}

function toolFailures(check: NonNullable<Expectation['tools']>, calls: ToolCall[]): string[] {
  const failures: string[] = [];
  for (const m of check.called ?? []) {
    if (calls.some((c) => c.made && matches(m, c))) continue;
    // What came closest: the same calls refused, or calls of the tool with other arguments.
    const refused = calls.filter((c) => !c.made && matches(m, c));
    const denied = refused.filter((c) => c.denied).length;
    const others = calls.filter((c) => c.made && nameMatches(m, c)).length;
    const why = [
      denied > 0 ? `denied ${times(denied)}` : '',
      refused.length > denied ? `refused ${times(refused.length - denied)}` : '',
      others > 0 ? `called ${times(others)} with other arguments` : '',
    ].filter(Boolean);
    failures.push(`${describe(m)} was not called${why.length ? ` (${why.join('; ')})` : ''}`);
  }
  for (const m of check.notCalled ?? []) {
    const made = calls.filter((c) => c.made && matches(m, c));
    for (const name of new Set(made.map((c) => c.name))) {
      const n = made.filter((c) => c.name === name).length;
      const args = made.find((c) => c.name === name)!.args;
      const how = hasArgs(m)
        ? ` with arguments meeting the check: ${clip(canonicalJson(args))}`
        : '';
      failures.push(`${name} was called ${times(n)}${how}`);
    }
  }
  for (const m of check.denied ?? []) {
    if (!calls.some((c) => c.denied && matches(m, c))) {
      failures.push(`no call to ${describe(m)} was denied`);
    }
  }
  return failures;
}

const hasArgs = (m: ToolMatch): m is { name: string; args: JsonSchema } =>
  typeof m !== 'string' && m.args !== undefined;

function nameMatches(m: ToolMatch, call: ToolCall): boolean {
  return globToRegExp(typeof m === 'string' ? m : m.name).test(call.name);
}

function matches(m: ToolMatch, call: ToolCall): boolean {
  if (!nameMatches(m, call)) return false;
  if (!hasArgs(m)) return true;
  return call.args !== null && (validatorFor(m.args)(call.args) as boolean);
}

function describe(m: ToolMatch): string {
  if (!hasArgs(m)) return typeof m === 'string' ? m : m.name;
  return `${m.name} with arguments meeting ${clip(canonicalJson(m.args))}`;
}

const times = (n: number) => (n === 1 ? 'once' : `${n} times`);

/** A name pattern: `*` any run of characters, everything else itself. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 'u');
}

/** At most 80 characters of a text, as it is. */
function clip(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A text quoted, at most 80 characters of it. */
function quote(text: string): string {
  return text.length > 80 ? `${JSON.stringify(text.slice(0, 77))}...` : JSON.stringify(text);
}
