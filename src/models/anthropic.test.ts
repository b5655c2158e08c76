import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import { AnthropicDriver, anthropicFromBinding } from './anthropic.js';
import type { Message, ModelRequest } from './driver.js';
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

/** A Messages API reply as documented. */
function message(content: unknown[], stopReason = 'end_turn') {
  return {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-test',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 25, output_tokens: 9 },
  };
}

/** One streaming event, named as the API names it. */
function ev(type: string, payload: Record<string, unknown> = {}): string {
  return frame({ type, ...payload }, type);
}

const start = ev('message_start', {
  message: { ...message([], ''), stop_reason: null, usage: { input_tokens: 25, output_tokens: 1 } },
});

function driver(baseUrl: string, extra = {}) {
  return new AnthropicDriver({ baseUrl, model: 'claude-test', apiKey: 'sk-ant-test', ...extra });
}

describe('AnthropicDriver replies', () => {
  it('maps a plain text reply and sends the documented headers', async () => {
    const server = await serve((_, res) =>
      send(res, 200, message([{ type: 'text', text: 'hi there' }])),
    );

    const reply = await driver(server.baseUrl).call(request());
    const seen = server.seen[0];

    expect(reply).toEqual({
      text: 'hi there',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 25, outputTokens: 9 },
      model: 'claude-test',
    });
    expect(seen?.path).toBe('/v1/messages');
    expect(seen?.headers['x-api-key']).toBe('sk-ant-test');
    expect(seen?.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen?.headers.authorization).toBeUndefined();
    expect(server.body(0)).toEqual({
      model: 'claude-test',
      max_tokens: 4096,
      messages: [{ role: 'user', content: 'hello' }],
    });
  });

  it('decodes parallel tool_use blocks to qualified names and JSON text', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        message(
          [
            { type: 'text', text: 'Let me look.' },
            { type: 'tool_use', id: 'toolu_A', name: 'fs__read_file', input: { path: 'a.md' } },
            { type: 'tool_use', id: 'toolu_B', name: 'web__search', input: { q: 'oslo' } },
          ],
          'tool_use',
        ),
      ),
    );

    const reply = await driver(server.baseUrl).call(request({ tools }));

    expect(reply.text).toBe('Let me look.');
    expect(reply.stop).toBe('tool_calls');
    expect(reply.toolCalls).toEqual([
      { id: 'toolu_A', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
      { id: 'toolu_B', name: 'web/search', arguments: '{"q":"oslo"}' },
    ]);
    expect(server.body(0).tools).toEqual([
      { name: 'fs__read_file', description: 'read a file', input_schema: { type: 'object' } },
      { name: 'web__search', description: 'search', input_schema: { type: 'object' } },
    ]);
  });

  it('maps stop reasons', async () => {
    const reasons = ['max_tokens', 'stop_sequence', 'refusal', 'pause_turn'];
    const server = await serve((_, res, index) =>
      send(res, 200, message([{ type: 'text', text: 'x' }], reasons[index])),
    );
    const d = driver(server.baseUrl);

    const stops = [];
    for (const _ of reasons) stops.push((await d.call(request())).stop);

    expect(stops).toEqual(['length', 'end', 'filter', 'other']);
  });

  it('sends tool results as tool_result blocks merged into the next user turn', async () => {
    const server = await serve((_, res) => send(res, 200, message([{ type: 'text', text: 'ok' }])));
    const messages: Message[] = [
      { role: 'system', content: 'be brief' },
      { role: 'system', content: 'be kind' },
      { role: 'user', content: 'read two files' },
      {
        role: 'assistant',
        content: 'Reading.',
        toolCalls: [
          { id: 'toolu_1', name: 'fs/read_file', arguments: '{"path":"a"}' },
          { id: 'call:2', name: 'fs/read_file', arguments: 'not json' },
        ],
      },
      { role: 'tool', callId: 'toolu_1', name: 'fs/read_file', content: 'A' },
      { role: 'tool', callId: 'call:2', name: 'fs/read_file', content: 'bad', isError: true },
      { role: 'user', content: 'and now?' },
      { role: 'assistant', content: '' },
      { role: 'user', content: 'well?' },
    ];

    await driver(server.baseUrl).call(request({ messages, tools }));

    expect(server.body(0)).toMatchObject({
      system: 'be brief\n\nbe kind',
      messages: [
        { role: 'user', content: 'read two files' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Reading.' },
            { type: 'tool_use', id: 'toolu_1', name: 'fs__read_file', input: { path: 'a' } },
            { type: 'tool_use', id: 'call_2', name: 'fs__read_file', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'A' },
            { type: 'tool_result', tool_use_id: 'call_2', content: 'bad', is_error: true },
            { type: 'text', text: 'and now?' },
            { type: 'text', text: 'well?' },
          ],
        },
      ],
    });
  });

  it('asks for structured output as output_config.format by default', async () => {
    const server = await serve((_, res) => send(res, 200, message([{ type: 'text', text: '{}' }])));
    const schema = {
      type: 'object',
      properties: { ok: { $ref: '#/$defs/flag' } },
      $defs: { flag: { type: 'boolean' } },
    };

    await driver(server.baseUrl).call(request({ schema }));

    expect(server.body(0).output_config).toEqual({
      format: {
        type: 'json_schema',
        schema: {
          type: 'object',
          properties: { ok: { type: 'boolean' } },
          additionalProperties: false,
        },
      },
    });
  });

  it('can force an answer tool instead and read its input as the text', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        message(
          [{ type: 'tool_use', id: 't', name: 'mvm_answer', input: { ok: true } }],
          'tool_use',
        ),
      ),
    );
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };

    const reply = await driver(server.baseUrl, { schemaMode: 'tool' }).call(request({ schema }));

    expect(reply).toMatchObject({ text: '{"ok":true}', toolCalls: [], stop: 'end' });
    expect(server.body(0)).toMatchObject({
      tools: [{ name: 'mvm_answer', input_schema: schema }],
      tool_choice: { type: 'tool', name: 'mvm_answer' },
    });
  });

  it('sends tool_choice and disable_parallel_tool_use when asked', async () => {
    const server = await serve((_, res) => send(res, 200, message([{ type: 'text', text: 'x' }])));

    await driver(server.baseUrl, { parallelToolCalls: false }).call(request({ tools }));
    await driver(server.baseUrl, { toolChoice: 'any' }).call(request({ tools }));

    expect(server.body(0).tool_choice).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(server.body(1).tool_choice).toEqual({ type: 'any' });
  });

  it('flattens a root anyOf, which the API refuses, and inlines refs', async () => {
    const server = await serve((_, res) => send(res, 200, message([{ type: 'text', text: 'x' }])));
    const inputSchema: JsonObject = {
      type: 'object',
      anyOf: [
        { properties: { path: { $ref: '#/definitions/path' } }, required: ['path'] },
        {
          properties: { path: { type: 'string' }, url: { type: 'string' } },
          required: ['path', 'url'],
        },
      ],
      definitions: { path: { type: 'string', minLength: 1 } },
    };

    await driver(server.baseUrl).call(
      request({ tools: [{ name: 'fs/get', description: '', inputSchema }] }),
    );

    expect(server.body(0).tools).toEqual([
      {
        name: 'fs__get',
        input_schema: {
          type: 'object',
          properties: { path: { type: 'string', minLength: 1 }, url: { type: 'string' } },
          required: ['path'],
        },
      },
    ]);
  });

  it('passes malformed output through as data', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        message(
          [
            { type: 'text', text: 'nul \u0000 lone \ud800' },
            { type: 'tool_use', id: 'a', name: 'fs__read_file', input: 'not an object' },
            { type: 'tool_use', id: 'b', name: 'ghost__tool', input: [1, '\udc00'] },
            { type: 'tool_use', id: 'c', name: 'web__search' },
            { type: 'thinking', thinking: 'hmm' },
          ],
          'tool_use',
        ),
      ),
    );

    const reply = await driver(server.baseUrl).call(request({ tools }));

    expect(reply.text).toBe('nul \u0000 lone \ud800');
    expect(reply.toolCalls).toEqual([
      { id: 'a', name: 'fs/read_file', arguments: '"not an object"' },
      { id: 'b', name: 'ghost__tool', arguments: '[1,"\\udc00"]' },
      { id: 'c', name: 'web/search', arguments: '{}' },
    ]);
  });

  it('reports a reply without a content list as bad_reply', async () => {
    const server = await serve((_, res) => send(res, 200, { type: 'message' }));

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('bad_reply');
  });
});

