import type { ValidateFunction } from 'ajv';
import { canonicalJson, digest } from '../audit/canonical.js';
import { join, joinAll, type Label, PUBLIC_TRUSTED, type Readers } from '../labels/label.js';
import { fieldLabel, formOf, partsOf, type Step, type VouchedField } from '../labels/parts.js';
import { taint, type Value, value } from '../labels/value.js';
import type { Message, ModelDriver, ModelReply, ModelRequest, ToolSpec } from '../models/driver.js';
import { count } from '../models/wire.js';
import type { Sink } from '../monitor/flow.js';
import type { Decision, Mode, Monitor } from '../monitor/monitor.js';
import {
  BudgetError,
  DriverError,
  errorFromJson,
  InternalError,
  MvmError,
  PolicyError,
  ProviderError,
  TrapError,
} from '../spec/errors.js';
import type { Image, InstructionOf, Json, JsonObject, JsonSchema } from '../spec/types.js';
import {
  type ProviderDescription,
  type ToolDefinition,
  type ToolHints,
  type ToolProvider,
  toolHints,
} from '../tools/provider.js';
import type { LinkedImage } from '../verifier/expand.js';
import type { BudgetMeter } from './budget.js';
import { type Frame, render, textOf } from './frame.js';
import { Handles, INSPECT, INSPECT_DEFINITION } from './handles.js';
import {
  type ConfirmAnswer,
  type ConfirmRequest,
  type Pending,
  Suspend,
  type UserChannel,
  WAIT,
} from './people.js';
import { checkPlan, type PlanContext, type PlanShape, planMessages } from './plan.js';
import { RequestDigests } from './request-digest.js';
import { ServerContent } from './server-content.js';
import { callSignal, stopIfAborted } from './stop.js';
import { DivergenceError, type Tape } from './tape.js';
import {
  type DecodedCall,
  decodeArguments,
  historyOf,
  parseJsonText,
  schemaErrors,
  type ToolResultValue,
  validatorFor,
} from './values.js';

/** What the machine needs from its host: bound models and tools, memory, and the user. */
export interface MachineHost {
  /** The driver bound to a slot. Throws ConfigError when the slot is unbound. */
  model(slot: string): Promise<ModelDriver>;
  /** The provider mounted at a namespace, connected. */
  provider(ns: string): Promise<ToolProvider>;
  /** The label that results from a namespace carry, from the host configuration. */
  namespaceLabel(ns: string): Label;
  /**
   * The label one tool's results carry, where the configuration sets it per tool; `hints`
   * are the server's, which may only make it less trusted.
   */
  toolLabel?(ns: string, tool: string, hints?: ToolHints): Label;
  /**
   * The places in a tool's results that the operator vouches for, each with its label;
   * reading a result at one of them gives that label (with the call's) instead of the whole's.
   */
  vouched?(ns: string, tool: string, hints?: ToolHints): VouchedField[];
  memory: {
    get(key: string): Value | undefined;
    put(key: string, v: Value): void;
  };
  user: UserChannel;
  /** The deadline of one tool call. */
  toolTimeoutMs: number;
  /** A namespace's own deadline, where its configuration sets one. */
  toolTimeout?(ns: string): number | undefined;
  /**
   * Holds a namespace's server and definitions to what the operator approved; throws when
   * they differ.
   */
  checkTools?(ns: string, defs: ToolDefinition[], server: ProviderDescription): void;
  /**
   * How a tool uses what it touches, from the host configuration; `hints` are the server's,
   * which may only add a mode. A call of several modes needs each one granted.
   */
  modeOf?(ns: string, tool: string, hints?: ToolHints): Mode | readonly Mode[];
  /** The resources beyond the tool itself that a call's arguments name (`fs:/abs/path`). */
  resourcesOf?(ns: string, tool: string, args: JsonObject): string[];
  /**
   * Who learns what reaches a sink: `model:<slot>`, `tool:<ns>/<name>` or `user`; a tool's
   * may depend on the call's arguments. Without it, the readers flow rule does not apply.
   */
  recipientsOf?(sink: string, args?: JsonObject): Readers;
  /**
   * The recipients of a call to `ns/tool` named by the arguments `trusted` accepts, and the
   * principal who chose them; the readers rule may release the principal's data to them.
   */
  chosenRecipients?(
    ns: string,
    tool: string,
    args: JsonObject,
    trusted: (arg: string) => boolean,
  ): { by: string; recipients: readonly string[] };
  /** The arguments of a tool that carry content it delivers rather than choose what it does. */
  contentArgs?(ns: string, tool: string): readonly string[];
  /** Which tools of a namespace give their results as handles: all, some, or none. */
  handles?(ns: string): boolean | string[];
  /** Whether a call of this tool may be made again when whether it happened is unknown. */
  idempotent?(ns: string, tool: string): boolean;
}

export type MachineEvent =
  | { type: 'step'; at: string | undefined; op: string; steps: number }
  /**
   * After the instruction `step` announced, nested ones included: whether it ran to its end
   * (or left its block by break, return or halt), suspended the run, or threw.
   */
  | {
      type: 'step.end';
      at: string | undefined;
      op: string;
      ended: 'ok' | 'suspended' | 'failed';
      error?: MvmError;
    }
  | { type: 'decision'; at: string | undefined; decision: Decision }
  | { type: 'model.text'; at: string | undefined; slot: string; delta: string }
  | { type: 'model.reply'; at: string | undefined; slot: string; reply: ModelReply; ms: number }
  | { type: 'tool.result'; at: string | undefined; result: ToolResultValue; ms: number }
  | { type: 'user.show'; at: string | undefined; value: Value }
  | { type: 'run.suspend'; pending: Pending[] }
  | { type: 'run.end'; status: string; error: MvmError | undefined };

interface LoadedTool {
  ns: string;
  def: ToolDefinition;
  validate: ValidateFunction | undefined;
  /** The server's hints in its definition, worked out once per definition. */
  hints: ToolHints;
  /** The places of its results the configuration vouches for, worked out once too. */
  vouched: VouchedField[];
  /** Served by the machine itself, not by the namespace's server. */
  internal?: boolean;
}

export interface EffectsOptions {
  host: MachineHost;
  monitor: Monitor;
  tape: Tape;
  meter: BudgetMeter;
  events?: (event: MachineEvent) => void;
  signal?: AbortSignal;
  /**
   * The label of the branch conditions and loop lists the current instruction runs under.
   * Whether an effect happens at all then depends on them, so every decision counts them.
   */
  pc?: () => Label;
}

const labelJson = (l: Label) => l as unknown as Json;

/** What a decision is about beyond its resource: the call's arguments and id, its mode, the sink. */
interface How {
  args?: Json;
  mode?: Mode | readonly Mode[];
  sink?: Sink;
  callId?: string;
}

