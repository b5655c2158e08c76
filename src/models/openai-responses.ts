import type { Json, JsonObject } from '../spec/types.js';
import { HttpDriver, type HttpDriverOptions } from './base.js';
import { booleanField, commonFromBinding, enumField, numberField } from './binding.js';
import type {
  Message,
  ModelBinding,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
} from './driver.js';
import { type CallScope, sseEvents } from './http.js';
import { inlineRefs, SchemaCache } from './schema.js';
import { count, isRecord, namesFor, parseJson, rawArguments, type WireNames } from './wire.js';

/**
 * A driver for the OpenAI Responses API (`POST {baseUrl}/responses`), streaming or not. It
 * keeps no state on the server: every request has `store: false` and carries the whole
 * conversation as input items (messages, `function_call` items with their `call_id`, and
 * `function_call_output` items).
 *
 * Binding options beyond the common ones:
 * - `maxTokens`: sent as `max_output_tokens`.
 * - `toolChoice`: `'omit'` (default), `'auto'`, `'required'`, `'none'`.
 * - `parallelToolCalls`: sent as `parallel_tool_calls` when set and tools are offered.
 * - `schemaMode`: `'json_schema'` (default, as `text.format`) or `'none'` (the schema is stated
 *   in a system message only).
 * - `strictSchema`: the `strict` flag of the reply schema and of every function tool. Default
 *   false: strict mode refuses most schemas MCP servers publish, and the API's own default
 *   for function tools is strict, so the flag is always sent.
 *
 * Reasoning items are not sent back, so a reasoning model starts each turn without its
 * earlier reasoning; that costs quality on long tool loops, not correctness.
 */

export interface OpenAIResponsesOptions extends HttpDriverOptions {
  toolChoice?: ResponsesToolChoice;
  parallelToolCalls?: boolean;
  schemaMode?: ResponsesSchemaMode;
  strictSchema?: boolean;
}

type ResponsesToolChoice = 'omit' | 'auto' | 'required' | 'none';
type ResponsesSchemaMode = 'json_schema' | 'none';

const DRIVER = 'openai-responses';
const DEFAULT_BASE_URL = 'https://api.openai.com/v1';
const TOOL_CHOICES: readonly ResponsesToolChoice[] = ['omit', 'auto', 'required', 'none'];
const SCHEMA_MODES: readonly ResponsesSchemaMode[] = ['json_schema', 'none'];