describe('AnthropicDriver streaming', () => {
  it('assembles text and tool input from deltas and reads usage', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        start,
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ev('ping'),
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me ' } }),
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'look.' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', {
          index: 1,
          content_block: { type: 'tool_use', id: 'toolu_A', name: 'fs__read_file', input: {} },
        }),
        ev('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '' },
        }),
        ev('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '{"path": "a' },
        }),
        ev('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '.md"}' },
        }),
        ev('content_block_stop', { index: 1 }),
        ev('content_block_start', {
          index: 2,
          content_block: { type: 'tool_use', id: 'toolu_B', name: 'web__search', input: {} },
        }),
        ev('content_block_stop', { index: 2 }),
        ev('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: { output_tokens: 40 },
        }),
        ev('message_stop'),
      ]),
    );
    const shown: string[] = [];

    const reply = await driver(server.baseUrl, { stream: true }).call(
      request({ tools, onText: (delta) => shown.push(delta) }),
    );

    expect(reply).toEqual({
      text: 'Let me look.',
      toolCalls: [
        { id: 'toolu_A', name: 'fs/read_file', arguments: '{"path": "a.md"}' },
        { id: 'toolu_B', name: 'web/search', arguments: '{}' },
      ],
      stop: 'tool_calls',
      usage: { inputTokens: 25, outputTokens: 40 },
      model: 'claude-test',
    });
    expect(shown).toEqual(['Let me ', 'look.']);
    expect(server.body(0).stream).toBe(true);
  });

  it('reports stream_cut when the connection drops inside a tool input', async () => {
    const server = await serve((_, res) =>
      sse(
        res,
        [
          start,
          ev('content_block_start', {
            index: 0,
            content_block: { type: 'tool_use', id: 't', name: 'fs__read_file', input: {} },
          }),
          ev('content_block_delta', {
            index: 0,
            delta: { type: 'input_json_delta', partial_json: '{"pa' },
          }),
        ],
        { end: 'reset' },
      ),
    );

    const error = await failure(driver(server.baseUrl, { stream: true }).call(request({ tools })));

    expect(error.code).toBe('stream_cut');
  });

  it('reports stream_cut when the stream closes before message_stop', async () => {
    const server = await serve((_, res) =>
      sse(res, [start, ev('message_delta', { delta: { stop_reason: 'end_turn' } })], {
        end: 'close',
      }),
    );

    const error = await failure(driver(server.baseUrl, { stream: true }).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('reports an error event as provider_error with its type', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        start,
        ev('error', { error: { type: 'overloaded_error', message: 'Overloaded' } }),
      ]),
    );

    const error = await failure(driver(server.baseUrl, { stream: true }).call(request()));

    expect(error.code).toBe('provider_error');
    expect(error.data).toMatchObject({ type: 'overloaded_error', message: 'Overloaded' });
  });

  it('keeps truncated streamed input and odd strings as data', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        start,
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ev('content_block_delta', {
          index: 0,
          delta: { type: 'text_delta', text: '\u0000\ud800' },
        }),
        ev('content_block_start', {
          index: 1,
          content_block: { type: 'tool_use', id: 't', name: 'nobody__knows', input: {} },
        }),
        ev('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '{"a": [1,' },
        }),
        ev('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 3 } }),
        ev('message_stop'),
      ]),
    );

    const reply = await driver(server.baseUrl, { stream: true }).call(request({ tools }));

    expect(reply).toMatchObject({
      text: '\u0000\ud800',
      toolCalls: [{ id: 't', name: 'nobody__knows', arguments: '{"a": [1,' }],
      stop: 'length',
    });
  });
});