/** A tool's hints as a confirmation shows them: none when the server gave none. */
const shown = (hints: ToolHints): { hints?: ToolHints } =>
  Object.keys(hints).length > 0 ? { hints } : {};

/** How often a model without native schema support is asked again for a conforming answer. */
const SCHEMA_RETRIES = 2;
const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * The effectful instructions. Each helper keeps one invariant: the monitor decides and the
 * decision is journaled before anything happens, the intent is journaled before the effect,
 * and the outcome, in full, right after it. On re-execution the tape serves recorded
 * outcomes, so no effect that completed happens twice.
 */
export class Effects {
  private readonly host: MachineHost;
  private readonly monitor: Monitor;
  private readonly tape: Tape;
  private readonly meter: BudgetMeter;
  private readonly events: (event: MachineEvent) => void;
  private readonly signal: AbortSignal | undefined;
  private readonly pc: () => Label;
  private readonly models = new Map<string, ModelDriver>();
  private readonly namespaces = new Map<string, ToolProvider>();
  private readonly tools = new Map<string, LoadedTool>();
  private modelSeq = 0;
  private toolSeq = 0;
  private readonly handles = new Handles();
  private handleSeq = 0;
  private requestSeq = 0;
  private readonly content: ServerContent;
  private readonly requests = new RequestDigests();
  private deadline:
    | { deadline: AbortSignal; signal: AbortSignal; timer: ReturnType<typeof setTimeout> }
    | undefined;

  constructor(options: EffectsOptions) {
    this.host = options.host;
    this.monitor = options.monitor;
    this.tape = options.tape;
    this.meter = options.meter;
    this.events = options.events ?? (() => {});
    this.signal = options.signal;
    this.pc = options.pc ?? (() => PUBLIC_TRUSTED);
    this.content = new ServerContent({
      host: this.host,
      tape: this.tape,
      meter: this.meter,
      signal: this.signal,
      provider: (ns) => this.connected(ns),
      permitted: (resource, at, context, what, how) =>
        this.permitted(resource, at, context, what, how),
      sink: (resource, consequential) => this.sink(resource, consequential),
    });
  }

  /** Events describe what happens now; re-executing the recorded part emits none. */
  private emit(event: MachineEvent): void {
    if (!this.tape.catchingUp) this.events(event);
  }

  /** Asks the monitor and journals the decision; the one gate in front of every effect. */
  private decide(resource: string, at: string | undefined, given: Label, how: How = {}): Decision {
    const { args, mode, sink, callId } = how;
    const context = join(given, this.pc());
    // Re-executing, a decision is the one taken then: rules may have expired since.
    const recorded = this.tape.recall('decision', at);
    if (recorded) {
      const d = recorded.data as JsonObject;
      if (d.resource !== resource) {
        throw new DivergenceError(
          recorded.seq,
          `a decision on ${String(d.resource)}`,
          `one on ${resource}`,
          at,
        );
      }
      return {
        verdict: d.verdict as Decision['verdict'],
        resource,
        rule: (d.rule as string | null) ?? null,
        reason: d.reason as string,
      };
    }
    const decision = this.monitor.decide({ resource, at, context, args, mode, sink });
    const data: JsonObject = {
      resource,
      verdict: decision.verdict,
      rule: decision.rule,
      reason: decision.reason,
      context: labelJson(context),
    };
    if (decision.released) data.released = [...decision.released];
    // Which call it was about, so a decision can be traced without guessing.
    if (callId !== undefined) data.callId = callId;
    this.tape.write('decision', data, at);
    this.emit({ type: 'decision', at, decision });
    return decision;
  }

  // people ───────────────────────────────────────────────────────────────────────────────

  /**
   * A person's answer to a confirmation: recorded (re-execution), given now by the host, or
   * not yet, in which case the run suspends with the request pending.
   */
  private async confirm(request: ConfirmRequest): Promise<ConfirmAnswer> {
    this.tape.write('confirm.request', request as unknown as Json, request.at);
    const recorded = this.tape.answer('confirm.answer', request.id);
    let answer: ConfirmAnswer | typeof WAIT;
    if (recorded) answer = recorded.data as unknown as ConfirmAnswer;
    else {
      this.tape.flush();
      answer = await this.host.user.confirm(request);
      if (answer === WAIT)
        throw new Suspend({ ...request, kind: 'confirm', request: request.kind });
      this.tape.record(
        'confirm.answer',
        { ...answer, id: request.id } as unknown as Json,
        request.at,
      );
    }
    if (answer.verdict === 'always') this.monitor.grantForRun(request.resource);
    return answer;
  }

  /** Decides, asking a person when a rule says so; true when the effect may go ahead. */
  private async permitted(
    resource: string,
    at: string | undefined,
    context: Label,
    what: Omit<ConfirmRequest, 'id' | 'resource' | 'rule' | 'reason' | 'at'>,
    how: Pick<How, 'mode' | 'sink'>,
  ): Promise<{ ok: boolean; reason: string }> {
    const decision = this.decide(resource, at, context, {
      mode: how.mode,
      sink: how.sink,
      args: what.args,
      callId: what.callId,
    });
    return this.settle(decision, at, what);
  }

  /** A decision carried out: allowed, denied, or put to a person, who settles it. */
  private async settle(
    decision: Decision,
    at: string | undefined,
    what: Omit<ConfirmRequest, 'id' | 'resource' | 'rule' | 'reason' | 'at'>,
  ): Promise<{ ok: boolean; reason: string }> {
    if (decision.verdict === 'allow') return { ok: true, reason: decision.reason };
    if (decision.verdict === 'deny')
      return { ok: false, reason: `denied by policy: ${decision.reason}` };
    const answer = await this.confirm({
      id: `c${++this.requestSeq}`,
      resource: decision.resource,
      rule: decision.rule,
      reason: decision.reason,
      at,
      ...what,
    });
    if (answer.verdict === 'deny') {
      return {
        ok: false,
        reason: `denied by a person${answer.reason ? `: ${answer.reason}` : ''}`,
      };
    }
    return { ok: true, reason: 'a person approved it' };
  }

  // model ────────────────────────────────────────────────────────────────────────────────

  async loadModel(slot: string, at?: string): Promise<ModelDriver> {
    const cached = this.models.get(slot);
    if (cached) return cached;
    const driver = await this.host.model(slot);
    const d = driver.describe();
    this.tape.write('model.load', { slot, ...d, capabilities: { ...d.capabilities } }, at);
    this.models.set(slot, driver);
    return driver;
  }

  unloadModel(slot: string): void {
    this.models.delete(slot);
  }

  private toolSpecs(regs: string[] | undefined, frame: Frame, at?: string) {
    const specs: ToolSpec[] = [];
    const labels: Label[] = [];
    for (const reg of regs ?? []) {
      const v = frame.get(reg, at);
      labels.push(v.label);
      specs.push(...toolSpecsOf(v.data, reg, at));
    }
    return { specs, label: joinAll(labels) };
  }

