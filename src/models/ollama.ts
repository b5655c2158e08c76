import type { Json, JsonObject } from '../spec/types.js';
import { HttpDriver, type HttpDriverOptions } from './base.js';
import { bindingError, commonFromBinding, enumField, objectField } from './binding.js';
import type {
  Message,
  ModelBinding,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
} from './driver.js';
import { type CallScope, ndjsonLines } from './http.js';
import { inlineRefs, SchemaCache } from './schema.js';
import {
  argumentsObject,
  count,
  isRecord,
  namesFor,
  parseJson,
  rawArguments,
  turnOf,
  type WireNames,
} from './wire.js';

/**
 * A driver for Ollama's native chat API (`POST {baseUrl}/api/chat`, where `baseUrl` is the
 * server root, default `http://127.0.0.1:11434`). It streams newline-delimited JSON by
 * default (`stream: false` asks for one document).
 *
 * Binding options beyond the common ones:
 * - `options`: Ollama's runtime options (`num_ctx`, `temperature`, `num_predict`...), sent as
 *   given.
 * - `keepAlive`: how long the server keeps the model loaded, as `keep_alive` (`'5m'`, `0`).
 * - `schemaMode`: `'format'` (default) sends a reply schema as `format`; `'none'` states it
 *   in a system message only.
 *
 * Ollama sends tool-call arguments as parsed objects; they become JSON text here, as every
 * driver gives them. Calls without an id get `call_<turn>_<index>`, where the turn counts the
 * assistant messages before this reply, so a replayed request gets the same ids.
 */

export interface OllamaOptions extends HttpDriverOptions {
  options?: JsonObject;
  keepAlive?: string | number;
  schemaMode?: OllamaSchemaMode;
}

type OllamaSchemaMode = 'format' | 'none';

const DRIVER = 'ollama';
const DEFAULT_BASE_URL = 'http://127.0.0.1:11434';
const SCHEMA_MODES: readonly OllamaSchemaMode[] = ['format', 'none'];

