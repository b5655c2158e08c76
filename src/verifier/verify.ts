import { VerifyError, type VerifyIssue } from '../spec/errors.js';
import { schemaProblem } from '../spec/json-schema.js';
import { OPCODES, type OperandSpec } from '../spec/opcodes.js';
import { promptResource, resourceMatches, serverResource, uriProblem } from '../spec/resources.js';
import type { Image, Instruction, JsonSchema } from '../spec/types.js';
import type { VerifyCode } from '../spec/verify-codes.js';
import { type LinkedImage, type LinkedProcedure, link } from './expand.js';
import { checkSchema } from './schema-check.js';

/** How deep an image's JSON may nest. */
const MAX_DEPTH = 100;

function depthOf(v: unknown, d: number): number {
  if (d > MAX_DEPTH || v === null || typeof v !== 'object') return d;
  let max = d;
  for (const x of Object.values(v)) max = Math.max(max, depthOf(x, d + 1));
  return max;
}

/** A static reference, as the image schema spells one; `$5.00` is a plain string. */
const STATIC_REF = /^\$[A-Za-z_][A-Za-z0-9_]*$/;

/** The largest bound a loop may declare. */
export const MAX_LOOP_BOUND = 100_000;

const TEMPLATE_REF = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;

/** The registers a template reads. */
export function templateRegisters(template: string): string[] {
  return [...template.matchAll(TEMPLATE_REF)].map((m) => m[1]!);
}

export interface VerifyResult {
  issues: VerifyIssue[];
  /** Present when there are no issues. */
  linked?: LinkedImage;
}

/**
 * Checks an image before it may load, collecting every issue: the schema, references to
 * declared model slots, tool namespaces and procedures, registers defined before use, loop
 * bounds, recursion, and the permissions the image requests against what it uses.
 *
 * ```ts
 * const { issues, linked } = verifyImage(JSON.parse(text));
 * ```
 */
export function verifyImage(input: unknown): VerifyResult {
  if (depthOf(input, 0) > MAX_DEPTH) {
    return {
      issues: [
        { code: 'too_deep', at: '(image)', message: `nests deeper than ${MAX_DEPTH} levels` },
      ],
    };
  }
  const issues = checkSchema(input);
  if (issues.length > 0) return { issues };

  const image = structuredClone(input) as Image;
  const linked = link(image, issues);
  // Static arguments are substituted after the schema check: the instances are checked
  // against it again, so that a substituted operand has the type its opcode needs.
  const linkIssues = issues.length;
  for (const proc of linked.procedures.values()) {
    if (!proc.name.includes('<')) continue;
    const probe = { mvm: 1, name: 'instance', procedures: { p: { body: proc.body } } };
    const prefix = proc.body[0]?.at?.replace(/\[0\]$/, '') ?? `procedures.${proc.source}.body`;
    for (const i of checkSchema(probe)) {
      issues.push({
        ...i,
        at: i.at.replace(/^procedures\.p\.body/, prefix),
        message: `with its static arguments: ${i.message}`,
      });
    }
  }
  // Checking semantics on instances of the wrong shape would only stumble.
  if (issues.length > linkIssues) return { issues };
  const checker = new Checker(image, linked, issues);
  for (const proc of linked.procedures.values()) checker.procedure(proc);
  checker.recursion();
  checker.entryInputs();
  return issues.length === 0 ? { issues, linked } : { issues };
}

/** verifyImage, throwing VerifyError with every issue when there is any. */
export function verifyOrThrow(input: unknown, file?: string): LinkedImage {
  const { issues, linked } = verifyImage(input);
  if (!linked) throw new VerifyError(issues, file);
  return linked;
}

class Checker {
  private readonly requested: string[];
  private readonly slots: Set<string>;
  private readonly namespaces: Set<string>;

  constructor(
    private readonly image: Image,
    private readonly linked: LinkedImage,
    private readonly issues: VerifyIssue[],
  ) {
    this.requested = image.permissions ?? [];
    this.slots = new Set(Object.keys(image.models ?? {}));
    this.namespaces = new Set(Object.keys(image.tools ?? {}));
  }

  private issue(code: VerifyCode, at: string, message: string) {
    this.issues.push({ code, at, message });
  }

  procedure(proc: LinkedProcedure): void {
    const defined = new Set(proc.params);
    this.block(proc.body, defined, 0);
  }

  /** Checks a block; `defined` holds the registers defined on every path so far and grows. */
  private block(body: Instruction[], defined: Set<string>, loopDepth: number): void {
    for (const ins of body) this.instruction(ins, defined, loopDepth);
  }

