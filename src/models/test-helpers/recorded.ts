import type { ServerResponse } from 'node:http';
import type { RecordedReply } from '../replay.js';
import { frame, ndjson, send, serve, sse, type TestServer } from './loopback.js';

/**
 * A loopback model server that plays recorded replies (the replay driver's format) in the wire
 * format of one HTTP driver: request n is answered with reply n, streamed when the request
 * asks for a stream, as the provider would send it. Tool names the request offered go out in
 * their wire form (`ns/name` as `ns__name`); any other name goes out as recorded.
 */

export type WireDriver = 'openai-compatible' | 'openai-responses' | 'anthropic' | 'ollama';

export const WIRE_DRIVERS: readonly WireDriver[] = [
  'openai-compatible',
  'openai-responses',
  'anthropic',
  'ollama',
];

/** A recorded call, ready for the wire: its id, its wire name and its raw argument text. */
interface Call {
  id: string;
  name: string;
  raw: string;
}

interface Reply {
  text: string;
  calls: Call[];
  stop: NonNullable<RecordedReply['stop']>;
  input: number;
  output: number;
  /** The model the provider says answered, and the fingerprint where its format has one. */
  model: string;
  fingerprint?: string;
}

type Body = Record<string, unknown>;
type Writer = (res: ServerResponse, reply: Reply, stream: boolean) => void;

/** Serves `replies` as `driver` would receive them; `baseUrl` goes in the binding. */
export function serveRecorded(driver: WireDriver, replies: RecordedReply[]): Promise<TestServer> {
  return serve(
    (seen, res, index) => {
      const recorded = replies[index];
      if (recorded === undefined) {
        send(res, 400, { error: { message: `no reply ${index + 1} was recorded` } });
        return;
      }
      const body = JSON.parse(seen.body) as Body;
      WRITERS[driver](res, prepare(recorded, index, offered(driver, body)), body.stream === true);
    },
    driver === 'ollama' ? '' : '/v1',
  );
}

/** The wire names of the tools a request offered. */
function offered(driver: WireDriver, body: Body): Set<string> {
  const tools = Array.isArray(body.tools) ? (body.tools as Body[]) : [];
  const nested = driver === 'openai-compatible' || driver === 'ollama';
  return new Set(tools.map((t) => String(nested ? (t.function as Body).name : t.name)));
}

function prepare(recorded: RecordedReply, index: number, names: Set<string>): Reply {
  const calls = (recorded.toolCalls ?? []).map((c, i) => {
    const wire = c.name.replaceAll('/', '__').replace(/[^a-zA-Z0-9_-]/g, '_');
    return {
      id: c.id ?? `call_${index + 1}_${i}`,
      name: names.has(wire) ? wire : c.name,
      raw: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
    };
  });
  return {
    text: recorded.text ?? '',
    calls,
    stop: recorded.stop ?? (calls.length > 0 ? 'tool_calls' : 'end'),
    input: recorded.usage?.inputTokens ?? 0,
    output: recorded.usage?.outputTokens ?? 0,
    model: recorded.model ?? MODEL,
    ...(recorded.fingerprint === undefined ? {} : { fingerprint: recorded.fingerprint }),
  };
}

/** The arguments as an object, for wire formats that carry nothing else. */
function object(raw: string): unknown {
  return raw === '' ? {} : JSON.parse(raw);
}

/** Text in two pieces, so that streams carry more than one delta. */
function halves(text: string): string[] {
  const middle = Math.ceil(text.length / 2);
  return [text.slice(0, middle), text.slice(middle)].filter((piece) => piece !== '');
}

const MODEL = 'mock-model';

const OPENAI_STOPS = { end: 'stop', tool_calls: 'tool_calls', length: 'length' } as const;
const ANTHROPIC_STOPS = { end: 'end_turn', tool_calls: 'tool_use', length: 'max_tokens' } as const;

function stopOf(stops: Record<string, string>, stop: Reply['stop']): string {
  return stops[stop] ?? (stop === 'filter' ? 'content_filter' : 'other');
}

