import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type CreateMessageRequest,
  type CreateMessageResult,
  type ElicitRequestFormParams,
  type ElicitResult,
  McpError,
  type Root,
} from '@modelcontextprotocol/sdk/types.js';
import { canonicalJson } from '../audit/canonical.js';
import type { BudgetMeter } from '../interpreter/budget.js';
import { type UserChannel, WAIT } from '../interpreter/people.js';
import { PUBLIC_TRUSTED } from '../labels/label.js';
import type { Message, ModelDriver, StopReason, Usage } from '../models/driver.js';
import { count } from '../models/wire.js';
import type { Monitor } from '../monitor/monitor.js';
import { DriverError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import {
  atLeast,
  type LoggingLevel,
  type McpClientHooks,
  type McpEvent,
} from '../tools/mcp-hooks.js';
import type { HostConfig } from './config.js';

type Recorder = (type: string, data: Json) => void;

/** What the host lends a server's requests: its rules, its user, its models. */
export interface ServerHookContext {
  config: HostConfig;
  monitor: Monitor;
  user: UserChannel;
  /** The driver for a model slot of the configuration, made on first use. */
  driver(slot: string): ModelDriver;
  events?: (event: McpEvent) => void;
  /** The run's budgets: a sampling call needs room in them, and is charged to them. */
  meter?: BudgetMeter;
  /**
   * Journals what a server asked and what was decided, and its log messages where the
   * namespace sets `logLevel`: marks, not steps of the image.
   */
  record?: Recorder;
}

/** The code MCP gives a request the user (here, the policy) rejected. */
const REJECTED = -1;

/**
 * The hooks a namespace's server gets. Elicitation and sampling are resources like any
 * other, `elicitation:NS` and `sampling:NS`, so nothing is allowed unless a rule says so.
 * Roots are the folders the namespace's own `roots` names, and none when it names none: a
 * server such as the reference filesystem server takes the roots it is given in place of
 * the folders it was started with, so roots shared between namespaces would point one
 * server at another's files while the monitor resolves paths against its own.
 *
 * The decisions, each sampling call, and the log messages at the namespace's `logLevel`
 * or above are journaled as marks through `record`. A sampling call needs room in the run's
 * budgets of model calls and tokens, and is charged to them.
 */
export function serverHooks(ns: string, ctx: ServerHookContext): McpClientHooks {
  const hooks: McpClientHooks = {
    elicit: (params) => elicit(ns, params, ctx),
    sample: (params) => sample(ns, params, ctx),
  };
  const roots = rootsOf(ctx.config.tools[ns]?.roots ?? [], ctx.config.dir);
  // A server given no roots keeps the folders it was started with.
  if (roots.length > 0) hooks.roots = roots;
  const level = ctx.config.tools[ns]?.logLevel;
  if (level) hooks.logLevel = level;
  const journal = level && ctx.record ? logJournal(ns, level, ctx.record) : undefined;
  const events = ctx.events;
  if (journal && events) {
    hooks.events = (e) => {
      journal(e);
      events(e);
    };
  } else if (journal ?? events) hooks.events = journal ?? events;
  return hooks;
}

/** How many log messages of one server's connection a run journals. */
export const MAX_LOG_MARKS = 1000;

/** How much of a message's data a mark keeps, in characters of its JSON. */
export const MAX_LOG_CHARS = 4096;

/**
 * Journals a server's log messages at `threshold` or above as `server.log` marks, whatever
 * level the server was asked for: a server may not honour it. A server that floods is cut
 * off after MAX_LOG_MARKS, with one mark saying so, and a long message is cut short.
 */
function logJournal(ns: string, threshold: LoggingLevel, record: Recorder) {
  let kept = 0;
  return (e: McpEvent) => {
    if (e.type !== 'log' || !atLeast(e.level, threshold)) return;
    kept++;
    if (kept > MAX_LOG_MARKS + 1) return;
    if (kept === MAX_LOG_MARKS + 1) {
      record('server.log', { ns, dropped: true, after: MAX_LOG_MARKS });
      return;
    }
    const text = canonicalJson(e.data);
    const data: JsonObject = { ns, level: e.level };
    if (e.logger !== undefined) data.logger = e.logger;
    if (text.length > MAX_LOG_CHARS) {
      data.data = text.slice(0, MAX_LOG_CHARS);
      data.cut = true;
    } else data.data = e.data;
    record('server.log', data);
  };
}

function allowed(ctx: ServerHookContext, resource: string): { ok: boolean; reason: string } {
  const d = decided(ctx, resource);
  return { ok: d.verdict === 'allow', reason: d.reason };
}

/** The monitor's decision on a server's request, journaled. */
function decided(ctx: ServerHookContext, resource: string) {
  const d = ctx.monitor.decide({ resource, context: PUBLIC_TRUSTED });
  ctx.record?.('server.decision', {
    resource,
    verdict: d.verdict,
    rule: d.rule,
    reason: d.reason,
  });
  return d;
}

/**
 * Asks the user through the run's channel. A confirm rule is read as allow: the question
 * is itself asked of a person, who may decline it.
 */
async function elicit(
  ns: string,
  params: ElicitRequestFormParams,
  ctx: ServerHookContext,
): Promise<ElicitResult> {
  const d = decided(ctx, `elicitation:${ns}`);
  if (d.verdict === 'deny') return { action: 'decline' };

  const schema = params.requestedSchema as unknown as JsonObject;
  const answer = await ctx.user.ask(`${ns} asks: ${params.message}`, schema);
  // A tool call in flight cannot wait for a resumed run; nobody here can answer now.
  if (answer === WAIT) return { action: 'cancel' };
  if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) {
    return { action: 'decline' };
  }
  return { action: 'accept', content: answer as ElicitResult['content'] };
}