  private instruction(ins: Instruction, defined: Set<string>, loopDepth: number): void {
    const at = ins.at ?? '?';
    const spec = OPCODES[ins.op];
    const fields = ins as unknown as Record<string, unknown>;
    const uses = (reg: string) => {
      if (!defined.has(reg)) {
        this.issue('undefined_register', at, `register '${reg}' may be used before it is set`);
      }
    };

    for (const [name, operand] of Object.entries(spec.operands) as [string, OperandSpec][]) {
      const v = fields[name];
      if (v === undefined) continue;
      if (typeof v === 'string' && STATIC_REF.test(v) && operand.type !== 'template') {
        this.issue('unbound_static', at, `'${name}' names static '${v}', which nothing binds`);
        continue;
      }
      switch (operand.type) {
        case 'reg':
          uses(v as string);
          break;
        case 'regs':
          for (const r of v as string[]) uses(r);
          break;
        case 'template':
          for (const r of templateRegisters(v as string)) uses(r);
          break;
        case 'args':
        case 'fields':
          for (const r of Object.values(v as Record<string, string>)) uses(r);
          break;
        case 'slot':
          if (!this.slots.has(v as string)) {
            this.issue('unknown_slot', at, `model slot '${v}' is not declared in models`);
          }
          break;
        case 'ns':
          if (!this.namespaces.has(v as string)) {
            this.issue('unknown_namespace', at, `tool namespace '${v}' is not declared in tools`);
          }
          break;
        case 'schema': {
          const problem = schemaProblem(v as JsonSchema);
          if (problem !== undefined) {
            this.issue(
              'bad_schema',
              at,
              `'${name}' is not a schema the validator reads: ${problem}`,
            );
          }
          break;
        }
        case 'int':
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_LOOP_BOUND) {
            this.issue(
              'unbounded_loop',
              at,
              `loop bound must be an integer from 1 to ${MAX_LOOP_BOUND}, found ${JSON.stringify(v)}`,
            );
          }
          break;
        default:
          break;
      }
    }

    this.permissions(ins, at);

    switch (ins.op) {
      case 'if': {
        const thenDefs = new Set(defined);
        this.block(ins.then, thenDefs, loopDepth);
        const elseDefs = new Set(defined);
        if (ins.else) this.block(ins.else, elseDefs, loopDepth);
        for (const r of thenDefs) if (elseDefs.has(r)) defined.add(r);
        return;
      }
      case 'loop':
        // The body may not run at all, so nothing it defines counts afterwards.
        this.block(ins.body, new Set(defined), loopDepth + 1);
        return;
      case 'foreach': {
        const inner = new Set(defined);
        inner.add(ins.as);
        if (ins.index) inner.add(ins.index);
        this.block(ins.body, inner, loopDepth + 1);
        return;
      }
      case 'break':
      case 'continue':
        if (loopDepth === 0) this.issue('break_outside_loop', at, `'${ins.op}' outside a loop`);
        return;
      case 'call':
        this.callArgs(ins, at);
        break;
      case 'tool.call':
        if (ins.tool !== undefined) {
          const ns = ins.tool.split('/')[0]!;
          if (!ins.tool.includes('/') || !this.namespaces.has(ns)) {
            this.issue(
              'unknown_namespace',
              at,
              `tool '${ins.tool}' is not ns/name with ns declared in tools`,
            );
          }
          if (ins.args === undefined) this.issue('missing_operand', at, "'tool' needs 'args'");
        }
        break;
      case 'resource.read':
        this.resourceRead(ins, at);
        break;
      default:
        break;
    }