/**
 * Calls a model over the Responses API with plain `fetch`.
 *
 * ```ts
 * const driver = new OpenAIResponsesDriver({ baseUrl, model: 'gpt-5', apiKey });
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export class OpenAIResponsesDriver extends HttpDriver {
  private readonly options: OpenAIResponsesOptions;
  private readonly schemas = new SchemaCache('openai');

  constructor(options: OpenAIResponsesOptions) {
    super(
      {
        driver: DRIVER,
        path: '/responses',
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

    return this.http.call(body, request.signal, async (response, scope) =>
      this.streaming
        ? this.readStream(response, scope, names, request)
        : this.decode(response.status, await this.http.text(response, scope), names),
    );
  }

  private encode(request: ModelRequest, names: WireNames): WireRequest {
    const options = this.options;
    const strict = options.strictSchema ?? false;
    const mode = options.schemaMode ?? 'json_schema';
    const input = request.messages.flatMap((message) => encodeMessage(message, names));
    const wire: WireRequest = { model: this.model, input, store: false, stream: this.streaming };

    if (request.tools.length > 0) {
      wire.tools = request.tools.map((tool) => ({
        type: 'function',
        name: names.encode(tool.name),
        description: tool.description,
        parameters: this.schemas.of(tool),
        strict,
      }));
      if (options.toolChoice !== undefined && options.toolChoice !== 'omit') {
        wire.tool_choice = options.toolChoice;
      }
      if (options.parallelToolCalls !== undefined) {
        wire.parallel_tool_calls = options.parallelToolCalls;
      }
    }
    if (options.maxTokens !== undefined) wire.max_output_tokens = options.maxTokens;
    if (request.schema !== undefined) {
      const inlined = inlineRefs(request.schema, 'the reply schema');
      const schema: JsonObject = inlined === true ? {} : inlined === false ? { not: {} } : inlined;
      if (mode === 'json_schema') {
        wire.text = { format: { type: 'json_schema', name: 'answer', schema, strict } };
      } else {
        const words = `Answer with JSON only, meeting this JSON Schema: ${JSON.stringify(schema)}`;
        wire.input = [{ type: 'message', role: 'system', content: words }, ...wire.input];
      }
    }
    return wire;
  }

  private decode(status: number, text: string, names: WireNames): ModelReply {
    const json = parseJson(text);
    if (json === undefined) throw this.http.badReply(status, text, 'the reply is not json');
    if (!isRecord(json) || !Array.isArray(json.output)) {
      throw this.http.badReply(status, text, 'the reply has no output list');
    }
    if (json.status === 'failed') throw this.failed(json);

    const items = json.output.flatMap((raw: unknown) => (isRecord(raw) ? [itemOf(raw)] : []));
    return this.reply(items, json, names);
  }

  private async readStream(
    response: Response,
    scope: CallScope,
    names: WireNames,
    request: ModelRequest,
  ): Promise<ModelReply> {
    const items = new Map<number, Item>();
    const indexOfId = new Map<string, number>();
    let final: Record<string, unknown> | undefined;

    const itemAt = (event: Record<string, unknown>): Item => {
      const byId = typeof event.item_id === 'string' ? indexOfId.get(event.item_id) : undefined;
      const index = typeof event.output_index === 'number' ? event.output_index : (byId ?? 0);
      let item = items.get(index);
      if (item === undefined) {
        item = { type: 'other', text: '', refused: false, callId: '', name: '', arguments: '' };
        items.set(index, item);
      }
      return item;
    };

    for await (const sse of sseEvents(this.http.chunks(response, scope))) {
      const event = parseJson(sse.data);
      if (!isRecord(event)) continue;
      const type = typeof event.type === 'string' ? event.type : sse.event;

      if (type === 'response.completed' || type === 'response.incomplete') {
        final = isRecord(event.response) ? event.response : {};
        break;
      }
      if (type === 'response.failed') {
        throw this.failed(isRecord(event.response) ? event.response : {});
      }
      if (type === 'error') throw this.http.providerError(messageOf(event), codeOf(event));

      if (type === 'response.output_item.added' || type === 'response.output_item.done') {
        if (!isRecord(event.item)) continue;
        const index = typeof event.output_index === 'number' ? event.output_index : items.size;
        const next = itemOf(event.item);
        const known = items.get(index);
        // A message's text streamed in deltas; an added item carries none yet.
        if (known !== undefined && next.text === '') next.text = known.text;
        if (known !== undefined && next.arguments === '') next.arguments = known.arguments;
        items.set(index, next);
        if (typeof event.item.id === 'string') indexOfId.set(event.item.id, index);
      } else if (type === 'response.output_text.delta' || type === 'response.refusal.delta') {
        const item = itemAt(event);
        const piece = typeof event.delta === 'string' ? event.delta : '';
        item.text += piece;
        if (type === 'response.refusal.delta') item.refused = true;
        else if (piece !== '') request.onText?.(piece);
      } else if (type === 'response.function_call_arguments.delta') {
        itemAt(event).arguments += typeof event.delta === 'string' ? event.delta : '';
      } else if (type === 'response.function_call_arguments.done') {
        if (typeof event.arguments === 'string') itemAt(event).arguments = event.arguments;
      }
    }

    if (final === undefined) throw this.http.streamCut();
    const ordered = [...items.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
    // A server that streams no items still lists them in the final response.
    if (ordered.length === 0 && Array.isArray(final.output)) {
      for (const raw of final.output) if (isRecord(raw)) ordered.push(itemOf(raw));
    }
    return this.reply(ordered, final, names);
  }

  private failed(response: Record<string, unknown>): Error {
    const error = isRecord(response.error) ? response.error : {};
    return this.http.providerError(messageOf(error), codeOf(error));
  }

  private reply(items: Item[], response: Record<string, unknown>, names: WireNames): ModelReply {
    let text = '';
    let refused = false;
    const toolCalls: ToolCallRequest[] = [];
    for (const item of items) {
      if (item.type === 'message') text += item.text;
      refused ||= item.refused;
      if (item.type !== 'function_call') continue;
      toolCalls.push({
        id: item.callId === '' ? `call_${toolCalls.length}` : item.callId,
        name: names.decode(item.name),
        arguments: item.arguments,
      });
    }
    const usage = isRecord(response.usage) ? response.usage : {};
    const model = response.model;

    return {
      text,
      toolCalls,
      stop: refused ? 'filter' : stopOf(response, toolCalls.length > 0),
      usage: this.usage(count(usage.input_tokens), count(usage.output_tokens)),
      ...(typeof model === 'string' ? { model } : {}),
    };
  }
}

/**
 * Builds a driver from a host-configuration binding; `baseUrl` defaults to OpenAI's API.
 *
 * ```ts
 * const binding = { driver: 'openai-responses', model: 'gpt-5', apiKeyEnv: 'OPENAI_API_KEY' };
 * const driver = openAIResponsesFromBinding(binding, process.env);
 * ```
 */
