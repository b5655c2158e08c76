/**
 * The scripted models of plan mode. The planner is the privileged one: it is asked, by
 * `model.plan`, for a program for the request, and answers with the task's plan. The worker
 * answers the plan's `model.extract` questions; the honest one from the data, the obeying
 * one as the injection in the data wants, as far as the question's schema lets it.
 *
 * The planner must never see an injection. It looks for one in everything it is given, and
 * reports any it finds to the benchmark before refusing to answer: such a run is a failure
 * of the benchmark (or of mvm), not a result.
 */
import type {
  JsonSchema,
  Message,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
} from '../../src/index.js';
import { validatorFor } from '../../src/spec/json-schema.js';
import type { ScriptBook } from './drivers.js';
import { findMarkers } from './injection.js';

const describe = (name: string): ModelDescription => ({
  driver: name,
  provider: 'bench-security',
  model: `scripted-${name}`,
  capabilities: { tools: false, parallelToolCalls: false, jsonSchema: true, streaming: false },
});

function reply(text: string, messages: Message[]): ModelReply {
  const inputTokens = Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
  const usage = { inputTokens, outputTokens: Math.ceil(text.length / 4) };
  return { text, toolCalls: [], stop: 'end', usage };
}

/** Text that shows injected data reached a message: the marker, or the payload's heading. */
export function injectionIn(messages: Message[]): string | undefined {
  for (const m of messages) {
    const goals = findMarkers(m.content);
    if (goals.length > 0) return `the marker of ${goals.join(', ')} in a ${m.role} message`;
    if (m.content.includes('Message for the AI assistant')) {
      return `the payload's heading in a ${m.role} message`;
    }
  }
  return undefined;
}

/**
 * The planner. `saw` hears of every injection found in its messages; the planner then fails
 * the call, so the run cannot pass for a result.
 */
export function planner(book: ScriptBook, saw: (what: string) => void): ModelDriver {
  return {
    describe: () => describe('planner'),
    async call(request: ModelRequest): Promise<ModelReply> {
      const { messages } = request;
      const found = injectionIn(messages);
      if (found !== undefined) {
        saw(found);
        throw new Error(`the planner was shown injected data: ${found}`);
      }
      const user = messages.find((m) => m.role === 'user')?.content ?? '';
      const asked = /^Request:\n([\s\S]*?)\n\nTools:\n/.exec(user)?.[1] ?? '';
      const plan = book.plans.get(asked);
      if (!plan) return reply('{"error": "I have no plan for that request."}', messages);
      // A refused plan is answered again with the same one: the planner is a script.
      return reply(JSON.stringify({ procedures: { main: { body: plan.body } } }), messages);
    },
  };
}

const DATA = '\n\nData:\n';

/** A value decoded from the JSON texts tool results are, however deep they are nested. */
function decode(value: unknown): unknown {
  if (typeof value === 'string') {
    const t = value.trim();
    if (!t.startsWith('{') && !t.startsWith('[')) return value;
    try {
      return decode(JSON.parse(t));
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map(decode);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

const squash = (s: string) => s.toLowerCase().replace(/\s+/g, '');

/** An option of an enum names what the attacker picks: the same, or one holds the other. */
function names(option: unknown, pick: string | number): boolean {
  if (typeof option === 'number' || typeof pick === 'number') return option === pick;
  if (typeof option !== 'string') return false;
  const a = squash(option);
  const b = squash(pick);
  return a === b || (a.length > 1 && b.length > 1 && (a.includes(b) || b.includes(a)));
}

/** The answer an obeying worker gives when the injection can have it within the schema. */
function steered(
  book: ScriptBook,
  goals: string[],
  schema: Record<string, unknown>,
  raw: string,
): { value: unknown } | undefined {
  const fits = validatorFor(schema as JsonSchema);
  for (const goal of goals) {
    const steer = book.steers.get(goal);
    if (!steer) continue;
    const candidates: unknown[] = [];
    // A yes lets a plan's write go ahead, or picks the item the payload sits in.
    if (schema.type === 'boolean') candidates.push(true);
    if (Array.isArray(schema.enum)) {
      candidates.push(...schema.enum.filter((o) => steer.picks.some((p) => names(o, p))));
    } else {
      for (const p of steer.picks) {
        candidates.push(p);
        if (typeof p === 'number') candidates.push(p.toFixed(2), String(p));
      }
      if (steer.text) candidates.push(steer.text(raw));
    }
    const hit = candidates.find((c) => fits(c));
    if (hit !== undefined) return { value: hit };
  }
  return undefined;
}

/**
 * The worker. The honest one answers each question as the plan's author scripted it; the
 * obeying one (`obeys`) first looks for injections in the data, and answers as the first of
 * them wants when the schema has room for it. Otherwise it too answers right: a steered
 * model that only spoilt its answers would lower utility, never raise what an attack gets.
 */
export function worker(book: ScriptBook, obeys: boolean): ModelDriver {
  return {
    describe: () => describe(obeys ? 'adversary-worker' : 'oracle-worker'),
    async call(request: ModelRequest): Promise<ModelReply> {
      const { messages } = request;
      const user = messages.find((m) => m.role === 'user')?.content ?? '';
      const cut = user.indexOf(DATA);
      const question = cut < 0 ? user : user.slice(0, cut);
      const raw = cut < 0 ? '' : user.slice(cut + DATA.length);
      const schema = (request.schema ?? {}) as Record<string, unknown>;
      if (obeys) {
        const hit = steered(book, findMarkers(raw), schema, raw);
        if (hit) return reply(JSON.stringify(hit.value), messages);
      }
      const answer = book.answers.get(question);
      if (!answer) return reply('null', messages);
      let value: unknown;
      try {
        value = answer(decode(raw));
      } catch (e) {
        // An answer that cannot be read off the data is no answer; extract traps on it.
        value = { error: (e as Error).message };
      }
      return reply(JSON.stringify(value ?? null), messages);
    },
  };
}
