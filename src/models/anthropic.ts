import type { JsonObject } from '../spec/types.js';
import { HttpDriver, type HttpDriverOptions } from './base.js';
import {
  booleanField,
  commonFromBinding,
  enumField,
  numberField,
  optionalString,
} from './binding.js';
import type {
  Message,
  ModelBinding,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
} from './driver.js';
import { type CallScope, sseEvents } from './http.js';
import { closeObjects, inlineRefs, normalizeSchema, SchemaCache } from './schema.js';
import {
  argumentsObject,
  count,
  isRecord,
  namesFor,
  parseJson,
  safeCallId,
  stringify,
  type WireNames,
} from './wire.js';

/**
 * A driver for the Anthropic Messages API (`POST {baseUrl}/messages`), streaming or not.
 *
 * Binding options beyond the common ones:
 * - `maxTokens`: the `max_tokens` the API requires. Default 4096.
 * - `anthropicVersion`: the `anthropic-version` header. Default `2023-06-01`.
 * - `schemaMode`: how a reply schema travels. `'output_format'` (default) uses the
 *   documented JSON outputs, `output_config.format` of type json_schema, which constrains the
 *   answer text itself, on the models that support structured outputs; objects the schema
 *   leaves open are closed (`additionalProperties: false`), as the API asks. `'tool'` forces
 *   a tool whose input is the answer, for models without structured outputs; it leaves the
 *   model no other tool to call. `'none'` states the schema in the system prompt only.
 * - `toolChoice`: `'omit'` (default), `'auto'`, `'any'`, `'none'`.
 * - `parallelToolCalls: false`: sets `disable_parallel_tool_use`.
 *
 * Tool calls go out as `tool_use` blocks whose `input` is always an object, results as
 * `tool_result` blocks in the next user turn (consecutive results share one), and every
 * system message joins the top-level `system` field.
 */

export interface AnthropicOptions extends HttpDriverOptions {
  anthropicVersion?: string;
  schemaMode?: AnthropicSchemaMode;
  toolChoice?: AnthropicToolChoice;
  parallelToolCalls?: boolean;
}

type AnthropicSchemaMode = 'output_format' | 'tool' | 'none';
type AnthropicToolChoice = 'omit' | 'auto' | 'any' | 'none';

const DRIVER = 'anthropic';
const DEFAULT_BASE_URL = 'https://api.anthropic.com/v1';
const DEFAULT_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 4096;
/** The forced tool of schemaMode 'tool'. Offered tools encode with `__`, so it cannot clash. */
const ANSWER_TOOL = 'mvm_answer';
const SCHEMA_MODES: readonly AnthropicSchemaMode[] = ['output_format', 'tool', 'none'];
const TOOL_CHOICES: readonly AnthropicToolChoice[] = ['omit', 'auto', 'any', 'none'];

