import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { MachineEvent } from '../interpreter/effects.js';
import type { ToolResultValue } from '../interpreter/values.js';
import type {
  Message,
  ModelBinding,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  StopReason,
} from '../models/driver.js';
import { count } from '../models/wire.js';
import { MvmError, ProviderError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import type {
  CallOptions,
  Offering,
  ToolDefinition,
  ToolProvider,
  ToolResult,
} from '../tools/provider.js';

/**
 * OpenTelemetry spans of a run, through the API alone: the host application registers the
 * SDK and chooses the exporter. A run is an `invoke_agent <image>` span; each instruction a
 * span named by its opcode under it, nested as the instructions are (a `call` holds its
 * procedure's, a `loop` its body's); each live model call a `chat <model>` span and each tool
 * call an `execute_tool <ns/name>` span under the instruction that made it, with the
 * attributes of the generative-AI semantic conventions. What is served from the journal on
 * resume made no call, and has no span.
 *
 * Spans carry no content (messages, arguments, results) unless the host configuration says
 * `telemetry: { captureContent: true }`.
 */
export interface TelemetryConfig {
  captureContent: boolean;
  /** A span per instruction; default yes. Without, model and tool spans sit under the run's. */
  instructions?: boolean;
}

const SCOPE = 'mvm';

/** The keys MCP reserves in `_meta` for W3C trace context and baggage. */
const CARRIED = ['traceparent', 'tracestate', 'baggage'];

/** The driver ids whose wire format is another provider's, by the name the conventions use. */
const PROVIDERS: Record<string, string> = {
  'openai-compatible': 'openai',
  'openai-responses': 'openai',
};

const FINISH: Record<StopReason, string> = {
  end: 'stop',
  tool_calls: 'tool_call',
  length: 'length',
  filter: 'content_filter',
  other: 'other',
};

export interface RunIdentity {
  runId: string;
  image: string;
  imageDigest: string;
  /** The run re-executes a journal before it goes on live. */
  resumed: boolean;
}

/**
 * The spans of one run. `start` gives none when the run span does not record (no SDK is
 * registered, or the sampler dropped it): the run then goes untouched, its drivers and
 * providers unwrapped, and telemetry costs one no-op span per run.
 */
export class RunTelemetry {
  private open: { span: Span; name: string } | undefined;
  private readonly usage = { input: 0, output: 0 };
  private steps = 0;
  /** The instructions under way, innermost last, each with the context its children take. */
  private readonly running: Array<{ span: Span; context: Context }> = [];

  private constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    /** The run span's context: the parent of every span of the run. */
    readonly context: Context,
    private readonly capture: boolean,
    private readonly instructions: boolean,
  ) {}

  static start(run: RunIdentity, config?: TelemetryConfig): RunTelemetry | undefined {
    const tracer = trace.getTracer(SCOPE);
    const span = tracer.startSpan(`invoke_agent ${run.image}`, {
      kind: SpanKind.INTERNAL,
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': run.image },
    });
    if (!span.isRecording()) {
      span.end();
      return undefined;
    }
    span.setAttributes({
      'mvm.run.id': run.runId,
      'mvm.image.name': run.image,
      'mvm.image.digest': run.imageDigest,
      'mvm.run.resumed': run.resumed,
    });
    const parent = trace.setSpan(context.active(), span);
    const capture = config?.captureContent ?? false;
    return new RunTelemetry(tracer, span, parent, capture, config?.instructions ?? true);
  }

  /** Runs `fn` with the run span active, for spans the host's own instrumentation makes. */
  within<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  driver(slot: string, inner: ModelDriver, binding?: ModelBinding): ModelDriver {
    return new TracedDriver(inner, (request) => this.chat(slot, inner, request, binding));
  }

  provider(inner: ToolProvider): ToolProvider {
    return new TracedProvider(inner, (name, args, options, defs) =>
      this.tool(inner, name, args, options, defs),
    );
  }

  /** Passes the run's events on to `next`, after reading what the spans need from them. */
  listen(next?: (event: MachineEvent) => void): (event: MachineEvent) => void {
    return (event) => {
      this.event(event);
      next?.(event);
    };
  }

  /** Ends the run span; `error` is the outcome's, or what the machine threw. */
  end(status: string, error?: unknown, pending = 0): void {
    this.settle();
    // A machine that threw past its instructions left them open; they end with the run.
    for (const open of this.running.splice(0).reverse()) open.span.end();
    this.span.setAttributes({
      'mvm.run.status': status,
      'mvm.run.steps': this.steps,
      'gen_ai.usage.input_tokens': this.usage.input,
      'gen_ai.usage.output_tokens': this.usage.output,
    });
    if (pending > 0) this.span.setAttribute('mvm.run.pending', pending);
    if (error !== undefined) failed(this.span, error);
    this.span.end();
  }

  private event(event: MachineEvent): void {
    if (event.type === 'step') this.instructionStart(event.op, event.at, event.steps);
    else if (event.type === 'step.end') this.instructionEnd(event.ended, event.error);
    else if (event.type === 'tool.result') this.toolResult(event.result);
    else if (event.type === 'decision' && event.decision.verdict !== 'allow') {
      // Allowed effects show as their own spans; what the monitor held back shows here.
      const { verdict, resource, rule, reason } = event.decision;
      this.span.addEvent('mvm.decision', {
        'mvm.decision.verdict': verdict,
        'mvm.decision.resource': resource,
        'mvm.decision.rule': rule ?? '(default)',
        'mvm.decision.reason': reason,
      });
    }
  }

  /** The context a span starts in: the innermost instruction's, else the run's. */
  private get parent(): Context {
    return this.running[this.running.length - 1]?.context ?? this.context;
  }

  private instructionStart(op: string, at: string | undefined, step: number): void {
    this.steps = step;
    if (!this.instructions) return;
    const attributes: Attributes = { 'mvm.instruction.op': op, 'mvm.instruction.step': step };
    if (at !== undefined) attributes['mvm.instruction.at'] = at;
    const span = this.tracer.startSpan(op, { kind: SpanKind.INTERNAL, attributes }, this.parent);
    this.running.push({ span, context: trace.setSpan(this.context, span) });
  }

  private instructionEnd(ended: 'ok' | 'suspended' | 'failed', error?: MvmError): void {
    if (!this.instructions) return;
    const open = this.running.pop();
    if (!open) return;
    // A tool span waits for its result event, which comes before its instruction ends.
    this.settle();
    if (ended === 'suspended') open.span.setAttribute('mvm.instruction.suspended', true);
    else if (ended === 'failed') {
      open.span.setAttribute('error.type', error?.code ?? '_OTHER');
      open.span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message ?? 'failed' });
    }
    open.span.end();
  }

  private async chat(
    slot: string,
    inner: ModelDriver,
    request: ModelRequest,
    binding?: ModelBinding,
  ): Promise<ModelReply> {
    const d = inner.describe();
    const span = this.tracer.startSpan(
      `chat ${d.model}`,
      { kind: SpanKind.CLIENT, attributes: chatAttributes(d, binding) },
      this.parent,
    );
    const recording = span.isRecording();
    let call = request;
    let firstChunk: number | undefined;
    const started = performance.now();
    if (recording) {
      span.setAttribute('mvm.model.slot', slot);
      if (request.schema !== undefined) span.setAttribute('gen_ai.output.type', 'json');
      if (d.capabilities.streaming) span.setAttribute('gen_ai.request.stream', true);
      if (this.capture) {
        span.setAttribute('gen_ai.input.messages', JSON.stringify(request.messages.map(partsOf)));
      }
      const onText = request.onText;
      if (onText) {
        call = {
          ...request,
          onText: (delta) => {
            firstChunk ??= performance.now();
            onText(delta);
          },
        };
      }
    }
    try {
      const reply = await context.with(trace.setSpan(this.parent, span), () => inner.call(call));
      this.usage.input += count(reply.usage?.inputTokens);
      this.usage.output += count(reply.usage?.outputTokens);
      if (recording) {
        span.setAttributes({
          'gen_ai.usage.input_tokens': count(reply.usage?.inputTokens),
          'gen_ai.usage.output_tokens': count(reply.usage?.outputTokens),
          'gen_ai.response.finish_reasons': [FINISH[reply.stop] ?? 'other'],
        });
        if (reply.model !== undefined) span.setAttribute('gen_ai.response.model', reply.model);
        if (firstChunk !== undefined) {
          span.setAttribute('gen_ai.response.time_to_first_chunk', (firstChunk - started) / 1000);
        }
        if (this.capture) {
          span.setAttribute('gen_ai.output.messages', JSON.stringify([outputOf(reply)]));
        }
      }
      return reply;
    } catch (e) {
      failed(span, e);
      throw e;
    } finally {
      span.end();
    }
  }

  /**
   * A live tool call. Its span stays open after the call returns, for the `tool.result` event
   * that follows at once: that event names the call id and tells a tool's failure from a
   * timeout. A call that throws anything but a timeout is followed by no event, and ends here.
   */
  private async tool(
    inner: ToolProvider,
    name: string,
    args: JsonObject,
    options: CallOptions,
    defs: Map<string, string>,
  ): Promise<ToolResult> {
    this.settle();
    const qualified = `${inner.namespace}/${name}`;
    const span = this.toolSpan(qualified);
    const ctx = trace.setSpan(this.parent, span);
    if (span.isRecording()) {
      span.setAttribute('mvm.tool.namespace', inner.namespace);
      const description = defs.get(name);
      if (description) span.setAttribute('gen_ai.tool.description', description);
      if (this.capture) span.setAttribute('gen_ai.tool.call.arguments', JSON.stringify(args));
    }
    const traced = { ...options, traceContext: carrierOf(ctx, span) };
    try {
      const result = await context.with(ctx, () => inner.call(name, args, traced));
      this.open = { span, name: qualified };
      return result;
    } catch (e) {
      failed(span, e);
      if (e instanceof ProviderError && e.code === 'timeout') this.open = { span, name: qualified };
      else span.end();
      throw e;
    }
  }

  private toolSpan(name: string): Span {
    return this.tracer.startSpan(
      `execute_tool ${name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': name },
      },
      this.parent,
    );
  }

  /** A result: of the open call, or of one the machine answered itself (refused, a handle). */
  private toolResult(result: ToolResultValue): void {
    const open = this.open?.name === result.name ? this.open : undefined;
    if (open) this.open = undefined;
    else this.settle();
    const span = open?.span ?? this.toolSpan(result.name);
    if (span.isRecording()) {
      span.setAttribute('gen_ai.tool.call.id', result.callId);
      if (result.handle !== undefined) span.setAttribute('mvm.tool.handle', result.handle);
      // The machine's own reasons are no content; what a failing tool said is.
      const problem = result.denied
        ? 'denied'
        : result.timedOut
          ? 'timeout'
          : !result.isError
            ? undefined
            : open
              ? 'tool_error'
              : 'refused';
      if (problem !== undefined) {
        const own = problem !== 'tool_error' || this.capture;
        span.setAttribute('error.type', problem);
        span.setStatus({ code: SpanStatusCode.ERROR, ...(own ? { message: result.content } : {}) });
      } else if (this.capture) {
        const out = result.structured === undefined ? result.content : result.structured;
        const text = typeof out === 'string' ? out : JSON.stringify(out);
        span.setAttribute('gen_ai.tool.call.result', text);
      }
    }
    span.end();
  }

  /** Ends a tool span still waiting for its result. */
  private settle(): void {
    this.open?.span.end();
    this.open = undefined;
  }
}

class TracedDriver implements ModelDriver {
  constructor(
    private readonly inner: ModelDriver,
    private readonly traced: (request: ModelRequest) => Promise<ModelReply>,
  ) {}

  describe(): ModelDescription {
    return this.inner.describe();
  }

  call(request: ModelRequest): Promise<ModelReply> {
    return this.traced(request);
  }

  resumeAfter(replies: ModelReply[]): void {
    this.inner.resumeAfter?.(replies);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

type TracedCall = (
  name: string,
  args: JsonObject,
  options: CallOptions,
  descriptions: Map<string, string>,
) => Promise<ToolResult>;

class TracedProvider implements ToolProvider {
  private readonly descriptions = new Map<string, string>();

  constructor(
    private readonly inner: ToolProvider,
    private readonly traced: TracedCall,
  ) {}

  get namespace(): string {
    return this.inner.namespace;
  }

  get toolsChanged(): boolean {
    return this.inner.toolsChanged ?? false;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  async list(): Promise<ToolDefinition[]> {
    const defs = await this.inner.list();
    for (const d of defs) this.descriptions.set(d.name, d.description);
    return defs;
  }

  call(name: string, args: JsonObject, options: CallOptions): Promise<ToolResult> {
    return this.traced(name, args, options, this.descriptions);
  }

  // Resources and prompts pass through untraced: the spans are for model and tool calls.
  offers(what: Offering): boolean {
    return this.inner.offers?.(what) ?? false;
  }

  listResources() {
    return this.inner.listResources!();
  }

  readResource(uri: string, options: CallOptions) {
    return this.inner.readResource!(uri, options);
  }

  listPrompts() {
    return this.inner.listPrompts!();
  }

  getPrompt(name: string, args: Record<string, string>, options: CallOptions) {
    return this.inner.getPrompt!(name, args, options);
  }

  describe() {
    return this.inner.describe();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** What a sampler may want at a model span's start: the operation, provider, model, server. */
function chatAttributes(d: ModelDescription, binding?: ModelBinding): Attributes {
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': PROVIDERS[d.provider] ?? d.provider,
    'gen_ai.request.model': d.model,
  };
  const base = binding?.baseUrl;
  if (typeof base === 'string' && URL.canParse(base)) {
    const url = new URL(base);
    attributes['server.address'] = url.hostname;
    attributes['server.port'] = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  }
  return attributes;
}

/**
 * The W3C trace context a call passes on (`_meta` of an MCP request): through the propagator
 * the application registered, else formatted from the span, since MCP names that format.
 */
function carrierOf(ctx: Context, span: Span): Record<string, string> {
  const injected: Record<string, string> = {};
  propagation.inject(ctx, injected);
  const carrier: Record<string, string> = {};
  for (const key of CARRIED) if (injected[key] !== undefined) carrier[key] = injected[key];
  const sc = span.spanContext();
  if (carrier.traceparent === undefined && isSpanContextValid(sc)) {
    const flags = (sc.traceFlags & 0xff).toString(16).padStart(2, '0');
    carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-${flags}`;
    const state = sc.traceState?.serialize();
    if (state) carrier.tracestate = state;
  }
  return carrier;
}

