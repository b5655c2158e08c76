import { afterEach, describe, expect, it } from 'vitest';
import type { Message, ModelRequest } from './driver.js';
import { OllamaDriver, ollamaFromBinding } from './ollama.js';
import { closeAll, failure, ndjson, send, serve, stream } from './test-helpers/loopback.js';

afterEach(closeAll);

const hello: Message[] = [{ role: 'user', content: 'hello' }];
const tools = [
  { name: 'fs/read_file', description: 'read a file', inputSchema: { type: 'object' } },
  { name: 'web/search', description: 'search', inputSchema: { type: 'object' } },
];

function request(extra: Partial<ModelRequest> = {}): ModelRequest {
  return { slot: 'main', messages: hello, tools: [], ...extra };
}

/** One /api/chat record as documented: partial while `done` is false, with counts at the end. */
function record(message: Record<string, unknown>, done = false, extra = {}) {
  const base = {
    model: 'qwen3',
    created_at: '2025-05-27T22:54:57.641643Z',
    message: { role: 'assistant', content: '', ...message },
    done,
  };
  if (!done) return base;
  return {
    ...base,
    done_reason: 'stop',
    total_duration: 4_883_583_458,
    load_duration: 1_334_875,
    prompt_eval_count: 26,
    prompt_eval_duration: 342_546_000,
    eval_count: 12,
    eval_duration: 4_535_599_000,
    ...extra,
  };
}

function driver(baseUrl: string, extra = {}) {
  return new OllamaDriver({ baseUrl, model: 'qwen3', ...extra });
}

describe('OllamaDriver streaming (the default)', () => {
  it('assembles NDJSON text, shows each piece, and reads the final counts', async () => {
    const server = await serve(
      (_, res) =>
        ndjson(res, [
          record({ content: 'The sky ' }),
          record({ content: 'is blue.' }),
          record({ content: '' }, true),
        ]),
      '',
    );
    const shown: string[] = [];

    const reply = await driver(server.baseUrl).call(request({ onText: (d) => shown.push(d) }));

    expect(reply).toEqual({
      text: 'The sky is blue.',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 26, outputTokens: 12 },
      model: 'qwen3',
    });
    expect(shown).toEqual(['The sky ', 'is blue.']);
    expect(server.seen[0]?.path).toBe('/api/chat');
    expect(server.body(0)).toEqual({ model: 'qwen3', messages: hello, stream: true });
  });

  it('stringifies parsed arguments and gives calls stable ids by turn', async () => {
    const server = await serve(
      (_, res) =>
        ndjson(res, [
          record({ content: 'Let me look.' }),
          record({
            tool_calls: [{ function: { name: 'fs__read_file', arguments: { path: 'a.md' } } }],
          }),
          record({ tool_calls: [{ function: { name: 'web__search', arguments: { q: 'oslo' } } }] }),
          record({}, true),
        ]),
      '',
    );
    const messages: Message[] = [...hello, { role: 'assistant', content: 'earlier' }, ...hello];

    const reply = await driver(server.baseUrl).call(request({ messages, tools }));

    expect(reply.stop).toBe('tool_calls');
    expect(reply.text).toBe('Let me look.');
    expect(reply.toolCalls).toEqual([
      { id: 'call_2_0', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
      { id: 'call_2_1', name: 'web/search', arguments: '{"q":"oslo"}' },
    ]);
  });

  it('reports stream_cut when the connection drops before done', async () => {
    const server = await serve(
      (_, res) => ndjson(res, [record({ content: 'half' })], { end: 'reset' }),
      '',
    );

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('reports stream_cut when the last record is cut off mid-line', async () => {
    const server = await serve(
      (_, res) =>
        stream(
          res,
          'application/x-ndjson',
          [`${JSON.stringify(record({ content: 'a' }))}\n`, '{"done":tr'],
          {
            end: 'close',
          },
        ),
      '',
    );

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('reports an error record as provider_error', async () => {
    const server = await serve(
      (_, res) => ndjson(res, [record({ content: 'a' }), { error: 'model runner crashed' }]),
      '',
    );

    const error = await failure(driver(server.baseUrl).call(request()));

    expect(error.code).toBe('provider_error');
    expect(error.message).toContain('model runner crashed');
  });
});

describe('OllamaDriver without streaming', () => {
  it('reads one document with parallel calls', async () => {
    const server = await serve(
      (_, res) =>
        send(
          res,
          200,
          record(
            {
              tool_calls: [
                { function: { name: 'fs__read_file', arguments: { path: 'a.md' } } },
                { id: 'call_x', function: { name: 'web__search', arguments: { q: 'oslo' } } },
              ],
            },
            true,
          ),
        ),
      '',
    );

    const reply = await driver(server.baseUrl, { stream: false }).call(request({ tools }));

    expect(reply.toolCalls).toEqual([
      { id: 'call_1_0', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
      { id: 'call_x', name: 'web/search', arguments: '{"q":"oslo"}' },
    ]);
    expect(server.body(0).stream).toBe(false);
    expect(server.seen[0]?.headers.accept).toBe('application/json');
  });

  it('sends calls with object arguments and results as tool messages, and format', async () => {
    const server = await serve((_, res) => send(res, 200, record({ content: '{}' }, true)), '');
    const messages: Message[] = [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'read two files' },
      {
        role: 'assistant',
        content: '',
        toolCalls: [
          { id: 'call_1_0', name: 'fs/read_file', arguments: '{"path":"a"}' },
          { id: 'call_1_1', name: 'fs/read_file', arguments: '{"path": trunc' },
        ],
      },
      { role: 'tool', callId: 'call_1_0', name: 'fs/read_file', content: 'A' },
      { role: 'tool', callId: 'call_1_1', name: 'fs/read_file', content: 'bad', isError: true },
    ];
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };

    await driver(server.baseUrl, {
      stream: false,
      options: { num_ctx: 8192 },
      keepAlive: '5m',
    }).call(request({ messages, tools, schema }));

    expect(server.body(0)).toMatchObject({
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'read two files' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            { function: { name: 'fs__read_file', arguments: { path: 'a' } } },
            { function: { name: 'fs__read_file', arguments: {} } },
          ],
        },
        { role: 'tool', content: 'A', tool_name: 'fs__read_file' },
        { role: 'tool', content: 'bad', tool_name: 'fs__read_file' },
      ],
      format: schema,
      options: { num_ctx: 8192 },
      keep_alive: '5m',
    });
  });

  it('maps done_reason length', async () => {
    const server = await serve(
      (_, res) => send(res, 200, record({ content: 'x' }, true, { done_reason: 'length' })),
      '',
    );

    const reply = await driver(server.baseUrl, { stream: false }).call(request());

    expect(reply.stop).toBe('length');
  });

  it('passes malformed output through as data', async () => {
    const server = await serve(
      (_, res) =>
        send(
          res,
          200,
          record(
            {
              content: 'nul \u0000 lone \ud800',
              tool_calls: [
                { function: { name: 'fs__read_file', arguments: '{"path": "a' } },
                { function: { name: 'ghost__tool', arguments: ['\udc00'] } },
                { function: { name: 'web__search' } },
                'not a call',
              ],
            },
            true,
          ),
        ),
      '',
    );

    const reply = await driver(server.baseUrl, { stream: false }).call(request({ tools }));

    expect(reply.text).toBe('nul \u0000 lone \ud800');
    expect(reply.toolCalls).toEqual([
      { id: 'call_1_0', name: 'fs/read_file', arguments: '{"path": "a' },
      { id: 'call_1_1', name: 'ghost__tool', arguments: '["\\udc00"]' },
      { id: 'call_1_2', name: 'web/search', arguments: '' },
      { id: 'call_1_3', name: '', arguments: '' },
    ]);
  });
});

