import { afterEach, describe, expect, it } from 'vitest';
import type { Message, ModelRequest } from './driver.js';
import { OpenAICompatibleDriver } from './openai-compatible.js';
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

/** A chat.completion.chunk as the API documents it. */
function chunk(delta: Record<string, unknown>, finish: string | null = null) {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'test-model',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  };
}

const usageChunk = {
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'test-model',
  choices: [],
  usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 },
};

function streaming(baseUrl: string, extra = {}) {
  return new OpenAICompatibleDriver({ baseUrl, model: 'm', stream: true, ...extra });
}

describe('openai-compatible streaming', () => {
  it('assembles text deltas, shows each one, and reads usage from the last chunk', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        frame(chunk({ role: 'assistant', content: '' })),
        frame(chunk({ content: 'Hel' })),
        frame(chunk({ content: 'lo, ' })),
        frame(chunk({ content: 'world' })),
        frame(chunk({}, 'stop')),
        frame(usageChunk),
        frame('[DONE]'),
      ]),
    );
    const shown: string[] = [];

    const reply = await streaming(server.baseUrl).call(
      request({ onText: (delta) => shown.push(delta) }),
    );

    expect(reply).toEqual({
      text: 'Hello, world',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 12, outputTokens: 4 },
      model: 'test-model',
    });
    expect(shown).toEqual(['Hel', 'lo, ', 'world']);
    expect(server.body(0)).toEqual({
      model: 'm',
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(server.seen[0]?.headers.accept).toBe('text/event-stream');
  });

  it('assembles parallel tool calls from fragments keyed by index', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        frame(chunk({ role: 'assistant', content: null })),
        frame(
          chunk({
            tool_calls: [
              {
                index: 0,
                id: 'call_A',
                type: 'function',
                function: { name: 'fs__read_file', arguments: '' },
              },
            ],
          }),
        ),
        frame(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"pa' } }] })),
        frame(
          chunk({
            tool_calls: [
              {
                index: 1,
                id: 'call_B',
                type: 'function',
                function: { name: 'web__search', arguments: '{"q":' },
              },
            ],
          }),
        ),
        frame(chunk({ tool_calls: [{ index: 0, function: { arguments: 'th":"a.md"}' } }] })),
        frame(chunk({ tool_calls: [{ index: 1, function: { arguments: '"oslo"}' } }] })),
        frame(chunk({}, 'tool_calls')),
        frame(usageChunk),
        frame('[DONE]'),
      ]),
    );

    const reply = await streaming(server.baseUrl).call(request({ tools }));

    expect(reply.stop).toBe('tool_calls');
    expect(reply.text).toBe('');
    expect(reply.toolCalls).toEqual([
      { id: 'call_A', name: 'fs/read_file', arguments: '{"path":"a.md"}' },
      { id: 'call_B', name: 'web/search', arguments: '{"q":"oslo"}' },
    ]);
  });

  it('handles fragments without index, object arguments, empty ids, stop with calls', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        frame(chunk({ tool_calls: [{ id: 'c1', function: { name: 'fs__read_file' } }] })),
        frame(chunk({ tool_calls: [{ function: { arguments: '{"path":' } }] })),
        frame(chunk({ tool_calls: [{ function: { arguments: '"x"}' } }] })),
        // One index reused for a second call with its own id, arguments as an object.
        frame(
          chunk({
            tool_calls: [
              { index: 0, id: 'c2', function: { name: 'web__search', arguments: { q: 1 } } },
            ],
          }),
        ),
        frame(
          chunk({ tool_calls: [{ index: 5, id: '', function: { name: 'nope', arguments: '' } }] }),
        ),
        frame(chunk({}, 'stop')),
      ]),
    );

    const reply = await streaming(server.baseUrl).call(request({ tools }));

    expect(reply.stop).toBe('tool_calls');
    expect(reply.toolCalls).toEqual([
      { id: 'c1', name: 'fs/read_file', arguments: '{"path":"x"}' },
      { id: 'c2', name: 'web/search', arguments: '{"q":1}' },
      { id: 'call_2', name: 'nope', arguments: '' },
    ]);
  });

  it('accepts a stream that ends cleanly after a finish reason but without [DONE]', async () => {
    const server = await serve((_, res) =>
      sse(res, [frame(chunk({ content: 'ok' })), frame(chunk({}, 'length'))]),
    );

    const reply = await streaming(server.baseUrl).call(request());

    expect(reply).toMatchObject({ text: 'ok', stop: 'length' });
    expect(reply.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
  });

  it('reports stream_cut, never a half-assembled call, when the connection drops', async () => {
    const server = await serve((_, res) =>
      sse(
        res,
        [
          frame(
            chunk({
              tool_calls: [
                { index: 0, id: 'c1', function: { name: 'fs__read_file', arguments: '{"pa' } },
              ],
            }),
          ),
        ],
        { end: 'reset' },
      ),
    );

    const error = await failure(streaming(server.baseUrl).call(request({ tools })));

    expect(error.code).toBe('stream_cut');
    expect(error.message).toContain('/v1/chat/completions');
  });

  it('reports stream_cut when the stream closes cleanly before any finish', async () => {
    const server = await serve((_, res) =>
      sse(res, [frame(chunk({ content: 'half an ans' }))], { end: 'close' }),
    );

    const error = await failure(streaming(server.baseUrl).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('drops an event the cut left unfinished', async () => {
    const server = await serve((_, res) =>
      sse(res, [frame(chunk({ content: 'x' })), 'data: {"choices":[{"delta":{},"finish_re'], {
        end: 'close',
      }),
    );

    const error = await failure(streaming(server.baseUrl).call(request()));

    expect(error.code).toBe('stream_cut');
  });

  it('reads a whole JSON reply from a server that ignores stream: true', async () => {
    const server = await serve((_, res) =>
      send(res, 200, {
        choices: [
          { index: 0, message: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' },
        ],
        usage: { prompt_tokens: 1, completion_tokens: 2 },
      }),
    );

    const reply = await streaming(server.baseUrl).call(request());

    expect(reply).toMatchObject({ text: 'whole', stop: 'end' });
  });

  it('reports an error object sent inside the stream as provider_error', async () => {
    const server = await serve((_, res) =>
      sse(res, [frame(chunk({ content: 'a' })), frame({ error: { message: 'model crashed' } })]),
    );

    const error = await failure(streaming(server.baseUrl).call(request()));

    expect(error.code).toBe('provider_error');
    expect(error.message).toContain('model crashed');
  });

  it('retries a 429 with Retry-After before the stream starts', async () => {
    const server = await serve((_, res, index) => {
      if (index === 0) send(res, 429, { error: { message: 'slow' } }, { 'retry-after': '0.2' });
      else sse(res, [frame(chunk({ content: 'late' })), frame(chunk({}, 'stop')), frame('[DONE]')]);
    });

    const started = Date.now();
    const reply = await streaming(server.baseUrl).call(request());

    expect(reply.text).toBe('late');
    expect(server.seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('passes malformed output through as data', async () => {
    const text = 'nul \u0000 and lone \ud800 surrogate';
    const server = await serve((_, res) =>
      sse(res, [
        frame(chunk({ content: text })),
        frame(
          chunk({
            tool_calls: [
              { index: 0, id: 'a', function: { name: 'fs__read_file', arguments: '{"path": "a' } },
              { index: 1, id: 'b', function: { name: 'web__search', arguments: '[1, 2]' } },
              {
                index: 2,
                id: 'c',
                function: { name: 'ghost__tool', arguments: '{"s":"\\u0000\\udc00"}' },
              },
            ],
          }),
        ),
        frame(chunk({}, 'tool_calls')),
        frame('[DONE]'),
      ]),
    );

    const reply = await streaming(server.baseUrl).call(request({ tools }));

    expect(reply.text).toBe(text);
    expect(reply.toolCalls).toEqual([
      { id: 'a', name: 'fs/read_file', arguments: '{"path": "a' },
      { id: 'b', name: 'web/search', arguments: '[1, 2]' },
      { id: 'c', name: 'ghost__tool', arguments: '{"s":"\\u0000\\udc00"}' },
    ]);
  });

  it('keeps the deadline over the whole stream, and stops when the caller aborts', async () => {
    // The server sends one chunk, then holds the stream open.
    const server = await serve((_, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(frame(chunk({ content: 'slow' })));
    });
    const during = new AbortController();
    const shown: string[] = [];

    const started = Date.now();
    const late = await failure(streaming(server.baseUrl, { timeoutMs: 250 }).call(request()));
    const elapsed = Date.now() - started;
    const cancelled = streaming(server.baseUrl).call(
      request({
        signal: during.signal,
        onText: (delta) => {
          shown.push(delta);
          during.abort();
        },
      }),
    );

    expect(late.code).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(240);
    expect((await failure(cancelled)).code).toBe('cancelled');
    expect(shown).toEqual(['slow']);
  });

  it('describes itself as streaming', () => {
    const driver = streaming('http://127.0.0.1:9/v1');

    expect(driver.describe().capabilities.streaming).toBe(true);
  });
});
