import { afterEach, describe, expect, it } from 'vitest';
import type { Message, ModelRequest } from './driver.js';
import { OpenAIResponsesDriver, openAIResponsesFromBinding } from './openai-responses.js';
import { closeAll, failure, frame, send, serve, sse } from './test-helpers/loopback.js';

afterEach(closeAll);

const hello: Message[] = [{ role: 'user', content: 'hello' }];
const tools = [
  { name: 'fs/read_file', description: 'read a file', inputSchema: { type: 'object' } },
  { name: 'web/search', description: 'search', inputSchema: { type: 'object' } },
];

function request(extra: Partial<ModelRequest> = {}): ModelRequest {
  return { slot: 'main', messages: hello, tools: [], ...extra };
}

function textItem(text: string, id = 'msg_1') {
  return {
    type: 'message',
    id,
    status: 'completed',
    role: 'assistant',
    content: [{ type: 'output_text', text, annotations: [] }],
  };
}

function callItem(callId: string, name: string, args: string, id = `fc_${callId}`) {
  return { type: 'function_call', id, call_id: callId, name, arguments: args, status: 'completed' };
}

/** A response object as documented. */
function response(output: unknown[], extra: Record<string, unknown> = {}) {
  return {
    id: 'resp_1',
    object: 'response',
    created_at: 1_700_000_000,
    status: 'completed',
    model: 'gpt-test',
    output,
    usage: { input_tokens: 31, output_tokens: 8, total_tokens: 39 },
    ...extra,
  };
}

let sequence = 0;
/** One streaming event; Responses events carry their type in the data and as the SSE name. */
function ev(type: string, payload: Record<string, unknown> = {}): string {
  return frame({ type, sequence_number: sequence++, ...payload }, type);
}

function driver(baseUrl: string, extra = {}) {
  return new OpenAIResponsesDriver({ baseUrl, model: 'gpt-test', apiKey: 'sk-test', ...extra });
}

describe('OpenAIResponsesDriver replies', () => {
  it('maps a plain text reply and sends a stateless request', async () => {
    const server = await serve((_, res) =>
      send(res, 200, response([{ type: 'reasoning', id: 'rs_1', summary: [] }, textItem('hi')])),
    );

    const reply = await driver(server.baseUrl).call(request());

    expect(reply).toEqual({
      text: 'hi',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 31, outputTokens: 8 },
      model: 'gpt-test',
    });
    expect(server.seen[0]?.path).toBe('/v1/responses');
    expect(server.seen[0]?.headers.authorization).toBe('Bearer sk-test');
    expect(server.body(0)).toEqual({
      model: 'gpt-test',
      input: [{ type: 'message', role: 'user', content: 'hello' }],
      store: false,
      stream: false,
    });
  });

  it('decodes parallel function_call items by call_id', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        response([
          callItem('call_A', 'fs__read_file', '{"path":"a.md"}'),
          callItem('call_B', 'web__search', '{"q":"oslo"}'),
        ]),
      ),
    );

    const reply = await driver(server.baseUrl).call(request({ tools }));

    expect(reply.stop).toBe('tool_calls');
    expect(reply.toolCalls).toEqual([
      { id: 'call_A', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
      { id: 'call_B', name: 'web/search', arguments: '{"q":"oslo"}' },
    ]);
    expect(server.body(0).tools).toEqual([
      {
        type: 'function',
        name: 'fs__read_file',
        description: 'read a file',
        parameters: { type: 'object' },
        strict: false,
      },
      {
        type: 'function',
        name: 'web__search',
        description: 'search',
        parameters: { type: 'object' },
        strict: false,
      },
    ]);
  });

  it('sends calls and results as function_call and function_call_output items', async () => {
    const server = await serve((_, res) => send(res, 200, response([textItem('done')])));
    const messages: Message[] = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'read two files' },
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          { id: 'call_1', name: 'fs/read_file', arguments: '{"path":"a"}' },
          { id: 'call_2', name: 'fs/read_file', arguments: '{"path":"b"}' },
        ],
      },
      { role: 'tool', callId: 'call_1', name: 'fs/read_file', content: 'A' },
      { role: 'tool', callId: 'call_2', name: 'fs/read_file', content: 'gone', isError: true },
      { role: 'assistant', content: 'read both' },
    ];
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };

    await driver(server.baseUrl, { maxTokens: 100 }).call(request({ messages, tools, schema }));

    expect(server.body(0)).toMatchObject({
      input: [
        { type: 'message', role: 'system', content: 'be brief' },
        { type: 'message', role: 'user', content: 'read two files' },
        {
          type: 'function_call',
          call_id: 'call_1',
          name: 'fs__read_file',
          arguments: '{"path":"a"}',
        },
        {
          type: 'function_call',
          call_id: 'call_2',
          name: 'fs__read_file',
          arguments: '{"path":"b"}',
        },
        { type: 'function_call_output', call_id: 'call_1', output: 'A' },
        { type: 'function_call_output', call_id: 'call_2', output: 'gone' },
        { type: 'message', role: 'assistant', content: 'read both' },
      ],
      store: false,
      max_output_tokens: 100,
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: false } },
    });
  });

  it('maps incomplete and refused responses', async () => {
    const bodies = [
      response([textItem('trunc')], {
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
      }),
      response([textItem('x')], {
        status: 'incomplete',
        incomplete_details: { reason: 'content_filter' },
      }),
      response([
        { type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
      ]),
    ];
    const server = await serve((_, res, index) => send(res, 200, bodies[index]));
    const d = driver(server.baseUrl);

    const replies = [];
    for (const _ of bodies) replies.push(await d.call(request()));

    expect(replies.map((reply) => reply.stop)).toEqual(['length', 'filter', 'filter']);
    expect(replies[2]?.text).toBe('no');
  });

  it('reports a failed response as provider_error', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        response([], { status: 'failed', error: { code: 'server_error', message: 'boom' } }),
      ),
    );

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('provider_error');
    expect(error.data).toMatchObject({ message: 'boom', type: 'server_error' });
  });

  it('passes malformed output through as data', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        response([
          textItem('nul \u0000 lone \ud800'),
          callItem('a', 'fs__read_file', '{"path": "a'),
          { type: 'function_call', call_id: 'b', name: 'web__search', arguments: { q: 1 } },
          { type: 'function_call', name: 'ghost__tool', arguments: '"\\udc00"' },
        ]),
      ),
    );

    const reply = await driver(server.baseUrl).call(request({ tools }));

    expect(reply.text).toBe('nul \u0000 lone \ud800');
    expect(reply.toolCalls).toEqual([
      { id: 'a', name: 'fs/read_file', arguments: '{"path": "a' },
      { id: 'b', name: 'web/search', arguments: '{"q":1}' },
      { id: 'call_2', name: 'ghost__tool', arguments: '"\\udc00"' },
    ]);
  });
});

