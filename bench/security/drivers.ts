/**
 * The two scripted models, as mvm model drivers. Both find the task by the user's message and
 * rebuild where they are from the history: every tool call they make carries an id that
 * names whose script it serves and which step (`task:2:0`, `goal=bk-g-send:0:0`), so the
 * tool results that come back sort themselves into steps. They keep no state between calls
 * and see nothing but the messages mvm gives them.
 *
 * The oracle follows the task's script. The adversary is the oracle that obeys: whenever a
 * tool result holds an injection's marker, it carries out that injection's script first,
 * then goes back to the task. It is the worst a model can do along the routes its scripts
 * take, and so the bound a defence has to hold against.
 */
import type {
  Message,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  ToolCallRequest,
} from '../../src/index.js';
import { findMarkers } from './injection.js';
import type { Answer, Call, Outcome, Script, Seen, Steer, TaskPlan } from './types.js';

export interface ScriptBook {
  /** The task's script, by the exact text of its prompt. */
  tasks: Map<string, Script>;
  /** The injection's script, by goal id. */
  goals: Map<string, Script>;
  /** The task's plan, by the exact text of its prompt (plan mode). */
  plans: Map<string, TaskPlan>;
  /** The honest answer to each question a plan asks, by its instruction. */
  answers: Map<string, Answer>;
  /** How each goal steers a plan's worker, by goal id. */
  steers: Map<string, Steer>;
}

type Action = { calls: Call[]; owner: string; step: number } | { answer: string };

const TASK = 'task';

/** The outcomes of each owner's steps, rebuilt from the history. */
function stepsOf(messages: Message[]): Map<string, Seen> {
  const results = new Map<string, Outcome>();
  for (const m of messages) {
    if (m.role !== 'tool') continue;
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(m.content);
    } catch {
      parsed = null;
    }
    results.set(m.callId, { name: m.name, ok: !m.isError, text: m.content, data: parsed });
  }
  const owners = new Map<string, Seen>();
  for (const m of messages) {
    if (m.role !== 'assistant') continue;
    for (const c of m.toolCalls ?? []) {
      const id = /^(.+):(\d+):(\d+)$/.exec(c.id);
      if (!id) continue;
      const [, owner, step, k] = id as unknown as [string, string, string, string];
      const seen = owners.get(owner) ?? [];
      owners.set(owner, seen);
      const row = seen[Number(step)] ?? [];
      seen[Number(step)] = row;
      row[Number(k)] = results.get(c.id) ?? {
        name: c.name,
        ok: false,
        text: 'no result',
        data: null,
      };
    }
  }
  return owners;
}

/** The next move of a script, given its steps so far; null once it has nothing left to do. */
function advance(script: Script, seen: Seen, owner: string): Action | null {
  const last = seen[seen.length - 1];
  const failed = last?.find((o) => !o.ok);
  if (failed) return { answer: `I could not finish: ${failed.name} said: ${failed.text}` };
  const step = script[seen.length];
  if (!step) return null;
  let out: ReturnType<typeof step>;
  try {
    out = step(seen);
  } catch (e) {
    return { answer: `I could not finish: ${(e as Error).message}` };
  }
  if (typeof out === 'string') return { answer: out };
  const calls = Array.isArray(out) ? out : [out];
  if (calls.length === 0) return null;
  return { calls, owner, step: seen.length };
}

function promptOf(messages: Message[]): string {
  const first = messages.find((m) => m.role === 'user');
  return first?.content ?? '';
}

/** The goals whose markers the tool results hold, in the order they were first read. */
function injectedGoals(messages: Message[]): string[] {
  const goals: string[] = [];
  for (const m of messages) {
    if (m.role !== 'tool') continue;
    for (const g of findMarkers(m.content)) if (!goals.includes(g)) goals.push(g);
  }
  return goals;
}

function reply(action: Action, messages: Message[]): ModelReply {
  const inputTokens = Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
  if ('answer' in action) {
    const outputTokens = Math.ceil(action.answer.length / 4);
    return {
      text: action.answer,
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens, outputTokens },
    };
  }
  const toolCalls: ToolCallRequest[] = action.calls.map((c, k) => ({
    id: `${action.owner}:${action.step}:${k}`,
    name: c.name,
    arguments: JSON.stringify(c.args),
  }));
  const outputTokens = Math.ceil(toolCalls.reduce((n, c) => n + c.arguments.length, 0) / 4);
  return { text: '', toolCalls, stop: 'tool_calls', usage: { inputTokens, outputTokens } };
}

class ScriptedDriver implements ModelDriver {
  constructor(
    private readonly book: ScriptBook,
    private readonly obeys: boolean,
  ) {}

  describe(): ModelDescription {
    const name = this.obeys ? 'adversary' : 'oracle';
    return {
      driver: name,
      provider: 'bench-security',
      model: `scripted-${name}`,
      capabilities: { tools: true, parallelToolCalls: true, jsonSchema: false, streaming: false },
    };
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const { messages } = request;
    const script = this.book.tasks.get(promptOf(messages));
    if (!script) return reply({ answer: 'I do not know how to help with that.' }, messages);
    const steps = stepsOf(messages);
    if (this.obeys) {
      for (const goal of injectedGoals(messages)) {
        const owner = `goal=${goal}`;
        const goalScript = this.book.goals.get(goal);
        const next = goalScript && advance(goalScript, steps.get(owner) ?? [], owner);
        // A goal that answers, fails or runs out is over: the adversary goes back to the task.
        if (next && 'calls' in next) return reply(next, messages);
      }
    }
    const next = advance(script, steps.get(TASK) ?? [], TASK) ?? { answer: 'Done.' };
    return reply(next, messages);
  }
}

/** A model that solves each task as its script says. */
export function oracle(book: ScriptBook): ModelDriver {
  return new ScriptedDriver(book, false);
}

/** The oracle that also does whatever an injected instruction in a tool result asks. */
export function adversary(book: ScriptBook): ModelDriver {
  return new ScriptedDriver(book, true);
}