async function sample(
  ns: string,
  params: CreateMessageRequest['params'],
  ctx: ServerHookContext,
): Promise<CreateMessageResult> {
  const grant = allowed(ctx, `sampling:${ns}`);
  if (!grant.ok) throw new McpError(REJECTED, `sampling denied: ${grant.reason}`);
  const slot = ctx.config.tools[ns]?.sampling?.model;
  if (!slot) {
    throw new McpError(REJECTED, `sampling denied: no model is bound for ${ns}'s requests`);
  }
  const model = allowed(ctx, `model:${slot}`);
  if (!model.ok) throw new McpError(REJECTED, `sampling denied: ${model.reason}`);

  const messages: Message[] = [];
  if (params.systemPrompt) messages.push({ role: 'system', content: params.systemPrompt });
  for (const m of params.messages) {
    const blocks = Array.isArray(m.content) ? m.content : [m.content];
    const text = blocks.map((b) => (b.type === 'text' ? b.text : undefined));
    if (text.some((t) => t === undefined)) {
      throw new McpError(REJECTED, 'sampling denied: only text content is supported');
    }
    messages.push({ role: m.role, content: text.join('\n') });
  }
  const full = ctx.meter?.noRoomForModelCall();
  if (full) {
    ctx.record?.('server.sample', { ns, slot, refused: full });
    throw new McpError(REJECTED, `sampling denied: ${full}`);
  }
  const driver = ctx.driver(slot);
  const described = driver.describe();
  // The wall-clock budget bounds the call, as it bounds the image's own.
  const remaining = ctx.meter ? ctx.meter.timerMs() : 0;
  const signal = remaining > 0 ? AbortSignal.timeout(remaining) : undefined;
  const started = performance.now();
  let reply: Awaited<ReturnType<ModelDriver['call']>>;
  try {
    reply = await driver.call({ slot, messages, tools: [], ...(signal ? { signal } : {}) });
  } catch (e) {
    // Another model than the slot's pin answered: the server is refused, and the run says so.
    if (!(e instanceof DriverError) || e.code !== 'model_mismatch') throw e;
    ctx.record?.('server.sample', { ns, slot, refused: e.message });
    throw new McpError(REJECTED, `sampling denied: ${e.message}`);
  }
  const usage = usageOf(reply.usage);
  ctx.meter?.chargeForServer(usage.inputTokens + usage.outputTokens);
  ctx.record?.('server.sample', {
    ns,
    slot,
    driver: described.driver,
    provider: described.provider,
    model: reply.model ?? described.model,
    usage: usage as unknown as JsonObject,
    ms: Math.round((performance.now() - started) * 1000) / 1000,
    ...(reply.mismatch === undefined ? {} : { mismatch: reply.mismatch }),
  });
  return {
    role: 'assistant',
    content: { type: 'text', text: reply.text },
    model: reply.model ?? driver.describe().model,
    stopReason: STOP[reply.stop],
  };
}

/** Counts from a driver are data: only a non-negative number counts. */
function usageOf(u: Partial<Usage> | undefined): Usage {
  const usage: Usage = { inputTokens: count(u?.inputTokens), outputTokens: count(u?.outputTokens) };
  if (u?.cost !== undefined) usage.cost = count(u.cost);
  return usage;
}

/**
 * Charges a recorded sampling call to a meter, as the live call was: a re-executed tool
 * call asks its server nothing, so its sampling calls are counted from the journal.
 */
export function chargeRecorded(meter: BudgetMeter, mark: Json): void {
  const d = (mark ?? {}) as JsonObject;
  if (d.usage === undefined || d.usage === null) return;
  const usage = usageOf(d.usage as Partial<Usage>);
  meter.chargeForServer(usage.inputTokens + usage.outputTokens);
}

const STOP: Record<StopReason, string> = {
  end: 'endTurn',
  length: 'maxTokens',
  tool_calls: 'toolUse',
  filter: 'refusal',
  other: 'other',
};

/** A namespace's roots: its folders, resolved against the configuration's folder. */
export function rootsOf(folders: readonly string[], dir: string): Root[] {
  return folders.map((f) => {
    const path = resolve(dir, f);
    return { uri: pathToFileURL(path).href, name: path };
  });
}