    for (const [name, operand] of Object.entries(spec.operands) as [string, OperandSpec][]) {
      if (operand.type === 'dst' && typeof fields[name] === 'string') {
        defined.add(fields[name] as string);
      }
    }
  }

  /** A read names its resource one way: a URI, or a template with its arguments. */
  private resourceRead(ins: Extract<Instruction, { op: 'resource.read' }>, at: string): void {
    if (ins.uri !== undefined && ins.template !== undefined) {
      this.issue('stray_operand', at, "give 'uri' or 'template', not both");
    }
    if (ins.template !== undefined && ins.args === undefined) {
      this.issue('missing_operand', at, "'template' needs 'args'");
    }
    if (ins.uri !== undefined && ins.args !== undefined) {
      this.issue('stray_operand', at, "'args' goes with 'template', not with 'uri'");
    }
    if (ins.uri !== undefined && templateRegisters(ins.uri).length === 0) {
      const problem = uriProblem(ins.uri);
      if (problem !== undefined) {
        this.issue('bad_uri', at, `'${ins.uri.slice(0, 200)}' is not a resource URI: ${problem}`);
      }
    }
  }

  private callArgs(ins: Extract<Instruction, { op: 'call' }>, at: string): void {
    const target = this.linked.procedures.get(ins.proc);
    if (!target) return; // reported while linking
    const args = ins.args ?? {};
    for (const p of target.params) {
      if (!Object.hasOwn(args, p)) {
        this.issue('missing_argument', at, `'${target.source}' needs argument '${p}'`);
      }
    }
    for (const a of Object.keys(args)) {
      if (!target.params.includes(a)) {
        this.issue('unknown_argument', at, `'${target.source}' has no parameter '${a}'`);
      }
    }
  }

  private covered(resource: string): boolean {
    return this.requested.some((p) => resourceMatches(p, resource));
  }

  private need(resource: string, at: string): void {
    if (!this.covered(resource)) {
      this.issue(
        'permission_not_requested',
        at,
        `uses '${resource}' but permissions do not request it`,
      );
    }
  }

  /** Some resource of the kind within the namespace is requested, whichever it is. */
  private needSome(kind: string, ns: string, at: string, doing: string): void {
    const prefix = `${kind}:${ns}/`;
    const any = this.requested.some(
      (p) => p.startsWith(prefix) || resourceMatches(p, `${prefix}x`),
    );
    if (!any) {
      this.issue(
        'permission_not_requested',
        at,
        `${doing} '${ns}' but permissions request no '${prefix}…'`,
      );
    }
  }

  private permissions(ins: Instruction, at: string): void {
    switch (ins.op) {
      case 'model.load':
      case 'model.call':
      case 'model.extract':
      case 'model.plan':
        this.need(`model:${ins.slot}`, at);
        return;
      case 'tool.load':
        this.needSome('tool', ins.ns, at, 'loads namespace');
        return;
      case 'resource.list':
        this.needSome('resource', ins.ns, at, 'lists the resources of');
        return;
      case 'resource.read':
        if (ins.uri !== undefined && templateRegisters(ins.uri).length === 0) {
          this.need(serverResource(ins.ns, ins.uri), at);
        } else this.needSome('resource', ins.ns, at, 'reads resources of');
        return;
      case 'prompt.list':
        this.needSome('prompt', ins.ns, at, 'lists the prompts of');
        return;
      case 'prompt.get':
        if (templateRegisters(ins.name).length === 0)
          this.need(promptResource(ins.ns, ins.name), at);
        else this.needSome('prompt', ins.ns, at, 'gets prompts of');
        return;
      case 'tool.call':
        if (ins.tool !== undefined) this.need(`tool:${ins.tool}`, at);
        return;
      case 'mem.store':
      case 'mem.load':
        if (templateRegisters(ins.key).length === 0) this.need(`mem:${ins.key}`, at);
        else if (!this.requested.some((p) => p.startsWith('mem:'))) {
          this.need(`mem:${ins.key}`, at);
        }
        return;
      case 'user.ask':
      case 'user.show':
        this.need('user', at);
        return;
      default:
        return;
    }
  }

  /** Calls form no cycle: every procedure's depth of calls is finite. */
  recursion(): void {
    const state = new Map<string, 'open' | 'done'>();
    const visit = (name: string, at: string): void => {
      const s = state.get(name);
      if (s === 'done') return;
      const proc = this.linked.procedures.get(name);
      if (!proc) return;
      if (s === 'open') {
        this.issue('recursive_call', at, `'${proc.source}' calls itself, directly or not`);
        return;
      }
      state.set(name, 'open');
      const calls: Array<{ proc: string; at: string }> = [];
      const collect = (body: Instruction[]) => {
        for (const ins of body) {
          if (ins.op === 'call') calls.push({ proc: ins.proc, at: ins.at ?? '?' });
          for (const key of ['then', 'else', 'body'] as const) {
            const nested = (ins as Record<string, unknown>)[key];
            if (Array.isArray(nested)) collect(nested as Instruction[]);
          }
        }
      };
      collect(proc.body);
      for (const c of calls) visit(c.proc, c.at);
      state.set(name, 'done');
    };
    for (const name of this.linked.procedures.keys()) visit(name, `procedures.${name}`);
  }

  /** The entry procedure's parameters are the image's inputs. */
  entryInputs(): void {
    const entry = this.linked.procedures.get(this.linked.entry);
    if (!entry) return;
    const inputs = this.image.inputs ?? {};
    for (const p of entry.params) {
      if (!Object.hasOwn(inputs, p)) {
        this.issue(
          'unknown_input',
          `procedures.${this.linked.entry}.params`,
          `entry parameter '${p}' is not declared in inputs`,
        );
      }
    }
  }
}