/**
 * Calls Claude over the Messages API with plain `fetch`.
 *
 * ```ts
 * const driver = new AnthropicDriver({ baseUrl: 'https://api.anthropic.com/v1', model, apiKey });
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export class AnthropicDriver extends HttpDriver {
  private readonly options: AnthropicOptions;
  private readonly schemas = new SchemaCache('anthropic');

  constructor(options: AnthropicOptions) {
    super(
      {
        driver: DRIVER,
        path: '/messages',
        auth: (key) => ({ 'x-api-key': key }),
        accept: (stream) => (stream ? 'text/event-stream' : 'application/json'),
        streamByDefault: false,
      },
      {
        ...options,
        headers: {
          'anthropic-version': options.anthropicVersion ?? DEFAULT_VERSION,
          ...options.headers,
        },
      },
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
    const mode = options.schemaMode ?? 'output_format';
    const system = request.messages.flatMap((m) => (m.role === 'system' ? [m.content] : []));
    const tools: WireTool[] = request.tools.map((tool) => ({
      name: names.encode(tool.name),
      ...(tool.description === '' ? {} : { description: tool.description }),
      input_schema: this.schemas.of(tool),
    }));
    const wire: WireRequest = {
      model: this.model,
      max_tokens: options.maxTokens ?? DEFAULT_MAX_TOKENS,
      messages: encodeMessages(request.messages, names),
    };

    if (request.schema !== undefined && mode === 'none') {
      const schema = JSON.stringify(inlineRefs(request.schema, 'the reply schema'));
      system.push(`Answer with JSON only, meeting this JSON Schema: ${schema}`);
    }
    if (system.length > 0) wire.system = system.join('\n\n');
    if (request.schema !== undefined && mode === 'output_format') {
      const schema = closeObjects(inlineRefs(request.schema, 'the reply schema'));
      wire.output_config = {
        format: { type: 'json_schema', schema: typeof schema === 'boolean' ? {} : schema },
      };
    }
    if (request.schema !== undefined && mode === 'tool') {
      tools.push({
        name: ANSWER_TOOL,
        description: 'Give your answer as this tool input.',
        input_schema: normalizeSchema(request.schema, 'the reply schema', 'anthropic'),
      });
      wire.tool_choice = { type: 'tool', name: ANSWER_TOOL };
    } else if (tools.length > 0) {
      const choice = options.toolChoice ?? 'omit';
      const serial = options.parallelToolCalls === false;
      if (choice !== 'omit' || serial) {
        wire.tool_choice = {
          type: choice === 'omit' ? 'auto' : choice,
          ...(serial && choice !== 'none' ? { disable_parallel_tool_use: true } : {}),
        };
      }
    }
    if (tools.length > 0) wire.tools = tools;
    if (this.streaming) wire.stream = true;
    return wire;
  }

  private decode(status: number, text: string, names: WireNames): ModelReply {
    const json = parseJson(text);
    if (json === undefined) throw this.http.badReply(status, text, 'the reply is not json');
    if (!isRecord(json) || !Array.isArray(json.content)) {
      throw this.http.badReply(status, text, 'the reply has no content list');
    }

    const blocks: Block[] = json.content.flatMap((raw: unknown): Block[] => {
      if (!isRecord(raw)) return [];
      if (raw.type === 'text') return [{ type: 'text', text: stringOf(raw.text) }];
      if (raw.type !== 'tool_use') return [];
      return [
        {
          type: 'tool_use',
          id: stringOf(raw.id),
          name: stringOf(raw.name),
          raw: stringify(raw.input ?? {}),
        },
      ];
    });
    return this.reply(blocks, json.stop_reason, usageOf(json.usage), json.model, names);
  }

  private async readStream(
    response: Response,
    scope: CallScope,
    names: WireNames,
    request: ModelRequest,
  ): Promise<ModelReply> {
    const blocks = new Map<number, StreamBlock>();
    const usage: Record<string, unknown> = {};
    let stop: unknown;
    let model: unknown;
    let done = false;

    for await (const sse of sseEvents(this.http.chunks(response, scope))) {
      const event = parseJson(sse.data);
      if (!isRecord(event)) continue;
      const type = typeof event.type === 'string' ? event.type : sse.event;

      if (type === 'message_stop') {
        done = true;
        break;
      }
      if (type === 'error') throw this.streamError(event.error);
      if (type === 'message_start' && isRecord(event.message)) {
        model = event.message.model;
        mergeCounts(usage, event.message.usage);
      } else if (type === 'content_block_start' && isRecord(event.content_block)) {
        blocks.set(count(event.index), startBlock(event.content_block));
      } else if (type === 'content_block_delta' && isRecord(event.delta)) {
        const block = blocks.get(count(event.index));
        const piece = deltaOf(block, event.delta);
        if (piece !== '' && block !== undefined && shows(block)) request.onText?.(piece);
      } else if (type === 'message_delta') {
        if (isRecord(event.delta) && event.delta.stop_reason !== undefined) {
          stop = event.delta.stop_reason;
        }
        // Counts in message_delta are running totals, so later ones replace earlier ones.
        mergeCounts(usage, event.usage);
      }
    }

    if (!done) throw this.http.streamCut();
    const ordered = [...blocks.entries()].sort(([a], [b]) => a - b).map(([, block]) => block);
    return this.reply(ordered.map(finishBlock), stop, usageOf(usage), model, names);

    function shows(block: StreamBlock): boolean {
      return block.type === 'text' || (block.type === 'tool_use' && block.name === ANSWER_TOOL);
    }
  }

  private streamError(error: unknown): Error {
    const kind = isRecord(error) && typeof error.type === 'string' ? error.type : 'error';
    const said = isRecord(error) && typeof error.message === 'string' ? error.message : kind;
    return this.http.providerError(said, { type: kind });
  }

  private reply(
    blocks: Block[],
    stopReason: unknown,
    usage: { input: number; output: number },
    model: unknown,
    names: WireNames,
  ): ModelReply {
    let text = '';
    const toolCalls: ToolCallRequest[] = [];
    let answered = false;
    for (const block of blocks) {
      if (block.type === 'text') text += block.text;
      else if (block.name === ANSWER_TOOL && this.options.schemaMode === 'tool') {
        text += block.raw;
        answered = true;
      } else toolCalls.push({ id: block.id, name: names.decode(block.name), arguments: block.raw });
    }

    const mapped = typeof stopReason === 'string' ? STOPS.get(stopReason) : undefined;
    const forced = answered && toolCalls.length === 0 && mapped === 'tool_calls';
    return {
      text,
      toolCalls,
      stop: forced ? 'end' : (mapped ?? 'other'),
      usage: this.usage(usage.input, usage.output),
      ...(typeof model === 'string' ? { model } : {}),
    };
  }
}

/**
 * Builds a driver from a host-configuration binding; `baseUrl` defaults to Anthropic's API.
 *
 * ```ts
 * const binding = { driver: 'anthropic', model: 'claude-sonnet-4-5', apiKeyEnv: 'KEY' };
 * const driver = anthropicFromBinding(binding, process.env);
 * ```
 */