describe('OllamaDriver failures', () => {
  it('retries a 503 with Retry-After, then streams', async () => {
    const server = await serve((_, res, index) => {
      if (index === 0) send(res, 503, { error: 'loading model' }, { 'retry-after': '0.2' });
      else ndjson(res, [record({ content: 'ok' }), record({}, true)]);
    }, '');

    const started = Date.now();
    const reply = await driver(server.baseUrl).call(request());

    expect(reply.text).toBe('ok');
    expect(server.seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('gives up on repeated 500s as server_error, and reports a 404 with its message', async () => {
    const server = await serve((seen, res) => {
      if (seen.body.includes('missing')) send(res, 404, { error: "model 'missing' not found" });
      else send(res, 500, { error: 'boom' });
    }, '');

    const error = await failure(driver(server.baseUrl, { maxRetries: 1 }).call(request()));
    const missing = await failure(driver(server.baseUrl, { model: 'missing' }).call(request()));

    expect([error.code, error.data.attempts]).toEqual(['server_error', 2]);
    expect([missing.code, missing.message]).toEqual([
      'http_404',
      expect.stringContaining("model 'missing' not found"),
    ]);
  });
});

describe('ollamaFromBinding', () => {
  it('defaults to a local server and streams by default', () => {
    const driver = ollamaFromBinding({ driver: 'ollama', model: 'qwen3' }, {});

    expect(driver.describe()).toMatchObject({
      driver: 'ollama',
      model: 'qwen3',
      capabilities: { streaming: true },
    });
  });

  it('refuses a keepAlive that is neither text nor a number', () => {
    expect(() =>
      ollamaFromBinding({ driver: 'ollama', model: 'q', keepAlive: { m: 5 } }, {}),
    ).toThrow(/keepAlive/);
  });
});
