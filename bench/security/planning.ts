/**
 * How the scripted planner writes its plans: a few steps that each stand for a handful of
 * mvm instructions, so that a task's plan reads as what it does. A plan is data: the JSON
 * instructions the planner answers with, and beside each `model.extract` the answer an
 * honest worker gives to it (what the oracle worker reads from the data).
 *
 * The planner knows the request and the tools' descriptions, nothing else: not the shape of
 * a result beyond its `content`, not an id, not an address the request does not state. Every
 * value it needs from a result goes through the worker, under the narrowest schema that can
 * hold it. When nothing narrower than a free string can (an id, an address, a link, a
 * summary), the value stays untrusted, and a write that uses it is denied.
 */
import type { Answer, TaskPlan } from './types.js';

type Ins = Record<string, unknown>;

/** Instructions, with the answers to the questions among them. */
export interface Step {
  ins: Ins[];
  answers: Record<string, Answer>;
}

/** A register, where a step takes a value rather than a literal. */
export interface Ref {
  reg: string;
}

export const r = (reg: string): Ref => ({ reg });

const isRef = (v: unknown): v is Ref =>
  typeof v === 'object' && v !== null && 'reg' in v && Object.keys(v).length === 1;

const step = (ins: Ins[], answers: Record<string, Answer> = {}): Step => ({ ins, answers });

/** `dst` ← an arguments object: literal fields and fields taken from registers. */
function args(fields: Record<string, unknown>, dst: string): Ins[] {
  const refs = Object.entries(fields).filter(([, v]) => isRef(v));
  if (refs.length === 0) return [{ op: 'data.const', value: fields, dst }];
  const out: Ins[] = [];
  const map: Record<string, string> = {};
  for (const [key, v] of Object.entries(fields)) {
    if (isRef(v)) map[key] = v.reg;
    else {
      map[key] = `${dst}_${key}`;
      out.push({ op: 'data.const', value: v, dst: map[key] });
    }
  }
  out.push({ op: 'data.object', fields: map, dst });
  return out;
}

/**
 * `dst` ← the text `tool` returns for the arguments; the whole result is `dst_result`. A
 * call that fails or is denied ends the plan with the reason, as the loop-mode oracle stops.
 */
export function read(tool: string, fields: Record<string, unknown>, dst: string): Step {
  const result = `${dst}_result`;
  return step([
    ...args(fields, `${dst}_args`),
    { op: 'tool.call', tool, args: `${dst}_args`, dst: result },
    { op: 'data.get', src: result, path: 'content', dst },
    { op: 'data.get', src: result, path: 'ok', dst: `${dst}_ok` },
    {
      op: 'if',
      cond: `${dst}_ok`,
      then: [],
      else: [
        { op: 'data.template', template: `I could not finish: ${tool} said: {{${dst}}}`, dst },
        { op: 'halt', src: dst },
      ],
    },
  ]);
}

/** Calls a tool that changes something; its result's text lands in `dst`. */
export function act(tool: string, fields: Record<string, unknown>, dst: string): Step {
  return read(tool, fields, dst);
}

/**
 * `dst` ← the worker's answer to `question` about the data in `from` (one register, or
 * several put together under their names), forced into `schema`. `answer` is what a worker
 * that reads the data right says, given the data decoded from its JSON.
 */
export function ask<T>(
  from: string | string[],
  question: string,
  schema: Record<string, unknown>,
  dst: string,
  answer: (data: T) => unknown,
): Step {
  const ins: Ins[] = [];
  let input = from as string;
  if (Array.isArray(from)) {
    input = `${dst}_input`;
    ins.push({
      op: 'data.object',
      fields: Object.fromEntries(from.map((f) => [f, f])),
      dst: input,
    });
  }
  ins.push({ op: 'model.extract', slot: 'worker', instruction: question, input, schema, dst });
  return step(ins, { [question]: answer as Answer });
}

/** `dst` ← the template filled from registers. */
export function text(template: string, dst: string): Step {
  return step([{ op: 'data.template', template, dst }]);
}

/** Runs `then` when the register `cond` holds a truthy value, `otherwise` when not. */
export function when(cond: string, then: Step[], otherwise: Step[] = []): Step {
  const a = merge(then);
  const b = merge(otherwise);
  const ins: Ins = { op: 'if', cond, then: a.ins };
  if (b.ins.length > 0) ins.else = b.ins;
  return step([ins], { ...a.answers, ...b.answers });
}

/** Ends the plan with the template, filled, as its answer. */
export function answer(template: string): Step {
  return step([
    { op: 'data.template', template, dst: 'answer' },
    { op: 'halt', src: 'answer' },
  ]);
}

function merge(steps: Step[]): Step {
  const answers: Record<string, Answer> = {};
  for (const s of steps) {
    for (const [q, a] of Object.entries(s.answers)) {
      if (q in answers) throw new Error(`a plan asks '${q}' twice`);
      answers[q] = a;
    }
  }
  return { ins: steps.flatMap((s) => s.ins), answers };
}

/**
 * A task's plan. `limit` says, when the plan cannot do the whole task, what it lacks: a
 * value that only a free string can hold, or a choice of action left to the data.
 */
export function plan(steps: Step[], limit?: string): TaskPlan {
  const { ins, answers } = merge(steps);
  return limit === undefined ? { body: ins, answers } : { body: ins, answers, limit };
}

// Schemas, narrowest first. The first four kinds are endorsed (docs/labels.md).

export const BOOL = { type: 'boolean' };
export const DATE = { type: 'string', format: 'date' };
/** A time of day on the five-minute grid meetings keep to. */
export const TIME = {
  enum: Array.from({ length: 288 }, (_, i) => {
    const h = String(Math.floor(i / 12)).padStart(2, '0');
    return `${h}:${String((i % 12) * 5).padStart(2, '0')}`;
  }),
};
export const WEEKDAY = {
  enum: ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'],
};
/** An amount of money to pay, as a bounded number. */
export const AMOUNT = { type: 'number', minimum: 0.01, maximum: 100_000 };
/** An amount of money to tell the user, with its cents: a string of digits, not endorsed. */
export const MONEY = { type: 'string', pattern: '^\\d{1,6}\\.\\d{2}$' };
/** Anything: an id, an address, a link, a summary. Untrusted. */
export const FREE = { type: 'string' };
export const FREE_LIST = { type: 'array', items: { type: 'string' }, minItems: 1 };