describe('OpenAIResponsesDriver streaming', () => {
  it('assembles text and function calls from semantic events', async () => {
    const fc = callItem('call_A', 'fs__read_file', '', 'fc_1');
    const server = await serve((_, res) =>
      sse(res, [
        ev('response.created', { response: response([], { status: 'in_progress', usage: null }) }),
        ev('response.output_item.added', {
          output_index: 0,
          item: {
            type: 'message',
            id: 'msg_1',
            status: 'in_progress',
            role: 'assistant',
            content: [],
          },
        }),
        ev('response.content_part.added', {
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          part: { type: 'output_text', text: '' },
        }),
        ev('response.output_text.delta', {
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta: 'Let me ',
        }),
        ev('response.output_text.delta', {
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          delta: 'look.',
        }),
        ev('response.output_text.done', {
          item_id: 'msg_1',
          output_index: 0,
          content_index: 0,
          text: 'Let me look.',
        }),
        ev('response.output_item.done', { output_index: 0, item: textItem('Let me look.') }),
        ev('response.output_item.added', {
          output_index: 1,
          item: { ...fc, status: 'in_progress' },
        }),
        ev('response.function_call_arguments.delta', {
          item_id: 'fc_1',
          output_index: 1,
          delta: '{"pa',
        }),
        ev('response.function_call_arguments.delta', { item_id: 'fc_1', delta: 'th":"a.md"}' }),
        ev('response.function_call_arguments.done', {
          item_id: 'fc_1',
          output_index: 1,
          arguments: '{"path":"a.md"}',
        }),
        ev('response.output_item.added', {
          output_index: 2,
          item: callItem('call_B', 'web__search', '', 'fc_2'),
        }),
        ev('response.function_call_arguments.delta', {
          item_id: 'fc_2',
          output_index: 2,
          delta: '{"q":"oslo"}',
        }),
        ev('response.completed', { response: response([]) }),
      ]),
    );
    const shown: string[] = [];

    const reply = await driver(server.baseUrl, { stream: true }).call(
      request({ tools, onText: (delta) => shown.push(delta) }),
    );

    expect(reply).toEqual({
      text: 'Let me look.',
      toolCalls: [
        { id: 'call_A', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
        { id: 'call_B', name: 'web/search', arguments: '{"q":"oslo"}' },
      ],
      stop: 'tool_calls',
      usage: { inputTokens: 31, outputTokens: 8 },
      model: 'gpt-test',
    });
    expect(shown).toEqual(['Let me ', 'look.']);
    expect(server.body(0).stream).toBe(true);
  });

  it('maps response.incomplete to length', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        ev('response.output_text.delta', { output_index: 0, delta: 'cut' }),
        ev('response.output_item.done', { output_index: 0, item: textItem('cut') }),
        ev('response.incomplete', {
          response: response([], {
            status: 'incomplete',
            incomplete_details: { reason: 'max_output_tokens' },
          }),
        }),
      ]),
    );

    const reply = await driver(server.baseUrl, { stream: true }).call(request());

    expect(reply).toMatchObject({ text: 'cut', stop: 'length' });
  });

  it('reports stream_cut when the connection drops mid-arguments', async () => {
    const server = await serve((_, res) =>
      sse(
        res,
        [
          ev('response.output_item.added', {
            output_index: 0,
            item: callItem('c', 'fs__read_file', ''),
          }),
          ev('response.function_call_arguments.delta', { output_index: 0, delta: '{"pa' }),
        ],
        { end: 'reset' },
      ),
    );

    const error = await failure(driver(server.baseUrl, { stream: true }).call(request({ tools })));

    expect(error.code).toBe('stream_cut');
  });

  it('reports stream_cut when the stream closes before response.completed', async () => {
    const server = await serve((_, res) =>
      sse(res, [ev('response.output_text.delta', { output_index: 0, delta: 'x' })], {
        end: 'close',
      }),
    );

    const error = await failure(driver(server.baseUrl, { stream: true }).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('reports response.failed and error events as provider_error', async () => {
    const bodies = [
      [
        ev('response.failed', {
          response: response([], {
            status: 'failed',
            error: { code: 'server_error', message: 'down' },
          }),
        }),
      ],
      [ev('error', { code: 'rate_limit_exceeded', message: 'too many' })],
    ];
    const server = await serve((_, res, index) => sse(res, bodies[index] ?? []));
    const d = driver(server.baseUrl, { stream: true });

    const first = await failure(d.call(request()));
    const second = await failure(d.call(request()));

    expect([first.code, first.data.message]).toEqual(['provider_error', 'down']);
    expect([second.code, second.data.type]).toEqual(['provider_error', 'rate_limit_exceeded']);
  });
});

describe('OpenAIResponsesDriver failures', () => {
  it('retries a 429 with an http-date Retry-After and then succeeds', async () => {
    const server = await serve((_, res, index) => {
      const past = new Date(Date.now() - 1000).toUTCString();
      if (index === 0) send(res, 429, { error: { message: 'slow' } }, { 'retry-after': past });
      else send(res, 200, response([textItem('ok')]));
    });

    const reply = await driver(server.baseUrl).call(request());

    expect(reply.text).toBe('ok');
    expect(server.seen).toHaveLength(2);
  });

  it('gives up on repeated 500s as server_error after its retries', async () => {
    const server = await serve((_, res) => send(res, 500, { error: { message: 'boom' } }));

    const error = await failure(driver(server.baseUrl, { maxRetries: 1 }).call(request()));

    expect(error.code).toBe('server_error');
    expect(server.seen).toHaveLength(2);
  });
});

describe('openAIResponsesFromBinding', () => {
  it('reads options and defaults the base url', async () => {
    const server = await serve((_, res) => send(res, 200, response([textItem('x')])));
    const defaulted = openAIResponsesFromBinding({ driver: 'openai-responses', model: 'g' }, {});
    const bound = openAIResponsesFromBinding(
      {
        driver: 'openai-responses',
        baseUrl: server.baseUrl,
        model: 'g',
        toolChoice: 'required',
        parallelToolCalls: false,
        strictSchema: true,
      },
      {},
    );

    await bound.call(request({ tools }));

    expect(defaulted.describe().driver).toBe('openai-responses');
    expect(server.body(0)).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false });
    expect((server.body(0).tools as { strict: boolean }[])[0]?.strict).toBe(true);
  });
});