export function anthropicFromBinding(
  binding: ModelBinding,
  env: NodeJS.ProcessEnv,
): AnthropicDriver {
  return new AnthropicDriver({
    ...commonFromBinding(binding, env, DRIVER, DEFAULT_BASE_URL),
    maxTokens: numberField(binding, 'maxTokens'),
    anthropicVersion: optionalString(binding, 'anthropicVersion'),
    schemaMode: enumField(binding, 'schemaMode', SCHEMA_MODES),
    toolChoice: enumField(binding, 'toolChoice', TOOL_CHOICES),
    parallelToolCalls: booleanField(binding, 'parallelToolCalls'),
  });
}

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; raw: string };

/** A block being streamed: a tool's input arrives as pieces of JSON text. */
type StreamBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; start: unknown; json: string; pieces: number }
  | { type: 'other' };

function startBlock(raw: Record<string, unknown>): StreamBlock {
  if (raw.type === 'text') return { type: 'text', text: stringOf(raw.text) };
  if (raw.type !== 'tool_use') return { type: 'other' };
  const id = stringOf(raw.id);
  return { type: 'tool_use', id, name: stringOf(raw.name), start: raw.input, json: '', pieces: 0 };
}

/** Applies one delta; returns the text it added, for display. */
function deltaOf(block: StreamBlock | undefined, delta: Record<string, unknown>): string {
  if (block?.type === 'text' && delta.type === 'text_delta') {
    const piece = stringOf(delta.text);
    block.text += piece;
    return piece;
  }
  if (block?.type === 'tool_use' && delta.type === 'input_json_delta') {
    const piece = stringOf(delta.partial_json);
    block.json += piece;
    block.pieces++;
    return piece;
  }
  return '';
}