  /** What a planner is told of the offered tools beyond what a model calling them is. */
  private planShapes(regs: string[] | undefined, frame: Frame, at?: string) {
    const shapes = new Map<string, PlanShape>();
    for (const reg of regs ?? []) {
      for (const t of frame.get(reg, at).data as Json[]) {
        const o = t as JsonObject;
        const shape: PlanShape = {};
        if (o.outputSchema !== null && typeof o.outputSchema === 'object') {
          shape.outputSchema = o.outputSchema as JsonObject;
        }
        if (Array.isArray(o.vouched)) shape.vouched = o.vouched as unknown as PlanShape['vouched'];
        if (shape.outputSchema || shape.vouched) shapes.set(o.name as string, shape);
      }
    }
    return shapes;
  }

  private async modelRequest(
    slot: string,
    messages: Message[],
    tools: ToolSpec[],
    schema: JsonSchema | undefined,
    context: Label,
    at: string | undefined,
  ): Promise<ModelReply> {
    this.meter.beforeModelCall(at);
    const sink = this.sink(`model:${slot}`, false);
    const decision = this.decide(`model:${slot}`, at, context, { sink });
    if (decision.verdict !== 'allow') {
      throw new PolicyError('model_denied', `model slot '${slot}' is denied: ${decision.reason}`, {
        slot,
        at,
        rule: decision.rule,
      });
    }
    const driver = await this.loadModel(slot, at);
    const n = ++this.modelSeq;
    this.tape.write(
      'model.intent',
      {
        slot,
        n,
        request: this.requests.of(messages, tools, schema),
        messages: messages.length,
        tools: tools.map((t) => t.name),
      },
      at,
    );

    let reply: ModelReply;
    const recorded = this.tape.outcome('model.reply', 'model.error');
    if (recorded) {
      const d = recorded.data as JsonObject;
      if (recorded.type === 'model.error') throw errorFromJson(d.error as JsonObject);
      reply = d.reply as unknown as ModelReply;
    } else {
      // A model call changes nothing in the world, so one cut off by a stop is made again.
      this.tape.flush();
      const started = performance.now();
      const own = callSignal(() => this.modelSignal());
      try {
        const request: ModelRequest = {
          slot,
          messages,
          tools,
          schema,
          get signal() {
            return own.signal;
          },
          onText: (delta) => this.emit({ type: 'model.text', at, slot, delta }),
        };
        reply = await driver.call(request);
      } catch (e) {
        // Stopped from outside: no outcome is recorded, and a resume asks the model again.
        stopIfAborted(this.signal);
        // Only a call whose driver took the signal can have been ended by the budget's timer.
        const budget = this.deadline?.deadline.aborted === true;
        const err = budget
          ? new BudgetError('wallMs', this.meter.limits.wallMs, this.meter.elapsed(), at)
          : e instanceof MvmError
            ? e
            : new DriverError(
                'driver_failed',
                `model slot '${slot}': ${(e as Error).message}`,
                { slot },
                e,
              );
        this.tape.record('model.error', { slot, n, error: err.toJSON() as JsonObject }, at);
        throw err;
      } finally {
        own.release();
      }
      const ms = performance.now() - started;
      this.tape.record(
        'model.reply',
        { slot, n, reply: reply as unknown as Json, ms: round(ms), label: labelJson(context) },
        at,
      );
      this.emit({ type: 'model.reply', at, slot, reply, ms });
    }
    // Counts from a driver or a replay file are data: only a non-negative number counts.
    this.meter.afterModelCall(
      count(reply.usage?.inputTokens) + count(reply.usage?.outputTokens),
      at,
    );
    return reply;
  }

  /**
   * What ends a model call early: the run's own signal, and the wall-clock budget, which
   * bounds the call too, not only the steps around it. The budget's end is one moment for the
   * whole run, so one timer serves every call; a timer per call cost more than the rest of
   * the call's bookkeeping.
   */
  private modelSignal(): AbortSignal {
    if (!this.deadline) {
      // A timer of its own rather than AbortSignal.timeout, which cannot be cleared: a run
      // that ended would be held in memory until its budget's end.
      const budget = new AbortController();
      const timer = setTimeout(
        () => budget.abort(new DOMException('the wall-clock budget ran out', 'TimeoutError')),
        this.meter.timerMs(),
      );
      timer.unref();
      const deadline = budget.signal;
      const signal = this.signal ? AbortSignal.any([this.signal, deadline]) : deadline;
      this.deadline = { deadline, signal, timer };
    }
    return this.deadline.signal;
  }

  /**
   * A model request whose answer must meet a schema. A model with native support is trusted
   * to meet it; one without is held to it here: an answer off the schema goes back with
   * what is wrong, at most SCHEMA_RETRIES times, each a model call of its own.
   */
  private async schemaRequest(
    slot: string,
    messages: Message[],
    tools: ToolSpec[],
    schema: JsonSchema | undefined,
    context: Label,
    at: string | undefined,
  ): Promise<ModelReply> {
    let reply = await this.modelRequest(slot, messages, tools, schema, context, at);
    if (schema === undefined) return reply;
    const driver = await this.loadModel(slot, at);
    if (driver.describe().capabilities.jsonSchema) return reply;
    let asked = messages;
    for (let retry = 1; retry <= SCHEMA_RETRIES; retry++) {
      if (reply.toolCalls.length > 0) return reply;
      const parsed = parseJsonText(reply.text, schema);
      if (parsed.ok) return reply;
      asked = [
        ...asked,
        { role: 'assistant', content: reply.text },
        {
          role: 'user',
          content:
            `That answer does not meet the schema (${parsed.error}). Answer again, with ` +
            `JSON only, meeting: ${canonicalJson(schema)}`,
        },
      ];
      reply = await this.modelRequest(slot, asked, tools, schema, context, at);
    }
    return reply;
  }

  async callModel(ins: InstructionOf<'model.call'>, frame: Frame): Promise<Value> {
    const history = frame.get(ins.history, ins.at);
    const tools = this.toolSpecs(ins.tools, frame, ins.at);
    const context = join(history.label, tools.label);
    const messages = historyOf(history.data, ins.at);
    const reply = await this.schemaRequest(
      ins.slot,
      messages,
      tools.specs,
      ins.schema,
      context,
      ins.at,
    );
    const data: JsonObject = {
      text: reply.text,
      toolCalls: reply.toolCalls as unknown as Json,
      // What the model was offered: a call it makes reaches only these.
      offered: tools.specs.map((t) => t.name),
      stop: reply.stop,
      usage: { inputTokens: reply.usage.inputTokens, outputTokens: reply.usage.outputTokens },
    };
    if (reply.model !== undefined) data.model = reply.model;
    return value(data, context);
  }

