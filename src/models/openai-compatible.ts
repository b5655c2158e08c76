import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import { HttpDriver, type HttpDriverOptions } from './base.js';
import { booleanField, commonFromBinding, enumField, numberField } from './binding.js';
import type {
  Message,
  ModelBinding,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
  ToolSpec,
} from './driver.js';
import { type CallScope, isEventStream, SSE_DONE, sseEvents } from './http.js';
import { inlineRefs, SchemaCache } from './schema.js';
import {
  count,
  isRecord,
  namesFor,
  parseJson,
  rawArguments,
  stringify,
  textOf,
  type WireNames,
} from './wire.js';

/**
 * A driver for the OpenAI Chat Completions API and the many servers that speak it (vLLM,
 * llama.cpp, LM Studio, gateways), streaming or not.
 *
 * Servers differ; the differences are options, not forks:
 * - `toolChoice`: `'omit'` (default: the field is not sent), `'auto'`, `'required'`, `'none'`.
 * - `parallelToolCalls`: sent as `parallel_tool_calls` when set and tools are offered; `false`
 *   asks for at most one call a turn.
 * - `schemaMode`: how a reply schema travels. `'json_schema'` (default) as `response_format`
 *   of type json_schema; `'json_object'` as JSON mode, with the schema stated in the system
 *   message; `'none'` in the system message only, for servers that reject `response_format`.
 * - `strictSchema`: the json_schema `strict` flag. Default false, since strict mode refuses
 *   most schemas MCP servers publish.
 * - `maxTokens` with `maxTokensField`: `'max_tokens'` (default) or `'max_completion_tokens'`,
 *   which OpenAI's reasoning models require.
 * - `streamUsage`: with `stream`, send `stream_options.include_usage` (default true); some
 *   servers refuse the field.
 * These quirks are handled whatever the options: arguments sent as an object rather than a
 * string (kept as their JSON text), finish_reason `stop` on a reply that carries tool calls
 * (read as `tool_calls`), empty or missing call ids (`call_<index>`), and streamed fragments
 * without an `index` (paired by id, else with the call before).
 */

export interface OpenAICompatibleOptions extends HttpDriverOptions {
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  schemaMode?: SchemaMode;
  strictSchema?: boolean;
  maxTokensField?: MaxTokensField;
  streamUsage?: boolean;
}

type ToolChoice = 'omit' | 'auto' | 'required' | 'none';
type SchemaMode = 'json_schema' | 'json_object' | 'none';
type MaxTokensField = 'max_tokens' | 'max_completion_tokens';

const DRIVER = 'openai-compatible';
const TOOL_CHOICES: readonly ToolChoice[] = ['omit', 'auto', 'required', 'none'];
const SCHEMA_MODES: readonly SchemaMode[] = ['json_schema', 'json_object', 'none'];
const MAX_TOKENS_FIELDS: readonly MaxTokensField[] = ['max_tokens', 'max_completion_tokens'];

