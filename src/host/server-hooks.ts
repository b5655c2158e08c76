import { pathToFileURL } from 'node:url';
import {
  type CreateMessageRequest,
  type CreateMessageResult,
  type ElicitRequestFormParams,
  type ElicitResult,
  McpError,
  type Root,
} from '@modelcontextprotocol/sdk/types.js';
import { type UserChannel, WAIT } from '../interpreter/people.js';
import { PUBLIC_TRUSTED } from '../labels/label.js';
import type { Message, ModelDriver, StopReason } from '../models/driver.js';
import type { Monitor, Rule } from '../monitor/monitor.js';
import type { JsonObject } from '../spec/types.js';
import type { McpClientHooks, McpEvent } from '../tools/mcp-hooks.js';
import type { HostConfig } from './config.js';

/** What the host lends a server's requests: its rules, its user, its models. */
export interface ServerHookContext {
  config: HostConfig;
  monitor: Monitor;
  user: UserChannel;
  /** The driver for a model slot of the configuration, made on first use. */
  driver(slot: string): ModelDriver;
  events?: (event: McpEvent) => void;
}

/** The code MCP gives a request the user (here, the policy) rejected. */
const REJECTED = -1;

/**
 * The hooks a namespace's server gets. Elicitation and sampling are resources like any
 * other, `elicitation:NS` and `sampling:NS`, so nothing is allowed unless a rule says so.
 * Roots are the folders the `fs:` grants name.
 *
 * These decisions are taken by the run's monitor but not yet journaled, and a sampling
 * call's tokens are not counted against the budgets: the machine sees only the tool result
 * the server returns, which is journaled as usual.
 */
export function serverHooks(ns: string, ctx: ServerHookContext): McpClientHooks {
  const hooks: McpClientHooks = {
    elicit: (params) => elicit(ns, params, ctx),
    sample: (params) => sample(ns, params, ctx),
  };
  const roots = rootsOf(ctx.config.rules);
  // A server given no roots keeps the folders it was started with.
  if (roots.length > 0) hooks.roots = roots;
  if (ctx.events) hooks.events = ctx.events;
  return hooks;
}

function allowed(ctx: ServerHookContext, resource: string): { ok: boolean; reason: string } {
  const d = ctx.monitor.decide({ resource, context: PUBLIC_TRUSTED });
  return { ok: d.verdict === 'allow', reason: d.reason };
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
  const d = ctx.monitor.decide({ resource: `elicitation:${ns}`, context: PUBLIC_TRUSTED });
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
  const driver = ctx.driver(slot);
  const reply = await driver.call({ slot, messages, tools: [] });
  return {
    role: 'assistant',
    content: { type: 'text', text: reply.text },
    model: reply.model ?? driver.describe().model,
    stopReason: STOP[reply.stop],
  };
}

const STOP: Record<StopReason, string> = {
  end: 'endTurn',
  length: 'maxTokens',
  tool_calls: 'toolUse',
  filter: 'refusal',
  other: 'other',
};

/**
 * The folders the `fs:` allow and confirm rules name: each pattern cut before its first
 * wildcard, back to a whole folder. Expired rules are left out.
 */
export function rootsOf(rules: readonly Rule[], now = Date.now()): Root[] {
  const paths = new Set<string>();
  for (const rule of rules) {
    const pattern = 'allow' in rule ? rule.allow : 'confirm' in rule ? rule.confirm : undefined;
    if (!pattern?.startsWith('fs:/')) continue;
    if (rule.until !== undefined && Date.parse(rule.until) <= now) continue;
    const path = pattern.slice(3);
    const star = path.indexOf('*');
    const folder = star < 0 ? path : path.slice(0, path.lastIndexOf('/', star) + 1);
    paths.add(folder.length > 1 ? folder.replace(/\/+$/, '') : '/');
  }
  return [...paths].map((path) => ({ uri: pathToFileURL(path).href, name: path }));
}
