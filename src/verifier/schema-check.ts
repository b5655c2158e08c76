import { Ajv, type ErrorObject } from 'ajv';
import type { VerifyIssue } from '../spec/errors.js';
import { closest, didYouMean } from '../spec/near.js';
import { imageSchema } from '../spec/schema.js';

let compiled: ReturnType<Ajv['compile']> | undefined;

function validator() {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: true, strict: false, logger: false, verbose: true });
    compiled = ajv.compile(imageSchema());
  }
  return compiled;
}

/** `/procedures/main/body/3/op` → `procedures.main.body[3].op` */
export function pointerToPath(pointer: string, root = '(image)'): string {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out === '' ? root : out;
}

function issueOf(e: ErrorObject): VerifyIssue | undefined {
  const at = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'if':
    case 'anyOf':
      // The branch that failed reports its own errors; these summaries only repeat them.
      if (e.keyword === 'anyOf' && e.schemaPath.endsWith('/anyOf')) {
        const alts = ((e.schema ?? []) as Array<{ required?: string[] }>).flatMap(
          (s) => s.required ?? [],
        );
        if (alts.length > 0) {
          return { code: 'missing_operand', at, message: `needs one of ${alts.join(', ')}` };
        }
      }
      return undefined;
    case 'required':
      return {
        code: 'missing_field',
        at,
        message: `missing '${String(p.missingProperty)}'`,
      };
    case 'additionalProperties': {
      const field = String(p.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      return {
        code: 'unknown_field',
        at,
        message: `unknown field '${field}'${didYouMean(closest(field, known))}`,
      };
    }
    case 'enum':
      if (e.instancePath.endsWith('/op')) {
        return { code: 'unknown_opcode', at, message: `unknown opcode ${JSON.stringify(e.data)}` };
      }
      return {
        code: 'bad_value',
        at,
        message: `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'const':
      return { code: 'bad_value', at, message: `expected ${JSON.stringify(p.allowedValue)}` };
    case 'type':
      return { code: 'bad_type', at, message: `expected ${String(p.type)}` };
    case 'pattern':
      return { code: 'bad_name', at, message: 'not a valid name' };
    default:
      return { code: 'schema', at, message: e.message ?? 'does not match the image schema' };
  }
}

/** Checks an image against the schema derived from the opcode table; every issue is kept. */
export function checkSchema(image: unknown): VerifyIssue[] {
  const validate = validator();
  if (validate(image)) return [];

  const issues: VerifyIssue[] = [];
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    // Name and enum operands allow a `$static` reference as an alternative; report the first
    // branch only, once.
    if (e.schemaPath.includes('/anyOf/1')) continue;
    // A missing operand of a one-of-these pair is reported once, by the anyOf summary.
    if (e.keyword === 'required' && /\/anyOf\/\d+\/required$/.test(e.schemaPath)) continue;
    const issue = issueOf(e);
    if (!issue) continue;
    const key = `${issue.at}|${issue.code}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  // An unknown opcode also fails nothing else useful; and an anyOf of names reports its
  // failing first branch as a pattern issue, already kept.
  if (issues.length === 0) issues.push({ code: 'schema', at: '(image)', message: 'invalid image' });
  return issues;
}
