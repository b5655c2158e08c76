import { canonicalJson } from '../audit/canonical.js';
import type { Integrity, Readers } from '../labels/label.js';
import type { Message, ToolSpec } from '../models/driver.js';
import { OPCODES, type OpcodeSpec } from '../spec/opcodes.js';
import type { Image, Instruction, JsonObject } from '../spec/types.js';
import { type LinkedImage, walk } from '../verifier/expand.js';
import { verifyImage } from '../verifier/verify.js';

/**
 * Plan mode: a privileged model, shown only the trusted request and the tools, writes a
 * program in mvm's own instruction set; the machine verifies it like any image and runs it.
 * Untrusted data then reaches a model only through `model.extract`, whose answer is forced
 * into a schema, so it can change values but never which tools are called.
 *
 * A plan may use the instructions below and no others: no free model call whose reply
 * could name a tool, no tool call chosen at run time, no further plan.
 */
export const PLAN_OPS = [
  'model.extract',
  'parse.json',
  'tool.call',
  'mem.store',
  'mem.load',
  'user.ask',
  'user.show',
  'data.const',
  'data.move',
  'data.get',
  'data.template',
  'data.object',
  'data.concat',
  'data.len',
  'data.compare',
  'if',
  'loop',
  'foreach',
  'break',
  'continue',
  'call',
  'return',
  'halt',
  'fail',
] as const satisfies readonly (keyof typeof OPCODES)[];

const allowed = new Set<string>(PLAN_OPS);

/** One line per opcode a plan may use, from the opcode table. */
function reference(): string {
  return PLAN_OPS.map((op) => {
    const spec: OpcodeSpec = OPCODES[op];
    const operands = Object.entries(spec.operands)
      .map(([name, o]) => `${name}${o.optional ? '?' : ''} (${o.type}): ${o.doc}`)
      .join('; ');
    return `- ${op}: ${spec.means}. Operands: ${operands || 'none'}.`;
  }).join('\n');
}

/**
 * What a planner is told of a tool's result: the server's output schema, and the places in
 * it the operator vouches for, with their labels. Both come before any call is made; neither
 * is data a tool returned.
 */
export interface PlanShape {
  outputSchema?: JsonObject;
  vouched?: { path: string; integrity: Integrity; readers: Readers }[];
}

const readersText = (r: Readers) => (r === 'public' ? 'anyone' : `[${r.join(', ')}]`);

function describeTool(t: ToolSpec, shape: PlanShape | undefined): string {
  // Keys in the journal's order, so that a replay asks in the same words.
  const lines = [
    `- ${t.name}: ${t.description}`,
    `  input schema: ${canonicalJson(t.inputSchema)}`,
  ];
  if (shape?.outputSchema) lines.push(`  output schema: ${canonicalJson(shape.outputSchema)}`);
  if (shape?.vouched && shape.vouched.length > 0) {
    const fields = shape.vouched.map(
      (f) => `${f.path} (${f.integrity}, readable by ${readersText(f.readers)})`,
    );
    lines.push(`  vouched fields: ${fields.join('; ')}`);
  }
  return lines.join('\n');
}

