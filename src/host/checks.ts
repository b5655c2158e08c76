import { canonicalJson } from '../audit/canonical.js';
import type { Manifest } from '../audit/manifest.js';
import { schemaErrors, validatorFor } from '../spec/json-schema.js';
import type { Json, JsonObject } from '../spec/types.js';
import type { Expectation } from './suite.js';

/** What a check looks at: a run's outcome and its manifest. */
export interface Outcome {
  status: string;
  output: Json | null;
  error: JsonObject | null;
  manifest: Manifest;
}

/**
 * The checks of an expectation that a run's outcome fails, each said in one line; none when
 * it meets them all. Tool checks read the manifest's counts.
 *
 * ```ts
 * checkOutcome({ status: 'done', output: { contains: 'x' } }, outcome) // ["output does not contain 'x'"]
 * ```
 */
export function checkOutcome(expect: Expectation, outcome: Outcome): string[] {
  const failures: string[] = [];
  if (outcome.status !== expect.status) {
    const why = outcome.error
      ? `: ${String(outcome.error.message)} [${String(outcome.error.code)}]`
      : '';
    failures.push(`status is ${outcome.status}, expected ${expect.status}${why}`);
  }
  if (expect.error !== undefined && outcome.error?.code !== expect.error) {
    const found = outcome.error ? `'${String(outcome.error.code)}'` : 'none';
    failures.push(`error is ${found}, expected '${expect.error}'`);
  }
  if (expect.output) failures.push(...outputFailures(expect.output, outcome.output));
  if (expect.tools) failures.push(...toolFailures(expect.tools, outcome.manifest));
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
    failures.push(`output is ${clip(text)}, expected ${clip(textOf(check.equals))}`);
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

function toolFailures(check: NonNullable<Expectation['tools']>, manifest: Manifest): string[] {
  const failures: string[] = [];
  const matching = (pattern: string) => {
    const re = globToRegExp(pattern);
    return manifest.tools.filter((t) => re.test(t.name));
  };
  for (const name of check.called ?? []) {
    if (!matching(name).some((t) => t.calls > 0)) failures.push(`${name} was not called`);
  }
  for (const name of check.notCalled ?? []) {
    const made = matching(name).filter((t) => t.calls > 0);
    for (const t of made) failures.push(`${t.name} was called ${times(t.calls)}`);
  }
  for (const name of check.denied ?? []) {
    if (!matching(name).some((t) => t.denied > 0)) failures.push(`no call to ${name} was denied`);
  }
  return failures;
}

const times = (n: number) => (n === 1 ? 'once' : `${n} times`);

/** A tool name pattern: `*` any run of characters, everything else itself. */
function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 'u');
}

function clip(text: string): string {
  return text.length > 80 ? `${JSON.stringify(text.slice(0, 77))}...` : JSON.stringify(text);
}