/**
 * Calls a model over Chat Completions with plain `fetch`.
 *
 * ```ts
 * const driver = new OpenAICompatibleDriver({ baseUrl: 'http://127.0.0.1:1234/v1', model: 'm' });
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export class OpenAICompatibleDriver extends HttpDriver {
  private readonly options: OpenAICompatibleOptions;
  private readonly schemas = new SchemaCache('openai');

  constructor(options: OpenAICompatibleOptions) {
    super(
      {
        driver: DRIVER,
        path: '/chat/completions',
        auth: (key) => ({ authorization: `Bearer ${key}` }),
        accept: (stream) => (stream ? 'text/event-stream' : 'application/json'),
        streamByDefault: false,
      },
      options,
    );
    this.options = options;
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const names = namesFor(request.tools, request.messages);
    const body = JSON.stringify(this.encode(request, names));

    return this.http.call(body, request.signal, async (response, scope) => {
      // A server that ignores `stream: true` answers with one document; read it as such.
      if (this.streaming && isEventStream(response)) {
        return this.readStream(response, scope, names, request);
      }
      return this.decode(response.status, await this.http.text(response, scope), names);
    });
  }

  private encode(request: ModelRequest, names: WireNames): WireRequest {
    const options = this.options;
    const tools = request.tools.map((tool) => this.encodeTool(tool, names));
    const mode = options.schemaMode ?? 'json_schema';
    const schema = request.schema === undefined ? undefined : replySchema(request.schema);
    const messages = request.messages.map((message) => encodeMessage(message, names));
    const wire: WireRequest = {
      model: this.model,
      messages:
        schema !== undefined && mode !== 'json_schema' ? instruct(messages, schema) : messages,
      stream: this.streaming,
    };

    if (this.streaming && options.streamUsage !== false) {
      wire.stream_options = { include_usage: true };
    }
    if (tools.length > 0) {
      wire.tools = tools;
      if (options.toolChoice !== undefined && options.toolChoice !== 'omit') {
        wire.tool_choice = options.toolChoice;
      }
      if (options.parallelToolCalls !== undefined) {
        wire.parallel_tool_calls = options.parallelToolCalls;
      }
    }
    if (options.maxTokens !== undefined) {
      wire[options.maxTokensField ?? 'max_tokens'] = options.maxTokens;
    }
    if (schema !== undefined && mode === 'json_schema') {
      wire.response_format = {
        type: 'json_schema',
        json_schema: { name: 'answer', schema, strict: options.strictSchema ?? false },
      };
    } else if (schema !== undefined && mode === 'json_object') {
      wire.response_format = { type: 'json_object' };
    }
    return wire;
  }

  private encodeTool(tool: ToolSpec, names: WireNames): WireTool {
    return {
      type: 'function',
      function: {
        name: names.encode(tool.name),
        description: tool.description,
        parameters: this.schemas.of(tool),
      },
    };
  }

  private decode(status: number, text: string, names: WireNames): ModelReply {
    const json = parseJson(text);
    if (json === undefined) throw this.http.badReply(status, text, 'the reply is not json');

    const choice = isRecord(json) && Array.isArray(json.choices) ? json.choices[0] : undefined;
    if (!isRecord(json) || !isRecord(choice) || !isRecord(choice.message)) {
      throw this.http.badReply(status, text, 'the reply has no choices[0].message');
    }
    const message = choice.message;
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    const usage = isRecord(json.usage) ? json.usage : {};

    return this.reply({
      text: textOf(message.content),
      calls: calls.map((call: unknown, index) => decodeToolCall(call, index, names)),
      finish: choice.finish_reason,
      usage,
      model: json.model,
      fingerprint: json.system_fingerprint,
    });
  }

  private async readStream(
    response: Response,
    scope: CallScope,
    names: WireNames,
    request: ModelRequest,
  ): Promise<ModelReply> {
    const calls = new StreamedCalls();
    let text = '';
    let finish: unknown;
    let usage: Record<string, unknown> = {};
    let model: unknown;
    let fingerprint: unknown;
    let done = false;

    for await (const event of sseEvents(this.http.chunks(response, scope))) {
      if (event.data === SSE_DONE) {
        done = true;
        break;
      }
      const chunk = parseJson(event.data);
      if (!isRecord(chunk)) continue;
      if (chunk.error !== undefined) throw this.streamError(chunk.error);

      if (typeof chunk.model === 'string') model = chunk.model;
      if (typeof chunk.system_fingerprint === 'string') fingerprint = chunk.system_fingerprint;
      if (isRecord(chunk.usage)) usage = chunk.usage;
      const choice = Array.isArray(chunk.choices) ? chunk.choices[0] : undefined;
      if (!isRecord(choice)) continue;

      const delta = isRecord(choice.delta) ? choice.delta : {};
      const piece = textOf(delta.content);
      if (piece !== '') {
        text += piece;
        request.onText?.(piece);
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const fragment of delta.tool_calls) calls.add(fragment);
      }
      if (typeof choice.finish_reason === 'string') finish = choice.finish_reason;
    }

    // Without [DONE] the stream counts as whole only if the server said why it finished.
    if (!done && finish === undefined) throw this.http.streamCut();
    return this.reply({ text, calls: calls.finish(names), finish, usage, model, fingerprint });
  }

  private streamError(error: unknown): Error {
    const said = isRecord(error) && typeof error.message === 'string' ? error.message : error;
    return this.http.providerError(typeof said === 'string' ? said : stringify(said));
  }

  private reply(parts: {
    text: string;
    calls: ToolCallRequest[];
    finish: unknown;
    usage: Record<string, unknown>;
    model: unknown;
    fingerprint?: unknown;
  }): ModelReply {
    const finish = typeof parts.finish === 'string' ? STOPS.get(parts.finish) : undefined;
    // Some servers end a turn of tool calls with `stop`; the calls are what the turn asks for.
    const stop = finish === 'end' && parts.calls.length > 0 ? 'tool_calls' : (finish ?? 'other');

    return {
      text: parts.text,
      toolCalls: parts.calls,
      stop,
      usage: this.usage(count(parts.usage.prompt_tokens), count(parts.usage.completion_tokens)),
      ...(typeof parts.model === 'string' ? { model: parts.model } : {}),
      ...(typeof parts.fingerprint === 'string' ? { fingerprint: parts.fingerprint } : {}),
    };
  }
}

/**
 * Builds a driver from a host-configuration binding: the common options (see
 * `commonFromBinding`) and the quirk options above.
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
  return new OpenAICompatibleDriver({
    ...commonFromBinding(binding, env, DRIVER),
    toolChoice: enumField(binding, 'toolChoice', TOOL_CHOICES),
    parallelToolCalls: booleanField(binding, 'parallelToolCalls'),
    schemaMode: enumField(binding, 'schemaMode', SCHEMA_MODES),
    strictSchema: booleanField(binding, 'strictSchema'),
    maxTokens: numberField(binding, 'maxTokens'),
    maxTokensField: enumField(binding, 'maxTokensField', MAX_TOKENS_FIELDS),
    streamUsage: booleanField(binding, 'streamUsage'),
  });
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Tool calls assembled from stream fragments. The documented form keys fragments by
 * `index`, with the id and name on the first only and the arguments in pieces; servers that
 * omit the index, or reuse one index for calls with different ids, are paired by id.
 */