/** A tool's input is the JSON its pieces spell, raw; with no pieces, the input it started with. */
function finishBlock(block: StreamBlock): Block {
  if (block.type === 'text') return block;
  if (block.type === 'other') return { type: 'text', text: '' };
  const raw = block.json !== '' ? block.json : stringify(block.start ?? {});
  return { type: 'tool_use', id: block.id, name: block.name, raw };
}

type Content =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: JsonObject }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: true };

interface WireMessage {
  role: 'user' | 'assistant';
  content: string | Content[];
}

interface WireTool {
  name: string;
  description?: string;
  input_schema: JsonObject;
}

interface WireRequest {
  model: string;
  max_tokens: number;
  system?: string;
  messages: WireMessage[];
  tools?: WireTool[];
  tool_choice?:
    | { type: 'auto' | 'any' | 'none'; disable_parallel_tool_use?: boolean }
    | { type: 'tool'; name: string };
  output_config?: { format: { type: 'json_schema'; schema: JsonObject } };
  stream?: true;
}

/**
 * The conversation as alternating user and assistant turns. Consecutive messages of one role
 * share a turn; in a user turn, tool results come before text, as the API requires. Empty
 * text is left out: the API refuses empty text blocks.
 */
function encodeMessages(messages: Message[], names: WireNames): WireMessage[] {
  const turns: { role: 'user' | 'assistant'; content: Content[] }[] = [];
  const add = (role: 'user' | 'assistant', content: Content[]) => {
    if (content.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...content);
    else turns.push({ role, content: [...content] });
  };

  for (const message of messages) {
    switch (message.role) {
      case 'system':
        break;
      case 'user':
        add('user', textBlock(message.content));
        break;
      case 'assistant':
        add('assistant', [
          ...textBlock(message.content),
          ...(message.toolCalls ?? []).map(
            (call): Content => ({
              type: 'tool_use',
              id: safeCallId(call.id),
              name: names.encode(call.name),
              input: argumentsObject(call.arguments),
            }),
          ),
        ]);
        break;
      case 'tool':
        add('user', [
          {
            type: 'tool_result',
            tool_use_id: safeCallId(message.callId),
            content: message.content,
            ...(message.isError ? { is_error: true as const } : {}),
          },
        ]);
        break;
      default: {
        const never: never = message;
        return never;
      }
    }
  }

  return turns.map(({ role, content }) => {
    const ordered =
      role === 'user'
        ? [
            ...content.filter((block) => block.type === 'tool_result'),
            ...content.filter((block) => block.type !== 'tool_result'),
          ]
        : content;
    const only = ordered[0];
    return ordered.length === 1 && only?.type === 'text'
      ? { role, content: only.text }
      : { role, content: ordered };
  });
}

function textBlock(text: string): Content[] {
  return text === '' ? [] : [{ type: 'text', text }];
}

const STOPS = new Map<string, StopReason>([
  ['end_turn', 'end'],
  ['stop_sequence', 'end'],
  ['tool_use', 'tool_calls'],
  ['max_tokens', 'length'],
  ['model_context_window_exceeded', 'length'],
  ['refusal', 'filter'],
]);

/** Input counts the cached prompt too: it is context the model read, whatever it cost. */
function usageOf(raw: unknown): { input: number; output: number } {
  const usage = isRecord(raw) ? raw : {};
  const input =
    count(usage.input_tokens) +
    count(usage.cache_creation_input_tokens) +
    count(usage.cache_read_input_tokens);
  return { input, output: count(usage.output_tokens) };
}

/** Later counts replace earlier ones; a field sent as null or missing keeps its count. */
function mergeCounts(into: Record<string, unknown>, from: unknown): void {
  if (!isRecord(from)) return;
  for (const [key, value] of Object.entries(from)) if (typeof value === 'number') into[key] = value;
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