export function openAIResponsesFromBinding(
  binding: ModelBinding,
  env: NodeJS.ProcessEnv,
): OpenAIResponsesDriver {
  return new OpenAIResponsesDriver({
    ...commonFromBinding(binding, env, DRIVER, DEFAULT_BASE_URL),
    maxTokens: numberField(binding, 'maxTokens'),
    toolChoice: enumField(binding, 'toolChoice', TOOL_CHOICES),
    parallelToolCalls: booleanField(binding, 'parallelToolCalls'),
    schemaMode: enumField(binding, 'schemaMode', SCHEMA_MODES),
    strictSchema: booleanField(binding, 'strictSchema'),
  });
}

/** One output item, reduced to what a reply needs. */
interface Item {
  type: 'message' | 'function_call' | 'other';
  text: string;
  refused: boolean;
  callId: string;
  name: string;
  arguments: string;
}

function itemOf(raw: Record<string, unknown>): Item {
  const item: Item = {
    type: 'other',
    text: '',
    refused: false,
    callId: '',
    name: '',
    arguments: '',
  };
  if (raw.type === 'function_call') {
    item.type = 'function_call';
    item.callId = typeof raw.call_id === 'string' ? raw.call_id : '';
    item.name = typeof raw.name === 'string' ? raw.name : '';
    item.arguments = rawArguments(raw.arguments);
  } else if (raw.type === 'message') {
    item.type = 'message';
    for (const part of Array.isArray(raw.content) ? raw.content : []) {
      if (!isRecord(part)) continue;
      if (part.type === 'output_text' && typeof part.text === 'string') item.text += part.text;
      if (part.type === 'refusal' && typeof part.refusal === 'string') {
        item.text += part.refusal;
        item.refused = true;
      }
    }
  }
  return item;
}

function stopOf(response: Record<string, unknown>, called: boolean): StopReason {
  if (response.status === 'completed' || response.status === undefined) {
    return called ? 'tool_calls' : 'end';
  }
  if (response.status !== 'incomplete') return 'other';
  const details = isRecord(response.incomplete_details) ? response.incomplete_details : {};
  if (details.reason === 'max_output_tokens') return 'length';
  if (details.reason === 'content_filter') return 'filter';
  return 'other';
}

function messageOf(error: Record<string, unknown>): string {
  if (typeof error.message === 'string') return error.message;
  return typeof error.code === 'string' ? error.code : 'the response failed';
}

function codeOf(error: Record<string, unknown>): Record<string, unknown> {
  return typeof error.code === 'string' ? { type: error.code } : {};
}

type WireItem =
  | { type: 'message'; role: 'system' | 'user' | 'assistant'; content: string }
  | { type: 'function_call'; call_id: string; name: string; arguments: string }
  | { type: 'function_call_output'; call_id: string; output: string };

interface WireRequest {
  model: string;
  input: WireItem[];
  store: false;
  stream: boolean;
  tools?: {
    type: 'function';
    name: string;
    description: string;
    parameters: Json;
    strict: boolean;
  }[];
  tool_choice?: Exclude<ResponsesToolChoice, 'omit'>;
  parallel_tool_calls?: boolean;
  max_output_tokens?: number;
  text?: {
    format: { type: 'json_schema'; name: string; schema: JsonObject; strict: boolean };
  };
}

function encodeMessage(message: Message, names: WireNames): WireItem[] {
  switch (message.role) {
    case 'system':
    case 'user':
      return [{ type: 'message', role: message.role, content: message.content }];
    case 'assistant': {
      const text: WireItem[] =
        message.content === ''
          ? []
          : [{ type: 'message', role: 'assistant', content: message.content }];
      const calls = (message.toolCalls ?? []).map(
        (call): WireItem => ({
          type: 'function_call',
          call_id: call.id,
          name: names.encode(call.name),
          arguments: call.arguments,
        }),
      );
      return [...text, ...calls];
    }
    case 'tool':
      // The wire has no error flag for a tool result; the content says so to the model.
      return [{ type: 'function_call_output', call_id: message.callId, output: message.content }];
    default: {
      const never: never = message;
      return never;
    }
  }
}