  async extract(ins: InstructionOf<'model.extract'>, frame: Frame): Promise<Value> {
    const instruction = render(ins.instruction, frame, ins.at);
    const input = frame.get(ins.input, ins.at);
    const context = join(instruction.label, input.label);
    const messages: Message[] = [
      {
        role: 'system',
        content:
          'Extract the requested value from the data. Answer with JSON only, meeting this ' +
          `schema: ${canonicalJson(ins.schema)}`,
      },
      { role: 'user', content: `${instruction.data as string}\n\nData:\n${textOf(input.data)}` },
    ];
    const reply = await this.schemaRequest(ins.slot, messages, [], ins.schema, context, ins.at);
    const parsed = parseJsonText(reply.text, ins.schema);
    if (!parsed.ok) {
      throw new TrapError('extract_failed', `model.extract: ${parsed.error}`, ins.at, {
        raw: reply.text,
      });
    }
    if (!this.monitor.endorses(ins.schema)) return value(parsed.value, context);
    // The answer is narrow enough that no instruction fits in it: trusted from here on, and
    // still readable only by those who could read what it came from.
    const endorsed: Label = {
      readers: context.readers,
      integrity: 'trusted',
      sources: [...context.sources.filter((s) => s !== 'endorsed'), 'endorsed'],
    };
    this.tape.write('label.endorse', { label: labelJson(endorsed) }, ins.at);
    return value(parsed.value, endorsed);
  }

  /**
   * Asks the privileged slot for a plan until one passes verification, within the bound the
   * instruction declares. The planner is shown the request and the tools only, so the
   * request must be trusted; a refused plan goes back with the issues found in it.
   */
  async plan(ins: InstructionOf<'model.plan'>, frame: Frame, parent: Image): Promise<LinkedImage> {
    const request = render(ins.request, frame, ins.at);
    const tools = this.toolSpecs(ins.tools, frame, ins.at);
    const context = join(request.label, tools.label);
    if (context.integrity === 'untrusted') {
      const from = context.sources.join(', ');
      throw new TrapError(
        'plan_untrusted',
        `model.plan: the request holds untrusted data (from ${from}); plans are written from trusted data only`,
        ins.at,
      );
    }
    const slots = Object.keys(parent.models ?? {});
    const shapes = this.planShapes(ins.tools, frame, ins.at);
    const messages = planMessages(request.data as string, tools.specs, slots, shapes);
    const planContext = {
      parent,
      offered: tools.specs.map((t) => t.name),
      denied: (resource: string) => {
        const d = this.monitor.decide({ resource });
        return d.verdict === 'deny' ? d.reason : undefined;
      },
    };
    let issues: string[] = [];
    for (let attempt = 1; attempt <= ins.attempts; attempt++) {
      const reply = await this.modelRequest(ins.slot, messages, [], undefined, context, ins.at);
      const check = this.judgePlan(reply.text, planContext, attempt, ins.at);
      issues = check.issues;
      if (check.linked) return check.linked;
      messages.push(
        { role: 'assistant', content: reply.text },
        {
          role: 'user',
          content: `The plan was refused:\n- ${issues.join('\n- ')}\nAnswer with a corrected plan, as JSON only.`,
        },
      );
    }
    throw new TrapError(
      'plan_rejected',
      `model.plan: no plan passed verification in ${ins.attempts} attempt(s); the last: ${issues[0] ?? ''}`,
      ins.at,
      { issues },
    );
  }

  /**
   * Checks a plan and journals the verdict. Re-executing, the verdict is the one reached
   * then, under the rules then: the plan must be the recorded one, and its grants are not
   * asked about again.
   */
  private judgePlan(text: string, context: PlanContext, attempt: number, at?: string) {
    const recorded = this.tape.recall('plan', at);
    if (!recorded) {
      const check = checkPlan(text, context);
      this.tape.write('plan', { attempt, plan: check.plan, issues: check.issues }, at);
      return check;
    }
    const d = recorded.data as JsonObject;
    const check = checkPlan(text, { ...context, denied: () => undefined });
    if (canonicalJson(check.plan) !== canonicalJson(d.plan ?? null)) {
      throw new DivergenceError(recorded.seq, 'the recorded plan', 'another plan', at);
    }
    const issues = (d.issues ?? []) as string[];
    return issues.length === 0 ? check : { plan: check.plan, issues };
  }

  /** A sink for the flow rules: who learns what reaches `resource`, and whether it acts. */
  private sink(resource: string, consequential: boolean, args?: JsonObject): Sink {
    const recipients = this.host.recipientsOf?.(resource, args);
    return recipients === undefined ? { consequential } : { recipients, consequential };
  }

  // tool ─────────────────────────────────────────────────────────────────────────────────

  /** A namespace's provider, connected on first use by whichever instruction needs it. */
  private async connected(ns: string): Promise<ToolProvider> {
    const open = this.namespaces.get(ns);
    if (open) return open;
    const provider = await this.host.provider(ns);
    this.namespaces.set(ns, provider);
    return provider;
  }

  async loadTools(ns: string, at?: string): Promise<Value> {
    // Loading a namespace again lists it again on the same connection.
    const provider = await this.connected(ns);
    const defs = await provider.list();
    this.host.checkTools?.(ns, defs, provider.describe());
    const { list, pins } = this.register(ns, defs);
    // Re-executing, the definitions must be those recorded: a server that changed its tools
    // since the run began diverges here rather than being trusted silently. How the server
    // is started (its paths) may differ between processes and is not compared.
    const { serverName, serverVersion, ...identity } = provider.describe();
    void serverName;
    void serverVersion;
    this.tape.write('tool.load', { ns, server: identity as unknown as Json, tools: pins }, at);
    return value(list, PUBLIC_TRUSTED);
  }