/**
 * Calls a model served by Ollama with plain `fetch`.
 *
 * ```ts
 * const driver = new OllamaDriver({ baseUrl: 'http://127.0.0.1:11434', model: 'qwen3' });
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export class OllamaDriver extends HttpDriver {
  private readonly options: OllamaOptions;
  private readonly schemas = new SchemaCache('ollama');

  constructor(options: OllamaOptions) {
    super(
      {
        driver: DRIVER,
        path: '/api/chat',
        auth: (key) => ({ authorization: `Bearer ${key}` }),
        accept: (stream) => (stream ? 'application/x-ndjson' : 'application/json'),
        streamByDefault: true,
      },
      options,
    );
    this.options = options;
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const names = namesFor(request.tools, request.messages);
    const body = JSON.stringify(this.encode(request, names));
    const turn = turnOf(request.messages);

    return this.http.call(body, request.signal, async (response, scope) =>
      this.streaming
        ? this.readStream(response, scope, names, turn, request)
        : this.decode(response.status, await this.http.text(response, scope), names, turn),
    );
  }

  private encode(request: ModelRequest, names: WireNames): WireRequest {
    const options = this.options;
    const messages = request.messages.map((message) => encodeMessage(message, names));
    const wire: WireRequest = { model: this.model, messages, stream: this.streaming };

    if (request.tools.length > 0) {
      wire.tools = request.tools.map((tool) => ({
        type: 'function',
        function: {
          name: names.encode(tool.name),
          description: tool.description,
          parameters: this.schemas.of(tool),
        },
      }));
    }
    if (request.schema !== undefined) {
      const inlined = inlineRefs(request.schema, 'the reply schema');
      const schema: JsonObject = inlined === true ? {} : inlined === false ? { not: {} } : inlined;
      if ((options.schemaMode ?? 'format') === 'format') wire.format = schema;
      else {
        const words = `Answer with JSON only, meeting this JSON Schema: ${JSON.stringify(schema)}`;
        wire.messages = [{ role: 'system', content: words }, ...wire.messages];
      }
    }
    if (options.options !== undefined) wire.options = options.options;
    if (options.keepAlive !== undefined) wire.keep_alive = options.keepAlive;
    return wire;
  }

  private decode(status: number, text: string, names: WireNames, turn: number): ModelReply {
    const json = parseJson(text);
    if (json === undefined) throw this.http.badReply(status, text, 'the reply is not json');
    if (isRecord(json) && typeof json.error === 'string') {
      throw this.http.providerError(json.error);
    }
    if (!isRecord(json) || !isRecord(json.message)) {
      throw this.http.badReply(status, text, 'the reply has no message');
    }

    const message = json.message;
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    const content = typeof message.content === 'string' ? message.content : '';
    return this.reply(content, calls, json, names, turn);
  }

  private async readStream(
    response: Response,
    scope: CallScope,
    names: WireNames,
    turn: number,
    request: ModelRequest,
  ): Promise<ModelReply> {
    let text = '';
    const calls: unknown[] = [];
    let final: Record<string, unknown> | undefined;

    for await (const line of ndjsonLines(this.http.chunks(response, scope))) {
      const chunk = parseJson(line);
      if (!isRecord(chunk)) {
        throw this.http.badReply(response.status, line, 'a stream line is not a json object');
      }
      if (typeof chunk.error === 'string') throw this.http.providerError(chunk.error);

      const message = isRecord(chunk.message) ? chunk.message : {};
      if (typeof message.content === 'string' && message.content !== '') {
        text += message.content;
        request.onText?.(message.content);
      }
      // Each tool call arrives whole, in the chunk that completes it.
      if (Array.isArray(message.tool_calls)) calls.push(...message.tool_calls);
      if (chunk.done === true) {
        final = chunk;
        break;
      }
    }

    if (final === undefined) throw this.http.streamCut();
    return this.reply(text, calls, final, names, turn);
  }

  private reply(
    text: string,
    calls: unknown[],
    final: Record<string, unknown>,
    names: WireNames,
    turn: number,
  ): ModelReply {
    const toolCalls = calls.map((raw, index): ToolCallRequest => {
      const call = isRecord(raw) ? raw : {};
      const fn = isRecord(call.function) ? call.function : {};
      return {
        id: typeof call.id === 'string' && call.id !== '' ? call.id : `call_${turn}_${index}`,
        name: typeof fn.name === 'string' ? names.decode(fn.name) : '',
        arguments: rawArguments(fn.arguments),
      };
    });
    const reason = typeof final.done_reason === 'string' ? final.done_reason : 'stop';
    const mapped: StopReason = STOPS.get(reason) ?? 'other';

    return {
      text,
      toolCalls,
      stop: mapped === 'end' && toolCalls.length > 0 ? 'tool_calls' : mapped,
      usage: this.usage(count(final.prompt_eval_count), count(final.eval_count)),
      ...(typeof final.model === 'string' ? { model: final.model } : {}),
    };
  }
}

/**
 * Builds a driver from a host-configuration binding; `baseUrl` defaults to a local server.
 *
 * ```ts
 * const driver = ollamaFromBinding({ driver: 'ollama', model: 'qwen3' }, process.env);
 * ```
 */
export function ollamaFromBinding(binding: ModelBinding, env: NodeJS.ProcessEnv): OllamaDriver {
  const keepAlive = binding.keepAlive;
  if (keepAlive !== undefined && typeof keepAlive !== 'string' && typeof keepAlive !== 'number') {
    throw bindingError('keepAlive', 'a duration string or a number of seconds', keepAlive);
  }

  return new OllamaDriver({
    ...commonFromBinding(binding, env, DRIVER, DEFAULT_BASE_URL),
    options: objectField(binding, 'options'),
    keepAlive,
    schemaMode: enumField(binding, 'schemaMode', SCHEMA_MODES),
  });
}

const STOPS = new Map<string, StopReason>([
  ['stop', 'end'],
  ['length', 'length'],
]);

type WireMessage =
  | { role: 'system' | 'user'; content: string }
  | {
      role: 'assistant';
      content: string;
      tool_calls?: { function: { name: string; arguments: JsonObject } }[];
    }
  | { role: 'tool'; content: string; tool_name: string };

interface WireRequest {
  model: string;
  messages: WireMessage[];
  stream: boolean;
  tools?: {
    type: 'function';
    function: { name: string; description: string; parameters: Json };
  }[];
  format?: JsonObject;
  options?: JsonObject;
  keep_alive?: string | number;
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
        content: message.content,
        tool_calls: calls.map((call) => ({
          function: { name: names.encode(call.name), arguments: argumentsObject(call.arguments) },
        })),
      };
    }
    case 'tool':
      // Ollama pairs a result with its call by the tool's name; it has no error flag.
      return { role: 'tool', content: message.content, tool_name: names.encode(message.name) };
    default: {
      const never: never = message;
      return never;
    }
  }
}