describe('AnthropicDriver failures', () => {
  it('retries a 429 after its Retry-After and then succeeds', async () => {
    const server = await serve((_, res, index) => {
      if (index === 0) {
        const body = { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } };
        send(res, 429, body, { 'retry-after': '0.2' });
      } else send(res, 200, message([{ type: 'text', text: 'second' }]));
    });

    const started = Date.now();
    const reply = await driver(server.baseUrl).call(request());

    expect(reply.text).toBe('second');
    expect(server.seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('gives up on repeated 500s and 529s as server_error', async () => {
    const server = await serve((_, res, index) =>
      send(res, index === 0 ? 529 : 500, {
        type: 'error',
        error: { type: 'overloaded_error', message: 'Overloaded' },
      }),
    );

    const error = await failure(driver(server.baseUrl, { maxRetries: 1 }).call(request()));

    expect(error.code).toBe('server_error');
    expect(error.data).toMatchObject({ status: 500, attempts: 2, message: 'Overloaded' });
    expect(server.seen).toHaveLength(2);
  });

  it('reports a 401 as auth without repeating the key', async () => {
    const server = await serve((_, res) =>
      send(res, 401, {
        type: 'error',
        error: { type: 'authentication_error', message: 'bad sk-ant-test' },
      }),
    );

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('auth');
    expect(JSON.stringify(error.toJSON())).not.toContain('sk-ant-test');
  });
});

describe('anthropicFromBinding', () => {
  it('defaults the base url and max_tokens, reads the key and prices usage', async () => {
    const server = await serve((_, res) => send(res, 200, message([{ type: 'text', text: 'x' }])));
    const defaulted = anthropicFromBinding({ driver: 'anthropic', model: 'c' }, {});
    const bound = anthropicFromBinding(
      {
        driver: 'anthropic',
        baseUrl: server.baseUrl,
        model: 'c',
        apiKeyEnv: 'MVM_ANTHROPIC_KEY',
        maxTokens: 512,
        anthropicVersion: '2024-01-01',
        price: { inputPerMTok: 3, outputPerMTok: 15 },
      },
      { MVM_ANTHROPIC_KEY: 'sk-ant-env' },
    );

    const reply = await bound.call(request());

    expect(defaulted.describe()).toMatchObject({ driver: 'anthropic', model: 'c' });
    expect(server.seen[0]?.headers['x-api-key']).toBe('sk-ant-env');
    expect(server.seen[0]?.headers['anthropic-version']).toBe('2024-01-01');
    expect(server.body(0).max_tokens).toBe(512);
    expect(reply.usage.cost).toBeCloseTo((25 * 3 + 9 * 15) / 1e6, 12);
  });

  it('names the field of a bad binding', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ schemaMode: 'json' }, 'schemaMode'],
      [{ maxTokens: 0 }, 'maxTokens'],
      [{ toolChoice: 'required' }, 'toolChoice'],
      [{ price: { inputPerMTok: -1, outputPerMTok: 1 } }, 'price.inputPerMTok'],
      [{ stream: 'yes' }, 'stream'],
    ];

    for (const [change, field] of cases) {
      const binding = { driver: 'anthropic', model: 'c', ...change } as Parameters<
        typeof anthropicFromBinding
      >[0];
      let caught: unknown;
      try {
        anthropicFromBinding(binding, {});
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).data.field).toBe(field);
    }
  });
});