class StreamedCalls {
  private readonly calls: PartialCall[] = [];
  private readonly byIndex = new Map<number, PartialCall>();
  private readonly byId = new Map<string, PartialCall>();

  add(fragment: unknown): void {
    if (!isRecord(fragment)) return;
    const id = typeof fragment.id === 'string' && fragment.id !== '' ? fragment.id : undefined;
    const index = typeof fragment.index === 'number' ? fragment.index : undefined;
    const call = this.slot(id, index);
    const fn = isRecord(fragment.function) ? fragment.function : {};

    if (typeof fn.name === 'string' && fn.name !== '' && call.name === '') call.name = fn.name;
    if (typeof fn.arguments === 'string') call.arguments += fn.arguments;
    else if (fn.arguments !== undefined && fn.arguments !== null) {
      // An object is the whole of the arguments at once.
      call.arguments = stringify(fn.arguments);
    }
  }

  finish(names: WireNames): ToolCallRequest[] {
    return this.calls.map((call, index) => ({
      id: call.id === '' ? `call_${index}` : call.id,
      name: names.decode(call.name),
      arguments: call.arguments,
    }));
  }

  private slot(id: string | undefined, index: number | undefined): PartialCall {
    let call =
      index !== undefined
        ? this.byIndex.get(index)
        : id === undefined
          ? this.calls.at(-1)
          : undefined;
    if (call !== undefined && id !== undefined && call.id !== '' && call.id !== id)
      call = undefined;
    if (call === undefined && id !== undefined) call = this.byId.get(id);
    if (call === undefined) {
      call = { id: '', name: '', arguments: '' };
      this.calls.push(call);
    }

    if (index !== undefined) this.byIndex.set(index, call);
    if (id !== undefined) {
      call.id = id;
      this.byId.set(id, call);
    }
    return call;
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

interface WireTool {
  type: 'function';
  function: { name: string; description: string; parameters: Json };
}

interface WireRequest {
  model: string;
  messages: WireMessage[];
  stream: boolean;
  stream_options?: { include_usage: boolean };
  tools?: WireTool[];
  tool_choice?: Exclude<ToolChoice, 'omit'>;
  parallel_tool_calls?: boolean;
  max_tokens?: number;
  max_completion_tokens?: number;
  response_format?:
    | { type: 'json_schema'; json_schema: { name: string; schema: JsonObject; strict: boolean } }
    | { type: 'json_object' };
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

/**
 * The reply schema in words, for modes where the wire cannot carry it. It joins the first
 * system message: several chat templates refuse a system message anywhere but first.
 */
function instruct(messages: WireMessage[], schema: JsonObject): WireMessage[] {
  const words = `Answer with JSON only, meeting this JSON Schema: ${JSON.stringify(schema)}`;
  const [first, ...rest] = messages;
  if (first?.role === 'system') {
    return [{ role: 'system', content: `${first.content}\n\n${words}` }, ...rest];
  }
  return [{ role: 'system', content: words }, ...messages];
}

/** The API takes only object schemas; a boolean schema becomes its object equivalent. */
function replySchema(schema: JsonSchema): JsonObject {
  const inlined = inlineRefs(schema, 'the reply schema');
  if (inlined === true) return {};
  if (inlined === false) return { not: {} };
  return inlined;
}

const STOPS = new Map<string, StopReason>([
  ['stop', 'end'],
  ['tool_calls', 'tool_calls'],
  ['length', 'length'],
  ['content_filter', 'filter'],
]);

/** A malformed call is still data: the machine turns it into an error result for the model. */
function decodeToolCall(raw: unknown, index: number, names: WireNames): ToolCallRequest {
  const call = isRecord(raw) ? raw : {};
  const fn = isRecord(call.function) ? call.function : {};

  return {
    id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${index}`,
    name: typeof fn.name === 'string' ? names.decode(fn.name) : '',
    arguments: rawArguments(fn.arguments),
  };
}
