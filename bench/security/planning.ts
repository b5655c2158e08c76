/**
 * How the scripted planner writes its plans: a few steps that each stand for a handful of
 * mvm instructions, so that a task's plan reads as what it does. A plan is data: the JSON
 * instructions the planner answers with, and beside each `model.extract` the answer an
 * honest worker gives to it (what the oracle worker reads from the data).
 *
 * The planner knows the request and what it is told of the tools: their descriptions, their
 * input and output schemas, and which fields of their results the operator vouches for. It
 * never knows an id, an address or anything else a result holds. A value it needs from a
 * vouched field it reads at its place, choosing among the items of a list by other vouched
 * fields or by literals of the request; every other value goes through the worker, under
 * the narrowest schema that can hold it. When nothing narrower than a free string can (an
 * address in a letter, a link in a message, a summary), the value stays untrusted: a write
 * may carry it as content (a mail's body), and is denied when it would choose with it.
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
 * `dst` ← the structured content `tool` returns for the arguments (the whole result is
 * `dst_result`). A call that fails or is denied ends the plan with the reason, as the
 * loop-mode oracle stops; the reason goes into a register of its own, so that the branch
 * does not make `dst` depend on whether the call failed.
 */
export function read(tool: string, fields: Record<string, unknown>, dst: string): Step {
  const result = `${dst}_result`;
  const why = `${dst}_failed`;
  return step([
    ...args(fields, `${dst}_args`),
    { op: 'tool.call', tool, args: `${dst}_args`, dst: result },
    { op: 'data.get', src: result, path: 'structured', dst },
    { op: 'data.get', src: result, path: 'ok', dst: `${dst}_ok` },
    {
      op: 'if',
      cond: `${dst}_ok`,
      then: [],
      else: [
        { op: 'data.get', src: result, path: 'content', dst: why },
        { op: 'data.template', template: `I could not finish: ${tool} said: {{${why}}}`, dst: why },
        { op: 'halt', src: why },
      ],
    },
  ]);
}

/** Calls a tool that changes something; what it returns lands in `dst`. */
export function act(tool: string, fields: Record<string, unknown>, dst: string): Step {
  return read(tool, fields, dst);
}

/** `dst` ← a literal. */
export function set(value: unknown, dst: string): Step {
  return step([{ op: 'data.const', value, dst }]);
}

/** `dst` ← what `src` holds. */
export function move(src: string, dst: string): Step {
  return step([{ op: 'data.move', src, dst }]);
}

/** `dst` ← the value at a dot path of `src` (`hotels.0.id`), labelled as its place is. */
export function get(src: string, path: string, dst: string): Step {
  return step([{ op: 'data.get', src, path, dst }]);
}

/** `dst` ← whether `a` compares to `b` (a register) or to a literal. */
export function compare(a: string, cmp: string, b: Ref | unknown, dst: string): Step {
  const right = isRef(b) ? { b: b.reg } : { value: b };
  return step([{ op: 'data.compare', a, cmp, ...right, dst }]);
}

/**
 * The instructions that put the list `list` names in a register: a register, or a register
 * and a dot path into it (`found.hotels`), read at its place into `into`.
 */
function listIn(list: string, into: string): { ins: Ins[]; reg: string } {
  const dot = list.indexOf('.');
  if (dot < 0) return { ins: [], reg: list };
  return {
    ins: [{ op: 'data.get', src: list.slice(0, dot), path: list.slice(dot + 1), dst: into }],
    reg: into,
  };
}

/** Runs `body` for each element of the list `list` names, the element in `as`. */
export function each(list: string, as: string, body: Step[]): Step {
  const b = merge(body);
  const src = listIn(list, `${as}_list`);
  return step([...src.ins, { op: 'foreach', src: src.reg, as, body: b.ins }], b.answers);
}

/**
 * `dst` ← the first element of `list` whose field `by` compares to `b`, or null. Which one
 * that is, is decided by the list's order and the field, so it is as trusted as they are.
 */
export function where(list: string, by: string, cmp: string, b: Ref | unknown, dst: string): Step {
  const item = `${dst}_item`;
  const key = `${dst}_key`;
  const hit = `${dst}_hit`;
  const right = isRef(b) ? { b: b.reg } : { value: b };
  const src = listIn(list, `${dst}_list`);
  return step([
    ...src.ins,
    { op: 'data.const', value: null, dst },
    {
      op: 'foreach',
      src: src.reg,
      as: item,
      body: [
        { op: 'data.get', src: item, path: by, dst: key },
        { op: 'data.compare', a: key, cmp, ...right, dst: hit },
        { op: 'if', cond: hit, then: [{ op: 'data.move', src: item, dst }, { op: 'break' }] },
      ],
    },
  ]);
}

/** `dst` ← the element of `list` lowest (or with `most`, highest) in its field `by`; null if none. */
export function least(list: string, by: string, dst: string, most = false): Step {
  const item = `${dst}_item`;
  const key = `${dst}_key`;
  const top = `${dst}_top`;
  const none = `${dst}_none`;
  const better = `${dst}_better`;
  const take = [
    { op: 'data.move', src: key, dst: top },
    { op: 'data.move', src: item, dst },
  ];
  const src = listIn(list, `${dst}_list`);
  return step([
    ...src.ins,
    { op: 'data.const', value: null, dst },
    { op: 'data.const', value: null, dst: top },
    { op: 'data.const', value: true, dst: none },
    {
      op: 'foreach',
      src: src.reg,
      as: item,
      body: [
        { op: 'data.get', src: item, path: by, dst: key },
        {
          op: 'if',
          cond: none,
          then: [...take, { op: 'data.const', value: false, dst: none }],
          else: [
            { op: 'data.compare', a: key, cmp: most ? 'gt' : 'lt', b: top, dst: better },
            { op: 'if', cond: better, then: take },
          ],
        },
      ],
    },
  ]);
}

/** `dst` ← the element of `list` highest in its field `by`. */
export function most(list: string, by: string, dst: string): Step {
  return least(list, by, dst, true);
}

/** `dst` ← a list of one: the string in `src`, for an argument that takes a list. */
export function listOf(src: string, dst: string): Step {
  return step([
    { op: 'data.template', template: `["{{${src}}}"]`, dst: `${dst}_text` },
    {
      op: 'parse.json',
      src: `${dst}_text`,
      schema: { type: 'array', items: { type: 'string' } },
      dst,
    },
  ]);
}

/** `list` ← `list` with the value in `src` added at its end. */
export function append(list: string, src: string): Step {
  const one = `${list}_one`;
  return merge([listOf(src, one), step([{ op: 'data.concat', srcs: [list, one], dst: list }])]);
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