  /** Makes `defs` the namespace's tools, as the model is offered them and as pinned. */
  private register(ns: string, defs: ToolDefinition[]): { list: Json[]; pins: Json[] } {
    for (const [name, t] of this.tools) if (t.ns === ns) this.tools.delete(name);
    const list: Json[] = [];
    const pins: Json[] = [];
    for (const def of defs) {
      // A name that would read as a path or a pattern could slip past the rules written
      // for its namespace; the server is refused rather than the tool dropped.
      if (!/^[^/*\s]+$/.test(def.name)) {
        throw new ProviderError(
          'bad_tool_name',
          `${ns}: the server offers a tool named ${JSON.stringify(def.name)}; tool names may not contain '/', '*' or spaces`,
          { namespace: ns, tool: def.name },
        );
      }
      const qualified = `${ns}/${def.name}`;
      let validate: ValidateFunction | undefined;
      try {
        validate = validatorFor(def.inputSchema);
      } catch {
        // A schema the validator cannot compile still reaches the model; the server checks.
        validate = undefined;
      }
      const hints = toolHints(def);
      // The configuration's word on the result, not the server's: a planner may read these.
      const vouched = this.host.vouched?.(ns, def.name, hints) ?? [];
      this.tools.set(qualified, { ns, def, validate, hints, vouched });
      const entry: JsonObject = {
        name: qualified,
        description: def.description,
        inputSchema: def.inputSchema,
      };
      if (def.outputSchema) entry.outputSchema = def.outputSchema;
      if (vouched.length > 0) {
        entry.vouched = vouched.map((f) => ({ path: f.path, ...f.label }) as unknown as Json);
      }
      list.push(entry);
      pins.push({ name: def.name, digest: digest(def), definition: def as unknown as Json });
    }
    if (this.host.handles?.(ns)) {
      if (defs.some((d) => d.name === INSPECT)) {
        throw new ProviderError(
          'bad_tool_name',
          `${ns}: the server offers a tool named '${INSPECT}', which the machine keeps for handles`,
          { namespace: ns, tool: INSPECT },
        );
      }
      const def = INSPECT_DEFINITION as ToolDefinition;
      const validate = validatorFor(def.inputSchema);
      this.tools.set(`${ns}/${INSPECT}`, {
        ns,
        def,
        validate,
        hints: {},
        vouched: [],
        internal: true,
      });
      list.push({ ...INSPECT_DEFINITION, name: `${ns}/${INSPECT}` } as unknown as Json);
    }
    return { list, pins };
  }

  /**
   * A server that said its tools changed is listed again before its next call, and the new
   * definitions are held to the lock like the first ones: a description rewritten mid-run
   * stops the run. The change is journaled; re-executing, the recorded definitions are
   * taken again, whatever the server now says.
   */
  private async relist(ns: string, at?: string): Promise<void> {
    if (this.tape.catchingUp) {
      const rec = this.tape.take('tool.relist', at);
      if (rec) {
        const pins = ((rec.data as JsonObject).tools ?? []) as JsonObject[];
        this.register(
          ns,
          pins.map((p) => p.definition as unknown as ToolDefinition),
        );
      }
      return;
    }
    const provider = this.namespaces.get(ns);
    if (!provider?.toolsChanged) return;
    const before = new Map(
      [...this.tools.values()]
        .filter((t) => t.ns === ns && !t.internal)
        .map((t) => [t.def.name, digest(t.def)]),
    );
    const defs = await provider.list();
    this.host.checkTools?.(ns, defs, provider.describe());
    const { pins } = this.register(ns, defs);
    const after = new Map(defs.map((d) => [d.name, digest(d)]));
    const changes = [
      ...[...after.keys()].filter((n) => !before.has(n)).map((n) => `+ ${n}`),
      ...[...before.keys()].filter((n) => !after.has(n)).map((n) => `- ${n}`),
      ...[...after].filter(([n, d]) => before.has(n) && before.get(n) !== d).map(([n]) => `~ ${n}`),
    ];
    this.tape.write('tool.relist', { ns, changes, tools: pins }, at);
  }

  async unloadTools(ns: string, at?: string): Promise<void> {
    const provider = this.namespaces.get(ns);
    if (!provider) return;
    this.namespaces.delete(ns);
    for (const [name, t] of this.tools) if (t.ns === ns) this.tools.delete(name);
    await provider.close();
    this.tape.write('tool.unload', { ns }, at);
  }

  /**
   * What a call's arguments do: the label of those that choose what the call does (the
   * context its decision is made in), the label of those the configuration calls content,
   * and the recipients chosen by arguments that nothing untrusted chose.
   */
  private roles(
    tool: LoadedTool,
    args: JsonObject,
    form: Label,
    argLabel: (arg: string) => Label,
  ): { steering: Label; content: Label; chosen?: Sink['chosen'] } {
    const named = this.host.contentArgs?.(tool.ns, tool.def.name) ?? [];
    // Which arguments there are is a choice too.
    let steering = form;
    let content = PUBLIC_TRUSTED;
    for (const key of Object.keys(args)) {
      if (named.includes(key)) content = join(content, argLabel(key));
      else steering = join(steering, argLabel(key));
    }
    if (!this.host.chosenRecipients) return { steering, content };
    const pc = this.pc();
    const trusted = (arg: string) =>
      Object.hasOwn(args, arg) && join(argLabel(arg), pc).integrity === 'trusted';
    const chosen = this.host.chosenRecipients(tool.ns, tool.def.name, args, trusted);
    return chosen.recipients.length > 0 ? { steering, content, chosen } : { steering, content };
  }

  /** The call named by the instruction: a decoded model call, or a literal tool and args. */
  private callOf(
    ins: InstructionOf<'tool.call'>,
    frame: Frame,
  ): { call: DecodedCall; label: Label; form: Label; argLabel: (arg: string) => Label } {
    const seq = ++this.toolSeq;
    if (ins.call !== undefined) {
      const v = frame.get(ins.call, ins.at);
      const o = (v.data ?? {}) as JsonObject;
      const raw = typeof o.arguments === 'string' ? o.arguments : canonicalJson(o.args ?? {});
      const decoded =
        o.args !== undefined
          ? { args: o.args as JsonObject | null, error: (o.error as string | null) ?? null }
          : decodeArguments(raw);
      const call: DecodedCall = {
        id: typeof o.id === 'string' ? o.id : `call_${seq}`,
        name: typeof o.name === 'string' ? o.name : '',
        arguments: raw,
        args: decoded.args,
        error: decoded.error,
      };
      if (Array.isArray(o.offered)) call.offered = o.offered.filter((n) => typeof n === 'string');
      // A model's call is one reply: every argument carries all of it.
      return { call, label: v.label, form: v.label, argLabel: () => v.label };
    }
    const args = frame.get(ins.args!, ins.at);
    const ok = args.data !== null && typeof args.data === 'object' && !Array.isArray(args.data);
    return {
      call: {
        id: `call_${seq}`,
        name: ins.tool!,
        arguments: canonicalJson(args.data),
        args: ok ? (args.data as JsonObject) : null,
        error: ok ? null : 'arguments must be a JSON object',
      },
      label: args.label,
      form: formOf(args.label, args.parts),
      argLabel: (arg) => fieldLabel(args, arg),
    };
  }

  /**
   * The resources a call's arguments name, journaled when there are any: re-executed, they
   * are read back, so a replay needs no configuration to know them.
   */
  private resourcesOf(call: DecodedCall, tool: LoadedTool, args: JsonObject, at?: string) {
    if (this.tape.catchingUp) {
      const rec = this.tape.take('tool.resources', at);
      return rec ? ((rec.data as JsonObject).resources as string[]) : [];
    }
    const resources = this.host.resourcesOf?.(tool.ns, tool.def.name, args) ?? [];
    if (resources.length > 0) this.tape.write('tool.resources', { callId: call.id, resources }, at);
    return resources;
  }

  /** A result the model sees without the tool having run. */
  private refused(call: DecodedCall, reason: string, label: Label, at?: string, denied = false) {
    const result: ToolResultValue = {
      callId: call.id,
      name: call.name,
      ok: false,
      content: reason,
      isError: true,
    };
    if (denied) result.denied = true;
    this.tape.write(
      'tool.refused',
      { callId: call.id, name: call.name, arguments: call.arguments, reason, denied },
      at,
    );
    this.emit({ type: 'tool.result', at, result, ms: 0 });
    return value(result as unknown as Json, label);
  }

  async callTool(ins: InstructionOf<'tool.call'>, frame: Frame): Promise<Value> {
    const at = ins.at;
    const { call, label, form, argLabel } = this.callOf(ins, frame);
    const ns = call.name.slice(0, Math.max(0, call.name.indexOf('/')));
    if (this.namespaces.has(ns)) await this.relist(ns, at);
    const tool = this.tools.get(call.name);

    if (call.error !== null) return this.refused(call, call.error, label, at);
    if (call.offered && !call.offered.includes(call.name)) {
      const list = call.offered.join(', ') || 'none';
      return this.refused(
        call,
        `tool '${call.name}' was not offered; the tools are: ${list}`,
        label,
        at,
      );
    }
    if (!tool) {
      const known = [...this.tools.keys()].join(', ') || 'none';
      const unloaded =
        ns !== '' && !this.namespaces.has(ns)
          ? ` (namespace '${ns}' is not loaded: tool.load)`
          : '';
      return this.refused(
        call,
        `unknown tool '${call.name}'${unloaded}; the tools are: ${known}`,
        label,
        at,
      );
    }
    // Handles passed as arguments are put in place first: the tool's schema is for content.
    const resolved = this.handles.resolve(call.args!);
    if (resolved.missing !== undefined) {
      return this.refused(call, `there is no handle '${resolved.missing}'`, label, at);
    }
    // Which handle goes where is a choice: untrusted data may not make it, or a reference
    // written into a page could pull in what nobody passed.
    for (const key of resolved.byArg.keys()) {
      if (argLabel(key).integrity === 'trusted') continue;
      return this.refused(call, `a handle in '${key}' is named by untrusted data`, label, at);
    }
    // An argument carries the handles put in it: their integrity counts where it chooses.
    const argAndHandles = (key: string) => {
      const held = resolved.byArg.get(key);
      return held ? join(argLabel(key), held) : argLabel(key);
    };
    const args = resolved.args;
    if (tool.validate && !tool.validate(args)) {
      return this.refused(call, `invalid arguments: ${schemaErrors(tool.validate)}`, label, at);
    }
    const inspected = tool.internal ? this.handles.get(String(args.handle)) : undefined;
    if (tool.internal && !inspected) {
      return this.refused(call, `there is no handle '${String(args.handle)}'`, label, at);
    }

    // The server's hints, as recorded when its tools were listed: the host may only grow
    // stricter by them, and a person asked to confirm the call is shown them.
    const { hints } = tool;
    const mode = tool.internal
      ? 'read'
      : (this.host.modeOf?.(tool.ns, tool.def.name, hints) ?? 'write');
    const what = { kind: 'tool' as const, tool: call.name, callId: call.id, args, ...shown(hints) };
    const resource = `tool:${call.name}`;
    const roles = tool.internal
      ? { steering: label, content: PUBLIC_TRUSTED }
      : this.roles(tool, args, form, argAndHandles);
    const consequential = (typeof mode === 'string' ? [mode] : mode).some((m) => m !== 'read');
    // What content arguments carry, handles put there included, flows to the tool without
    // choosing what it does: its readers count, its integrity does not.
    const sink = this.sink(resource, consequential, args);
    sink.data = roles.content;
    if (roles.chosen) sink.chosen = roles.chosen;
    const how = { args, callId: call.id, mode };
    const decisions = [this.decide(resource, at, roles.steering, { ...how, sink })];
    // Every resource the arguments name must pass too: a path outside what the rules allow
    // is refused however the tool itself is allowed. All are decided before a person is
    // asked about any, so nobody approves a call the rules refuse anyway.
    if (decisions[0]!.verdict !== 'deny') {
      for (const derived of this.resourcesOf(call, tool, args, at)) {
        const decision = this.decide(derived, at, label, how);
        decisions.push(decision);
        if (decision.verdict === 'deny') break;
      }
    }
    // A deny can only be the last: settling it alone refuses the call without asking.
    const last = decisions.at(-1)!;
    for (const decision of last.verdict === 'deny' ? [last] : decisions) {
      const p = await this.settle(decision, at, what);
      if (!p.ok) return this.refused(call, p.reason, label, at, true);
    }

    this.meter.beforeToolCall(at);
    const provider = inspected ? readHandle(inspected.content) : this.namespaces.get(tool.ns)!;
    const wasCatchingUp = this.tape.catchingUp;
    const intent: JsonObject = { callId: call.id, name: call.name, args };
    if (resolved.used.length > 0) intent.handles = resolved.used;
    this.tape.write('tool.intent', intent, at);
    // The result names the call it came from, so a label can be traced to its journal entry.
    const source = `tool:${call.name}#${call.id}`;
    const toolLabel =
      this.host.toolLabel?.(tool.ns, tool.def.name, hints) ?? this.host.namespaceLabel(tool.ns);
    const resultLabel = inspected
      ? join(label, inspected.label)
      : join(label, {
          integrity: toolLabel.integrity,
          readers: toolLabel.readers,
          sources: [source],
        });
    const vouched = tool.vouched.map((f) => ({
      path: f.path,
      steps: f.steps,
      label: join(label, { ...f.label, sources: [source] }),
    }));
    const asHandle = !tool.internal && this.givesHandles(tool.ns, tool.def.name);

    // Each attempt has its own intent: an approval to repeat a call covers one attempt, and
    // a stop during the repeat is asked about again.
    let catchingUp = wasCatchingUp;
    for (let attempt = 1; ; attempt++) {
      const recorded = this.tape.outcome('tool.result', 'tool.error');
      if (recorded) {
        const d = recorded.data as JsonObject;
        if (recorded.type === 'tool.error') throw errorFromJson(d.error as JsonObject);
        const { ms: _ms, label: _label, fields: _fields, ...result } = d;
        if (asHandle) return this.held(result as unknown as ToolResultValue, label, resultLabel);
        return resultValue(result as unknown as ToolResultValue, resultLabel, vouched);
      }
      if (!catchingUp) break;
      await this.unknownOutcome(call, tool, args, at);
      catchingUp = this.tape.catchingUp;
      this.tape.write(
        'tool.intent',
        { callId: call.id, name: call.name, args, attempt: attempt + 1 },
        at,
      );
    }

    this.tape.flush();
    const started = performance.now();
    let outcome: Awaited<ReturnType<ToolProvider['call']>>;
    const own = callSignal(() => this.signal);
    try {
      const limit = this.host.toolTimeout?.(tool.ns) ?? this.host.toolTimeoutMs;
      const timeoutMs = this.meter.timerMs(limit);
      const options = {
        timeoutMs,
        get signal() {
          return own.signal;
        },
      };
      outcome = await provider.call(tool.def.name, args, options);
      // A call that failed because the run was stopped (a host function gives up when its
      // signal fires) has no outcome either.
      if (outcome.isError) stopIfAborted(this.signal);
    } catch (e) {
      // Stopped from outside mid-call: whether the call took effect is not known, so no
      // outcome is recorded, and a resume treats it as such.
      stopIfAborted(this.signal);
      const err =
        e instanceof MvmError
          ? e
          : new ProviderError('call_failed', `tool '${call.name}': ${(e as Error).message}`, {}, e);
      if (err instanceof ProviderError && err.code === 'timeout') {
        return this.timedOut(call, err, performance.now() - started, resultLabel, at);
      }
      this.tape.record(
        'tool.error',
        { callId: call.id, name: call.name, error: err.toJSON() as JsonObject },
        at,
      );
      throw err;
    } finally {
      own.release();
    }
    const ms = performance.now() - started;
    const result: ToolResultValue = {
      callId: call.id,
      name: call.name,
      ok: !outcome.isError,
      content: outcome.text,
      isError: outcome.isError,
      blocks: outcome.content,
    };
    if (outcome.structured !== undefined) result.structured = outcome.structured;
    const out = resultValue(result, resultLabel, vouched);
    // The result's own fields, then the call's time and the label it took.
    const entry: JsonObject = {
      callId: result.callId,
      name: result.name,
      ok: result.ok,
      content: result.content,
      isError: result.isError,
      blocks: outcome.content,
    };
    if (result.structured !== undefined) entry.structured = result.structured;
    entry.ms = round(ms);
    entry.label = labelJson(out.label);
    // What the operator vouched for in this result, as the labels its places took.
    if (out.parts) {
      entry.fields = vouched.map((f) => ({ path: f.path, label: labelJson(f.label) }));
    }
    this.tape.record('tool.result', entry, at);
    this.emit({ type: 'tool.result', at, result, ms });
    if (asHandle) return this.held(result, label, resultLabel);
    return out;
  }

  private givesHandles(ns: string, tool: string): boolean {
    const which = this.host.handles?.(ns) ?? false;
    return Array.isArray(which) ? which.includes(tool) : which;
  }

  /**
   * Keeps a result behind a handle: the machine holds the content with its label, and the
   * model is given the reference, labelled as the call was, since it says nothing the tool
   * returned. Handles are numbered in the order results arrive, so re-execution gives the
   * same ones.
   */
  private held(result: ToolResultValue, callLabel: Label, contentLabel: Label): Value {
    const id = `h${++this.handleSeq}`;
    const text = this.handles.add(id, result.name, result.content, contentLabel);
    const shown: ToolResultValue = {
      callId: result.callId,
      name: result.name,
      ok: result.ok,
      content: text,
      isError: result.isError,
      handle: id,
    };
    return value(shown as unknown as Json, callLabel);
  }

  /**
   * A call past its deadline is answered to the model, which may try another way; the server
   * may still have done it, so the answer says so, and it is the call's recorded outcome: a
   * resumed run does not make the call again.
   */
  private timedOut(call: DecodedCall, err: ProviderError, ms: number, label: Label, at?: string) {
    const result: ToolResultValue = {
      callId: call.id,
      name: call.name,
      ok: false,
      content: `the call did not finish in time (${err.message}); it may or may not have taken effect`,
      isError: true,
      timedOut: true,
    };
    this.tape.record(
      'tool.result',
      { ...(result as unknown as JsonObject), ms: round(ms), label: labelJson(label) },
      at,
    );
    this.emit({ type: 'tool.result', at, result, ms });
    return value(result as unknown as Json, label);
  }

  /**
   * The journal holds this call's intent but no outcome: the process stopped while the call
   * was under way, and nobody knows whether it happened. It is marked, and made again only
   * when a person says so.
   */
  private async unknownOutcome(
    call: DecodedCall,
    tool: LoadedTool,
    args: JsonObject,
    at?: string,
  ): Promise<void> {
    // What was decided the first time holds on every later re-execution, whatever the
    // configuration says by then.
    const recalled = this.tape.recall('tool.unknown', at);
    const repeat = recalled
      ? (recalled.data as JsonObject).retry === 'idempotent'
      : (this.host.idempotent?.(tool.ns, tool.def.name) ?? false);
    const entry: JsonObject = { callId: call.id, name: call.name };
    if (repeat) entry.retry = 'idempotent';
    if (!recalled) this.tape.write('tool.unknown', entry, at);
    if (repeat) return;
    const answer = await this.confirm({
      id: `c${++this.requestSeq}`,
      kind: 'unknown_outcome',
      resource: `tool:${call.name}`,
      tool: call.name,
      callId: call.id,
      args,
      ...shown(tool.hints),
      rule: null,
      reason: 'the run stopped while this call was under way; it may or may not have happened',
      at,
    });
    if (answer.verdict === 'deny') {
      throw new TrapError('unknown_outcome', `a person chose not to repeat '${call.name}'`, at);
    }
  }

  // resources and prompts ───────────────────────────────────────────────────────────────

  listResources(ns: string, at?: string): Promise<Value> {
    return this.content.listResources(ns, at);
  }

  readResource(ins: InstructionOf<'resource.read'>, frame: Frame): Promise<Value> {
    return this.content.readResource(ins, frame);
  }

  listPrompts(ns: string, at?: string): Promise<Value> {
    return this.content.listPrompts(ns, at);
  }

  getPrompt(ins: InstructionOf<'prompt.get'>, frame: Frame): Promise<Value> {
    return this.content.getPrompt(ins, frame);
  }

  // memory ───────────────────────────────────────────────────────────────────────────────

  memStore(key: Value, given: Value, at?: string): void {
    const k = key.data as string;
    // What is stored keeps what chose where it went and whether it was stored at all: a
    // value stored under an untrusted branch, or at a key untrusted data wrote, is as
    // untrusted when it is loaded again.
    const v = taint(given, join(key.label, this.pc()));
    const decision = this.decide(`mem:${k}`, at, v.label);
    if (decision.verdict !== 'allow') {
      throw new PolicyError('memory_denied', `memory key '${k}' is denied: ${decision.reason}`, {
        key: k,
        at,
      });
    }
    // Storing is idempotent, so it comes before its entry: a stop between the two stores the
    // same value again on resume, and a recorded entry means the value is stored.
    const live = !this.tape.catchingUp;
    if (live) {
      this.tape.flush();
      this.host.memory.put(k, v);
    }
    this.tape.write('mem.store', { key: k, data: v.data, label: labelJson(v.label) }, at);
  }

  memLoad(key: Value, fallback: Json, at?: string): Value {
    const k = key.data as string;
    const decision = this.decide(`mem:${k}`, at, key.label);
    if (decision.verdict !== 'allow') {
      throw new PolicyError('memory_denied', `memory key '${k}' is denied: ${decision.reason}`, {
        key: k,
        at,
      });
    }
    const recorded = this.tape.outcome('mem.load');
    if (recorded) {
      const d = recorded.data as JsonObject;
      return { data: d.data ?? null, label: d.label as unknown as Label };
    }
    const found = this.host.memory.get(k);
    // The key chose which value comes back, or whether the default does.
    const v = taint(found ?? value(fallback), key.label);
    this.tape.record(
      'mem.load',
      { key: k, found: found !== undefined, data: v.data, label: labelJson(v.label) },
      at,
    );
    return v;
  }

  // user ─────────────────────────────────────────────────────────────────────────────────

  async show(v: Value, at?: string): Promise<void> {
    const decision = this.decide('user', at, v.label, { sink: this.sink('user', false) });
    if (decision.verdict !== 'allow') {
      throw new PolicyError('user_denied', `showing to the user is denied: ${decision.reason}`, {
        at,
      });
    }
    const live = !this.tape.catchingUp;
    this.tape.write('user.show', { data: v.data, label: labelJson(v.label) }, at);
    if (!live) return;
    this.tape.flush();
    this.emit({ type: 'user.show', at, value: v });
    await this.host.user.show(v, at);
  }

  async ask(ins: InstructionOf<'user.ask'>, frame: Frame): Promise<Value> {
    const prompt = render(ins.prompt, frame, ins.at);
    const sink = this.sink('user', false);
    const decision = this.decide('user', ins.at, prompt.label, { sink });
    if (decision.verdict !== 'allow') {
      throw new PolicyError('user_denied', `asking the user is denied: ${decision.reason}`, {
        at: ins.at,
      });
    }
    const id = `q${++this.requestSeq}`;
    const schema = ins.schema ?? null;
    this.tape.write('user.ask', { id, prompt: prompt.data, schema }, ins.at);

    const recorded = this.tape.answer('user.answer', id);
    let answer: Json;
    if (recorded) answer = (recorded.data as JsonObject).answer ?? null;
    else {
      this.tape.flush();
      let given = await this.host.user.ask(prompt.data as string, ins.schema, ins.at);
      // A person who answers off the schema is asked again, a few times, before the run fails.
      for (let tries = 1; tries < 3 && given !== WAIT && ins.schema !== undefined; tries++) {
        if (validatorFor(ins.schema)(given)) break;
        given = await this.host.user.ask(prompt.data as string, ins.schema, ins.at);
      }
      if (given === WAIT) {
        throw new Suspend({
          kind: 'question',
          id,
          prompt: prompt.data as string,
          schema,
          at: ins.at,
        });
      }
      answer = given;
      // Kept even when it fails the schema: a replay must meet the same answer, and trap alike.
      this.tape.record('user.answer', { id, answer }, ins.at);
    }
    if (ins.schema !== undefined) {
      const v = validatorFor(ins.schema);
      if (!v(answer)) {
        throw new TrapError(
          'bad_answer',
          `the answer does not meet the schema: ${schemaErrors(v)}`,
          ins.at,
        );
      }
    }
    return value(answer, { readers: 'public', integrity: 'trusted', sources: ['user'] });
  }

  /** Closes every tool provider the run connected. */
  async close(): Promise<void> {
    if (this.deadline) clearTimeout(this.deadline.timer);
    const providers = [...this.namespaces.values()];
    this.namespaces.clear();
    await Promise.allSettled(providers.map((p) => p.close()));
  }
}

/**
 * A tool result as a value. Where the operator vouches for places in it, and the tool did
 * not fail, its content (as JSON text) and its structured content both take those places'
 * labels; the whole, and anything else in it, keeps the join of all.
 */
function resultValue(
  result: ToolResultValue,
  whole: Label,
  vouched: { steps: Step[]; label: Label }[],
): Value {
  if (vouched.length === 0 || result.isError || !result.ok)
    return value(result as unknown as Json, whole);
  const { label, parts } = partsOf(vouched, whole);
  if (!parts) return value(result as unknown as Json, whole);
  const inner = { label, parts };
  // The text has the vouched places only when it is the structured content's JSON, or all
  // there is: a server may send structured content beside a text someone else wrote.
  const text = result.structured === undefined || sameJson(result.content, result.structured);
  return {
    data: result as unknown as Json,
    label,
    // The envelope's keys are the machine's; whether it holds structured content, the
    // provider's, as vouched.
    parts: {
      form: parts.form,
      fields: text ? { content: inner, structured: inner } : { structured: inner },
    },
  };
}

/** Whether `text` is JSON for the same value as `data`. */
function sameJson(text: string, data: Json): boolean {
  try {
    return canonicalJson(JSON.parse(text) as Json) === canonicalJson(data);
  } catch {
    return false;
  }
}

/** A tool list's specs, made once per list: values do not change, and the same specs hash alike. */
const specsByList = new WeakMap<object, ToolSpec[]>();

function toolSpecsOf(data: Json, reg: string, at?: string): ToolSpec[] {
  if (!Array.isArray(data)) {
    throw new TrapError('not_a_tool_list', `'${reg}' is not a tool list`, at);
  }
  const known = specsByList.get(data);
  if (known) return known;
  const specs: ToolSpec[] = [];
  for (const t of data) {
    const o = t as JsonObject;
    const schema = o?.inputSchema;
    if (typeof o?.name !== 'string' || typeof schema !== 'object' || schema === null) {
      throw new TrapError('not_a_tool_list', `'${reg}' holds something not a tool`, at);
    }
    specs.push({
      name: o.name as string,
      description: o.description as string,
      inputSchema: o.inputSchema as JsonObject,
    });
  }
  specsByList.set(data, specs);
  return specs;
}

/** The machine's own provider for one handle's content, read by `inspect_handle`. */
function readHandle(content: string): ToolProvider {
  const unused = () => {
    throw new InternalError('the handle reader only reads');
  };
  return {
    describe: unused,
    connect: unused,
    list: unused,
    close: async () => {},
    call: async () => ({
      text: content,
      isError: false,
      content: [{ type: 'text', text: content }],
    }),
  } as unknown as ToolProvider;
}