const openAICompatible: Writer = (res, reply, stream) => {
  const finish = stopOf(OPENAI_STOPS, reply.stop);
  const usage = { prompt_tokens: reply.input, completion_tokens: reply.output };
  const base: Body = {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: reply.model,
  };
  if (reply.fingerprint !== undefined) base.system_fingerprint = reply.fingerprint;
  if (!stream) {
    const message: Body = { role: 'assistant', content: reply.text === '' ? null : reply.text };
    if (reply.calls.length > 0) {
      message.tool_calls = reply.calls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.raw },
      }));
    }
    send(res, 200, { ...base, choices: [{ index: 0, message, finish_reason: finish }], usage });
    return;
  }
  const chunk = (delta: Body, finishReason: string | null = null) =>
    frame({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
  const frames = [chunk({ role: 'assistant', content: '' })];
  for (const piece of halves(reply.text)) frames.push(chunk({ content: piece }));
  reply.calls.forEach((c, index) => {
    const [first = '', ...rest] = halves(c.raw);
    const fn = { name: c.name, arguments: first };
    frames.push(chunk({ tool_calls: [{ index, id: c.id, type: 'function', function: fn }] }));
    for (const piece of rest) {
      frames.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  frames.push(chunk({}, finish));
  frames.push(frame({ ...base, object: 'chat.completion.chunk', choices: [], usage }));
  frames.push(frame('[DONE]'));
  sse(res, frames);
};

const openAIResponses: Writer = (res, reply, stream) => {
  const items: Body[] = [];
  if (reply.text !== '') {
    items.push({
      type: 'message',
      id: 'msg_1',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', text: reply.text, annotations: [] }],
    });
  }
  for (const [i, c] of reply.calls.entries()) {
    items.push({
      type: 'function_call',
      id: `fc_${i}`,
      call_id: c.id,
      name: c.name,
      arguments: c.raw,
      status: 'completed',
    });
  }
  const incomplete = reply.stop === 'length' || reply.stop === 'filter';
  const reason = reply.stop === 'length' ? 'max_output_tokens' : 'content_filter';
  const response = {
    id: 'resp_1',
    object: 'response',
    model: reply.model,
    status: incomplete ? 'incomplete' : 'completed',
    incomplete_details: incomplete ? { reason } : null,
    output: items,
    usage: {
      input_tokens: reply.input,
      output_tokens: reply.output,
      total_tokens: reply.input + reply.output,
    },
  };
  if (!stream) {
    send(res, 200, response);
    return;
  }
  const event = (type: string, data: Body) => frame({ type, ...data }, type);
  const frames = [event('response.created', { response: { ...response, output: [] } })];
  items.forEach((item, index) => {
    const id = String(item.id);
    if (item.type === 'message') {
      const added = { ...item, status: 'in_progress', content: [] };
      frames.push(event('response.output_item.added', { output_index: index, item: added }));
      for (const delta of halves(reply.text)) {
        const at = { item_id: id, output_index: index, content_index: 0 };
        frames.push(event('response.output_text.delta', { ...at, delta }));
      }
    } else {
      const added = { ...item, status: 'in_progress', arguments: '' };
      frames.push(event('response.output_item.added', { output_index: index, item: added }));
      for (const delta of halves(String(item.arguments))) {
        const at = { item_id: id, output_index: index };
        frames.push(event('response.function_call_arguments.delta', { ...at, delta }));
      }
      const done = { item_id: id, output_index: index, arguments: item.arguments };
      frames.push(event('response.function_call_arguments.done', done));
    }
    frames.push(event('response.output_item.done', { output_index: index, item }));
  });
  const last = incomplete ? 'response.incomplete' : 'response.completed';
  frames.push(event(last, { response }));
  sse(res, frames);
};

const anthropic: Writer = (res, reply, stream) => {
  const stop = stopOf(ANTHROPIC_STOPS, reply.stop);
  const message = { id: 'msg_1', type: 'message', role: 'assistant', model: reply.model };
  if (!stream) {
    const content: Body[] = [];
    if (reply.text !== '') content.push({ type: 'text', text: reply.text });
    for (const c of reply.calls) {
      // Messages carries a tool's input as an object; its raw text goes only in a stream.
      content.push({ type: 'tool_use', id: c.id, name: c.name, input: object(c.raw) });
    }
    const usage = { input_tokens: reply.input, output_tokens: reply.output };
    send(res, 200, { ...message, content, stop_reason: stop, stop_sequence: null, usage });
    return;
  }
  const event = (type: string, data: Body) => frame({ type, ...data }, type);
  const start = {
    ...message,
    content: [],
    stop_reason: null,
    usage: { input_tokens: reply.input },
  };
  const frames = [event('message_start', { message: start })];
  let index = 0;
  if (reply.text !== '') {
    const block = { type: 'text', text: '' };
    frames.push(event('content_block_start', { index, content_block: block }));
    for (const text of halves(reply.text)) {
      frames.push(event('content_block_delta', { index, delta: { type: 'text_delta', text } }));
    }
    frames.push(event('content_block_stop', { index }));
    index++;
  }
  for (const c of reply.calls) {
    const block = { type: 'tool_use', id: c.id, name: c.name, input: {} };
    frames.push(event('content_block_start', { index, content_block: block }));
    for (const partial_json of halves(c.raw)) {
      const delta = { type: 'input_json_delta', partial_json };
      frames.push(event('content_block_delta', { index, delta }));
    }
    frames.push(event('content_block_stop', { index }));
    index++;
  }
  const delta = { stop_reason: stop, stop_sequence: null };
  frames.push(event('message_delta', { delta, usage: { output_tokens: reply.output } }));
  frames.push(event('message_stop', {}));
  sse(res, frames);
};

const ollama: Writer = (res, reply, stream) => {
  const reason = reply.stop === 'length' ? 'length' : 'stop';
  // Ollama carries arguments as an object, and says only `stop` after a turn of tool calls.
  const calls = reply.calls.map((c, index) => ({
    id: c.id,
    function: { index, name: c.name, arguments: object(c.raw) },
  }));
  const final = {
    done: true,
    done_reason: reason,
    prompt_eval_count: reply.input,
    eval_count: reply.output,
  };
  const at = { model: reply.model, created_at: '2026-01-01T00:00:00Z' };
  if (!stream) {
    const message: Body = { role: 'assistant', content: reply.text };
    if (calls.length > 0) message.tool_calls = calls;
    send(res, 200, { ...at, message, ...final });
    return;
  }
  const records: Body[] = halves(reply.text).map((content) => ({
    ...at,
    message: { role: 'assistant', content },
    done: false,
  }));
  if (calls.length > 0) {
    records.push({
      ...at,
      message: { role: 'assistant', content: '', tool_calls: calls },
      done: false,
    });
  }
  records.push({ ...at, message: { role: 'assistant', content: '' }, ...final });
  ndjson(res, records);
};

const WRITERS: Record<WireDriver, Writer> = {
  'openai-compatible': openAICompatible,
  'openai-responses': openAIResponses,
  anthropic,
  ollama,
};
