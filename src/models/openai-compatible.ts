import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, DriverError } from '../spec/errors.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type {
  Message,
  ModelBinding,
  ModelCapabilities,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
  ToolSpec,
} from './driver.js';

/**
 * A driver for the OpenAI Chat Completions API and the many servers that speak it (vLLM,
 * llama.cpp, LM Studio, gateways). Non-streaming only: `capabilities.streaming` is false, so a
 * caller waits for the whole reply and cannot show tokens as they come.
 */

export interface OpenAICompatibleOptions {
  /** The API root, as `http://127.0.0.1:1234/v1`; `/chat/completions` is appended. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  headers?: Record<string, string>;
  /** The deadline of one call, retries and their waits included. Default 120 000. */
  timeoutMs?: number;
  /** Attempts after the first when the server answers 429 or 5xx. Default 2. */
  maxRetries?: number;
  contextWindow?: number;
  capabilities?: Partial<ModelCapabilities>;
  /** Who serves the model, for the manifest. Default `openai-compatible`. */
  provider?: string;
  fetch?: typeof fetch;
}

const DRIVER = 'openai-compatible';
const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 10_000;
const RETRY_AFTER_CAP_MS = 30_000;
const EXCERPT_CHARS = 500;
// Node fires a timer at once when its delay exceeds 2^31 - 1 ms, so longer deadlines clamp.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls a model over Chat Completions with plain `fetch`.
 *
 * ```ts
 * const driver = new OpenAICompatibleDriver({ baseUrl: 'http://127.0.0.1:1234/v1', model: 'm' });
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export class OpenAICompatibleDriver implements ModelDriver {
  private readonly url: string;
  /** The endpoint as errors show it: no user info, no query. */
  private readonly shownUrl: string;
  private readonly model: string;
  private readonly headers: Record<string, string>;
  private readonly secrets: string[];
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly description: ModelDescription;
  private readonly fetchFn: typeof fetch;

  constructor(options: OpenAICompatibleOptions) {
    const endpoint = endpointOf(options.baseUrl);
    const timeoutMs = options.timeoutMs ?? 120_000;
    const maxRetries = options.maxRetries ?? 2;

    if (options.model === '') throw bindingError('model', 'a non-empty string', options.model);
    if (!(timeoutMs > 0)) throw bindingError('timeoutMs', 'a positive number', timeoutMs);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw bindingError('maxRetries', 'a non-negative integer', maxRetries);
    }
    const window = options.contextWindow;
    if (window !== undefined && (!Number.isInteger(window) || window <= 0)) {
      throw bindingError('contextWindow', 'a positive integer', window);
    }

    this.url = endpoint.href;
    this.shownUrl = `${endpoint.origin}${endpoint.pathname}`;
    this.model = options.model;
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      ...options.headers,
    };
    this.secrets = secretsOf(options.apiKey, options.headers ?? {});
    this.timeoutMs = timeoutMs;
    this.maxRetries = maxRetries;
    this.fetchFn = options.fetch ?? fetch;
    this.description = {
      driver: DRIVER,
      provider: options.provider ?? DRIVER,
      model: options.model,
      ...(window === undefined ? {} : { contextWindow: window }),
      capabilities: {
        tools: true,
        parallelToolCalls: true,
        jsonSchema: true,
        streaming: false,
        ...options.capabilities,
      },
    };
  }

  describe(): ModelDescription {
    return { ...this.description, capabilities: { ...this.description.capabilities } };
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const names = new WireNames();
    const body = JSON.stringify(encodeRequest(this.model, request, names));
    const scope = new CallScope(this.timeoutMs, request.signal, this.shownUrl);

    try {
      return await this.exchange(body, names, scope);
    } finally {
      scope.dispose();
    }
  }

  private async exchange(body: string, names: WireNames, scope: CallScope): Promise<ModelReply> {
    for (let attempt = 1; ; attempt++) {
      const answer = await this.post(body, scope);
      if (answer.status >= 200 && answer.status < 300) return this.decode(answer, names);

      const failure = this.failure(answer, attempt);
      const retryable = answer.status === 429 || answer.status >= 500;
      if (!retryable || attempt > this.maxRetries) throw failure;

      const waitMs = retryAfterMs(answer.retryAfter, Date.now()) ?? backoffMs(attempt);
      // Waiting past the deadline would only turn a clear rate limit into a vague timeout.
      if (Date.now() + waitMs >= scope.expiresAt) throw failure;
      try {
        await sleep(waitMs, undefined, { signal: scope.signal });
      } catch {
        throw scope.reason();
      }
    }
  }

  private async post(body: string, scope: CallScope): Promise<Answer> {
    const fetchFn = this.fetchFn;

    try {
      const init = { method: 'POST', headers: this.headers, body, signal: scope.signal };
      const response = await fetchFn(this.url, init);
      const text = await response.text();
      return { status: response.status, text, retryAfter: response.headers.get('retry-after') };
    } catch (error) {
      if (scope.signal.aborted) throw scope.reason();
      const why = transportCause(error);
      throw new DriverError(
        'unreachable',
        `cannot reach ${this.shownUrl}: ${why}`,
        { url: this.shownUrl, cause: why },
        error,
      );
    }
  }

  private decode(answer: Answer, names: WireNames): ModelReply {
    let json: unknown;
    try {
      json = JSON.parse(answer.text);
    } catch {
      throw this.badReply(answer, 'the reply is not json');
    }

    const choice = isRecord(json) && Array.isArray(json.choices) ? json.choices[0] : undefined;
    if (!isRecord(json) || !isRecord(choice) || !isRecord(choice.message)) {
      throw this.badReply(answer, 'the reply has no choices[0].message');
    }
    return decodeReply(json, choice, choice.message, names);
  }

  private badReply(answer: Answer, why: string): DriverError {
    return new DriverError('bad_reply', `${this.shownUrl}: ${why}`, {
      url: this.shownUrl,
      status: answer.status,
      body: this.redact(answer.text).slice(0, EXCERPT_CHARS),
    });
  }

  private failure(answer: Answer, attempts: number): DriverError {
    const { status } = answer;
    const said = errorMessageOf(answer.text);
    const message = said === undefined ? undefined : this.redact(said).slice(0, EXCERPT_CHARS);
    const data = { url: this.shownUrl, status, attempts, ...(message ? { message } : {}) };
    const tail = message ? `: ${message}` : '';

    if (status === 401 || status === 403) {
      return new DriverError('auth', `${this.shownUrl} refused the credentials${tail}`, data);
    }
    if (status === 429) {
      const text = `rate limited by ${this.shownUrl} after ${attempts} attempts${tail}`;
      return new DriverError('rate_limited', text, data);
    }
    if (status >= 500) {
      const text = `${this.shownUrl} failed with http ${status} after ${attempts} attempts${tail}`;
      return new DriverError('server_error', text, data);
    }
    return new DriverError(
      `http_${status}`,
      `${this.shownUrl} answered http ${status}${tail}`,
      data,
    );
  }

  /** Servers sometimes echo a rejected key; it must never reach a message, a log or a journal. */
  private redact(text: string): string {
    return this.secrets.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), text);
  }
}

/**
 * Builds a driver from a host-configuration binding; `apiKeyEnv` names the environment
 * variable holding the key, so the key itself never sits in the configuration.
 *
 * ```ts
 * const binding = { driver: 'openai-compatible', baseUrl, model: 'gpt-4o', apiKeyEnv: 'KEY' };
 * const driver = openAICompatibleFromBinding(binding, process.env);
 * ```
 */
export function openAICompatibleFromBinding(
  binding: ModelBinding,
  env: NodeJS.ProcessEnv,
): OpenAICompatibleDriver {
  if (binding.driver !== DRIVER) throw bindingError('driver', `'${DRIVER}'`, binding.driver);
  const baseUrl = requiredString(binding, 'baseUrl');
  const model = requiredString(binding, 'model');
  const apiKeyEnv = optionalString(binding, 'apiKeyEnv');
  const provider = optionalString(binding, 'provider');
  const headers = headersField(binding.headers);
  const capabilities = capabilitiesField(binding.capabilities);

  let apiKey: string | undefined;
  if (apiKeyEnv !== undefined) {
    apiKey = env[apiKeyEnv];
    if (!apiKey) {
      throw new ConfigError(
        'missing_api_key',
        `environment variable '${apiKeyEnv}' holding the api key is not set`,
        { variable: apiKeyEnv },
      );
    }
  }

  return new OpenAICompatibleDriver({
    baseUrl,
    model,
    apiKey,
    headers,
    timeoutMs: numberField(binding, 'timeoutMs'),
    maxRetries: numberField(binding, 'maxRetries'),
    contextWindow: numberField(binding, 'contextWindow'),
    capabilities,
    provider,
  });
}

interface Answer {
  status: number;
  text: string;
  retryAfter: string | null;
}

/** One call's abort signal: fired by its deadline or by the caller, whichever comes first. */
class CallScope {
  readonly expiresAt: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly outer: AbortSignal | undefined;
  private readonly cancel: () => void;

  constructor(timeoutMs: number, outer: AbortSignal | undefined, url: string) {
    this.expiresAt = Date.now() + timeoutMs;
    this.outer = outer;
    this.cancel = () =>
      this.controller.abort(new DriverError('cancelled', 'model call cancelled', { url }));

    if (Number.isFinite(timeoutMs)) {
      const timeout = new DriverError('timeout', `no reply from ${url} within ${timeoutMs} ms`, {
        url,
        timeoutMs,
      });
      this.timer = setTimeout(
        () => this.controller.abort(timeout),
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
    }
    if (outer?.aborted) this.cancel();
    else outer?.addEventListener('abort', this.cancel, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the signal fired; call only once it has. */
  reason(): DriverError {
    const reason: unknown = this.signal.reason;
    return reason instanceof DriverError
      ? reason
      : new DriverError('cancelled', 'model call cancelled', {});
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.cancel);
  }
}

/**
 * The per-request map between qualified names (`ns/name`) and function names, which the API
 * limits to ^[a-zA-Z0-9_-]{1,64}$. A name that encodes badly (too long, or the same as one
 * already taken) gets a digest suffix so that decoding stays one-to-one.
 */
class WireNames {
  private readonly toWire = new Map<string, string>();
  private readonly fromWire = new Map<string, string>();

  encode(name: string): string {
    const known = this.toWire.get(name);
    if (known !== undefined) return known;

    const plain = name.replaceAll('/', '__').replace(/[^a-zA-Z0-9_-]/g, '_');
    let wire = plain;
    if (wire.length === 0 || wire.length > 64 || this.fromWire.has(wire)) {
      const digest = createHash('sha256').update(name).digest('hex').slice(0, 8);
      for (let n = 1; n === 1 || this.fromWire.has(wire); n++) {
        const suffix = `_${digest}${n === 1 ? '' : n}`;
        wire = `${plain.slice(0, 64 - suffix.length)}${suffix}`;
      }
    }

    this.toWire.set(name, wire);
    this.fromWire.set(wire, name);
    return wire;
  }

  /** A name the request never offered passes through; the machine answers it as an error. */
  decode(wire: string): string {
    return this.fromWire.get(wire) ?? wire;
  }
}

interface WireToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

type WireMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: WireToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

interface WireRequest {
  model: string;
  messages: WireMessage[];
  stream: false;
  tools?: { type: 'function'; function: { name: string; description: string; parameters: Json } }[];
  response_format?: {
    type: 'json_schema';
    json_schema: { name: string; schema: JsonObject; strict: boolean };
  };
}

function encodeRequest(model: string, request: ModelRequest, names: WireNames): WireRequest {
  // Offered tools take their names first, so they keep the plain encoding.
  const tools = request.tools.map((tool) => encodeTool(tool, names));
  const wire: WireRequest = {
    model,
    messages: request.messages.map((message) => encodeMessage(message, names)),
    stream: false,
  };

  if (tools.length > 0) wire.tools = tools;
  if (request.schema !== undefined) {
    wire.response_format = {
      type: 'json_schema',
      json_schema: { name: 'answer', schema: objectSchema(request.schema), strict: false },
    };
  }
  return wire;
}

function encodeTool(tool: ToolSpec, names: WireNames): NonNullable<WireRequest['tools']>[number] {
  return {
    type: 'function',
    function: {
      name: names.encode(tool.name),
      description: tool.description,
      parameters: tool.inputSchema,
    },
  };
}

function encodeMessage(message: Message, names: WireNames): WireMessage {
  switch (message.role) {
    case 'system':
    case 'user':
      return { role: message.role, content: message.content };
    case 'assistant': {
      const calls = message.toolCalls ?? [];
      if (calls.length === 0) return { role: 'assistant', content: message.content };
      return {
        role: 'assistant',
        content: message.content === '' ? null : message.content,
        tool_calls: calls.map((call) => ({
          id: call.id,
          type: 'function',
          function: { name: names.encode(call.name), arguments: call.arguments },
        })),
      };
    }
    case 'tool':
      // The wire has no error flag for a tool result; the content says so to the model.
      return { role: 'tool', tool_call_id: message.callId, content: message.content };
    default: {
      const never: never = message;
      return never;
    }
  }
}

/** The API takes only object schemas; a boolean schema becomes its object equivalent. */
function objectSchema(schema: JsonSchema): JsonObject {
  if (schema === true) return {};
  if (schema === false) return { not: {} };
  return schema;
}

const STOPS = new Map<string, StopReason>([
  ['stop', 'end'],
  ['tool_calls', 'tool_calls'],
  ['length', 'length'],
  ['content_filter', 'filter'],
]);

function decodeReply(
  reply: Record<string, unknown>,
  choice: Record<string, unknown>,
  message: Record<string, unknown>,
  names: WireNames,
): ModelReply {
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  const usage = isRecord(reply.usage) ? reply.usage : {};
  const finish = choice.finish_reason;

  return {
    text: textOf(message.content),
    toolCalls: calls.map((call: unknown, index) => decodeToolCall(call, index, names)),
    stop: (typeof finish === 'string' ? STOPS.get(finish) : undefined) ?? 'other',
    usage: {
      inputTokens: count(usage.prompt_tokens),
      outputTokens: count(usage.completion_tokens),
    },
    ...(typeof reply.model === 'string' ? { model: reply.model } : {}),
  };
}

/** A malformed call is still data: the machine turns it into an error result for the model. */
function decodeToolCall(raw: unknown, index: number, names: WireNames): ToolCallRequest {
  const call = isRecord(raw) ? raw : {};
  const fn = isRecord(call.function) ? call.function : {};
  const args = fn.arguments;

  return {
    id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${index}`,
    name: typeof fn.name === 'string' ? names.decode(fn.name) : '',
    arguments:
      typeof args === 'string' ? args : args === undefined || args === null ? '' : stringify(args),
  };
}