function failed(span: Span, error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  span.recordException(e);
  span.setAttribute('error.type', e instanceof MvmError ? e.code : e.name || '_OTHER');
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}

/** A message in the conventions' form: a role and its parts. */
function partsOf(m: Message): JsonObject {
  if (m.role === 'tool') {
    return {
      role: 'tool',
      parts: [{ type: 'tool_call_response', id: m.callId, response: m.content }],
    };
  }
  const parts: JsonObject[] = m.content === '' ? [] : [{ type: 'text', content: m.content }];
  if (m.role === 'assistant') {
    for (const c of m.toolCalls ?? []) parts.push(toolCallPart(c.id, c.name, c.arguments));
  }
  return { role: m.role, parts };
}

function outputOf(reply: ModelReply): JsonObject {
  const parts: JsonObject[] = reply.text === '' ? [] : [{ type: 'text', content: reply.text }];
  for (const c of reply.toolCalls) parts.push(toolCallPart(c.id, c.name, c.arguments));
  return { role: 'assistant', parts, finish_reason: FINISH[reply.stop] ?? 'other' };
}

/** Arguments as an object where they parse, as the conventions ask; else the text as sent. */
function toolCallPart(id: string, name: string, args: string): JsonObject {
  let parsed: Json = args;
  try {
    parsed = JSON.parse(args) as Json;
  } catch {}
  return { type: 'tool_call', id, name, arguments: parsed };
}