/** The messages that ask `slots`' planner for a plan; nothing in them is untrusted. */
export function planMessages(
  request: string,
  tools: ToolSpec[],
  slots: string[],
  shapes: ReadonlyMap<string, PlanShape> = new Map(),
): Message[] {
  const toolList = tools.map((t) => describeTool(t, shapes.get(t.name))).join('\n');
  // Said only when some tool has a shape, so a plan for tools without asks as it always did.
  const shaped =
    shapes.size === 0
      ? []
      : [
          '',
          'A tool with an output schema gives its result as structured content: the',
          '`structured` field of what tool.call returns (its `content` is the same as JSON',
          'text, for parse.json). A vouched field is one the operator trusts the provider to',
          'write: read at its place (data.get with its path, [*] being any position of a list,',
          'or foreach over the list) it keeps the label given, and may decide and fill a call.',
          'Anything else a tool returns is untrusted, however it is read.',
        ];
  const system = [
    'You write plans for the mvm machine. A plan is a program in its instruction set, as JSON:',
    '{"procedures": {"main": {"body": [instruction, ...]}}}; more procedures may be added and',
    'called with `call`. Each instruction is an object with "op" and its operands. Registers',
    'are names; a register must be set before it is read. Templates fill {{reg}} or',
    '{{reg.path}}. Tool calls name the tool literally ("tool": "ns/name") and take their',
    'arguments from a register holding an object ("args": "reg").',
    '',
    'You will not see what tools return. To decide or compute from data a tool returns, use',
    `model.extract with a narrow schema; its slot must be one of: ${slots.join(', ') || 'none'}.`,
    ...shaped,
    'The plan ends with halt (or return) of its answer.',
    '',
    'Instructions a plan may use:',
    reference(),
    '',
    'Answer with the JSON of the plan only.',
  ].join('\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: `Request:\n${request}\n\nTools:\n${toolList || '(none)'}` },
  ];
}

export interface PlanCheck {
  /** The plan, linked and ready to run, when it passed. */
  linked?: LinkedImage;
  /** The parsed plan, as journaled; null when the text was not JSON. */
  plan: JsonObject | null;
  /** Why the plan was refused, one line each, for the planner to read. */
  issues: string[];
}

export interface PlanContext {
  /** The image running the plan: its slots, namespaces and permissions bound the plan. */
  parent: Image;
  /** The qualified names of the tools offered. */
  offered: string[];
  /** Why the rules deny a resource outright, or undefined when they may allow it. */
  denied: (resource: string) => string | undefined;
}

/**
 * Parses and verifies a plan. It runs as an image with the parent's slots, namespaces and
 * permissions; on top of the verifier's checks, it may use only the plan instructions, call
 * only the tools offered, and name none that the rules deny.
 */
export function checkPlan(text: string, context: PlanContext): PlanCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripFence(text));
  } catch (e) {
    return { plan: null, issues: [`the answer is not JSON: ${(e as Error).message}`] };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { plan: null, issues: ['the answer is not a JSON object with "procedures"'] };
  }
  const plan = parsed as JsonObject;
  const { parent } = context;
  const image = {
    mvm: 1,
    name: `${parent.name}.plan`,
    models: parent.models ?? {},
    tools: parent.tools ?? {},
    permissions: parent.permissions ?? [],
    procedures: plan.procedures,
  };
  const { issues, linked } = verifyImage(image);
  const found = issues.map((i) => `${i.at}: ${i.message} [${i.code}]`);
  if (!linked) return { plan, issues: found };

  for (const proc of linked.procedures.values()) {
    if (proc.source.startsWith('std.')) {
      found.push(`${proc.body[0]?.at ?? proc.name}: a plan may not call '${proc.source}'`);
    }
  }
  for (const [name, proc] of Object.entries(image.procedures as Record<string, JsonObject>)) {
    walk((proc.body ?? []) as Instruction[], `procedures.${name}.body`, (ins, at) => {
      found.push(...problems(ins, at, context));
    });
  }
  return found.length === 0 ? { plan, linked, issues: [] } : { plan, issues: found };
}

function problems(ins: Instruction, at: string, context: PlanContext): string[] {
  if (!allowed.has(ins.op)) return [`${at}: a plan may not use '${ins.op}'`];
  if (ins.op !== 'tool.call') return [];
  if (ins.tool === undefined) return [`${at}: a plan names its tools ("tool": "ns/name")`];
  if (!context.offered.includes(ins.tool)) {
    return [`${at}: '${ins.tool}' is not among the tools offered`];
  }
  const reason = context.denied(`tool:${ins.tool}`);
  return reason === undefined ? [] : [`${at}: '${ins.tool}' is not granted: ${reason}`];
}

/** A model may wrap its JSON in a Markdown fence; the fence is not part of the plan. */
function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/.exec(text);
  return m ? m[1]! : text;
}