/** Some servers send content as an array of parts, as requests may; their text is kept. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (content === undefined || content === null) return '';
  if (!Array.isArray(content)) return stringify(content);
  return content
    .map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .join('');
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0;
}

function stringify(value: unknown): string {
  return JSON.stringify(value) ?? '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The message of an error body in the OpenAI shape, or the shapes other servers use. */
function errorMessageOf(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(body)) return undefined;
  if (isRecord(body.error) && typeof body.error.message === 'string') return body.error.message;
  if (typeof body.error === 'string') return body.error;
  if (typeof body.message === 'string') return body.message;
  return undefined;
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now, capped. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();

  if (/^\d+(\.\d+)?$/.test(value)) return Math.min(Number(value) * 1000, RETRY_AFTER_CAP_MS);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), RETRY_AFTER_CAP_MS);
}

/** Exponential with equal jitter, so clients that failed together do not retry together. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/** undici reports `fetch failed` and hides the reason (ECONNREFUSED, ENOTFOUND) in its cause. */
function transportCause(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The key, and any header that looks like a credential, as text to scrub from errors. */
function secretsOf(apiKey: string | undefined, headers: Record<string, string>): string[] {
  const fromHeaders = Object.entries(headers)
    .filter(([name]) => /auth|key|token|secret|cookie/i.test(name))
    .map(([, value]) => value);
  // Very short values would scrub ordinary words out of messages and protect nothing.
  return [apiKey ?? '', ...fromHeaders].filter((secret) => secret.length >= 4);
}

function endpointOf(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(`${baseUrl.replace(/\/+$/, '')}/chat/completions`);
  } catch {
    throw bindingError('baseUrl', 'an http or https url', baseUrl);
  }
  if (baseUrl === '' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw bindingError('baseUrl', 'an http or https url', baseUrl);
  }
  return url;
}

/** With `hide`, only the kind of the value found is said: it may be a misplaced credential. */
function bindingError(field: string, expected: string, found: unknown, hide = false): ConfigError {
  const shown = hide ? kindOf(found) : show(found);
  return new ConfigError(
    'bad_model_binding',
    `model binding '${field}': expected ${expected}, found ${shown}`,
    { field, expected, found: shown },
  );
}

function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  return kindOf(value);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function requiredString(binding: ModelBinding, field: string): string {
  const value = binding[field];
  if (typeof value !== 'string' || value === '') {
    throw bindingError(field, 'a non-empty string', value);
  }
  return value;
}

function optionalString(binding: ModelBinding, field: string): string | undefined {
  return binding[field] === undefined ? undefined : requiredString(binding, field);
}

function numberField(binding: ModelBinding, field: string): number | undefined {
  const value = binding[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw bindingError(field, 'a number', value);
  return value;
}

function headersField(value: Json | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError('headers', 'an object of strings', value, true);

  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    if (typeof header !== 'string') throw bindingError(`headers.${name}`, 'a string', header, true);
    headers[name] = header;
  }
  return headers;
}

const CAPABILITIES: readonly (keyof ModelCapabilities)[] = [
  'tools',
  'parallelToolCalls',
  'jsonSchema',
  'streaming',
];

function capabilitiesField(value: Json | undefined): Partial<ModelCapabilities> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError('capabilities', 'an object of booleans', value);

  const capabilities: Partial<ModelCapabilities> = {};
  for (const [name, flag] of Object.entries(value)) {
    const known = CAPABILITIES.find((capability) => capability === name);
    if (known === undefined) {
      throw bindingError(`capabilities.${name}`, `one of ${CAPABILITIES.join(', ')}`, name);
    }
    if (typeof flag !== 'boolean') throw bindingError(`capabilities.${name}`, 'a boolean', flag);
    capabilities[known] = flag;
  }
  return capabilities;
}
