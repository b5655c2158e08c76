import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DriverError } from '../spec/errors.js';
import type { Message, ModelRequest } from './driver.js';
import { OpenAICompatibleDriver, openAICompatibleFromBinding } from './openai-compatible.js';

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Handler = (seen: Seen, res: ServerResponse, index: number) => void;

interface TestServer {
  baseUrl: string;
  seen: Seen[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A Chat Completions endpoint on loopback that records each request and lets `handler` answer. */
async function serve(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      handler(request, res, seen.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const handle: TestServer = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
}

function send(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

/** A reply in the documented chat.completion shape. */
function completion(message: Record<string, unknown>, finishReason: string | null = 'stop') {
  return {
    id: 'chatcmpl-abc123',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'test-model-2024-08-06',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', refusal: null, ...message },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: { prompt_tokens: 19, completion_tokens: 7, total_tokens: 26 },
  };
}

function request(messages: Message[], extra: Partial<ModelRequest> = {}): ModelRequest {
  return { slot: 'main', messages, tools: [], ...extra };
}

const hello: Message[] = [{ role: 'user', content: 'hello' }];

async function failure(promise: Promise<unknown>): Promise<DriverError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DriverError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

function configFailure(make: () => unknown): ConfigError {
  try {
    make();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a config error');
}

describe('OpenAICompatibleDriver replies', () => {
  it('maps a plain text reply', async () => {
    const server = await serve((_, res) => send(res, 200, completion({ content: 'hi there' })));
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const reply = await driver.call(request(hello));

    expect(reply).toEqual({
      text: 'hi there',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 19, outputTokens: 7 },
      model: 'test-model-2024-08-06',
    });
  });

  it('decodes two parallel tool calls to qualified names and keeps arguments raw', async () => {
    const rawA = '{"path": "notes/a.md",\n  "limit":10}';
    const rawB = '{ "query":"weather in Oslo" }';
    const server = await serve((_, res) =>
      send(
        res,
        200,
        completion(
          {
            content: null,
            tool_calls: [
              {
                id: 'call_A',
                type: 'function',
                function: { name: 'fs__read_file', arguments: rawA },
              },
              {
                id: 'call_B',
                type: 'function',
                function: { name: 'web__search', arguments: rawB },
              },
            ],
          },
          'tool_calls',
        ),
      ),
    );
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });
    const tools = [
      { name: 'fs/read_file', description: 'read a file', inputSchema: { type: 'object' } },
      { name: 'web/search', description: 'search', inputSchema: { type: 'object' } },
    ];

    const reply = await driver.call(request(hello, { tools }));

    expect(reply.text).toBe('');
    expect(reply.stop).toBe('tool_calls');
    expect(reply.toolCalls).toEqual([
      { id: 'call_A', name: 'fs/read_file', arguments: rawA },
      { id: 'call_B', name: 'web/search', arguments: rawB },
    ]);
  });

  it('stringifies object arguments, generates missing ids and passes unknown names', async () => {
    const server = await serve((_, res) =>
      send(
        res,
        200,
        completion(
          {
            content: 'calling',
            tool_calls: [
              { type: 'function', function: { name: 'fs__read_file', arguments: { path: 'a' } } },
              { id: '', type: 'function', function: { name: 'no_such_tool' } },
            ],
          },
          'tool_calls',
        ),
      ),
    );
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });
    const tools = [{ name: 'fs/read_file', description: '', inputSchema: { type: 'object' } }];

    const reply = await driver.call(request(hello, { tools }));

    expect(reply.text).toBe('calling');
    expect(reply.toolCalls).toEqual([
      { id: 'call_0', name: 'fs/read_file', arguments: '{"path":"a"}' },
      { id: 'call_1', name: 'no_such_tool', arguments: '' },
    ]);
  });

  it('maps finish reasons and absent usage', async () => {
    const reasons = ['length', 'content_filter', 'function_call', null];
    const server = await serve((_, res, index) => {
      const body: Record<string, unknown> = completion({ content: 'x' }, reasons[index] ?? null);
      delete body.usage;
      send(res, 200, body);
    });
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const replies = [];
    for (const _ of reasons) replies.push(await driver.call(request(hello)));

    expect(replies.map((reply) => reply.stop)).toEqual(['length', 'filter', 'other', 'other']);
    expect(replies[0]?.usage).toEqual({ inputTokens: 0, outputTokens: 0 });
  });

  it('gives every tool a valid, distinct wire name that decodes back', async () => {
    const names = [
      'a/b',
      'a__b',
      'web.search/get page',
      `long/${'x'.repeat(80)}`,
      `long/${'x'.repeat(81)}`,
    ];
    const server = await serve((seen, res) => {
      const body = JSON.parse(seen.body) as { tools: { function: { name: string } }[] };
      const tool_calls = body.tools.map((tool, index) => ({
        id: `c${index}`,
        type: 'function',
        function: { name: tool.function.name, arguments: '{}' },
      }));
      send(res, 200, completion({ content: null, tool_calls }, 'tool_calls'));
    });
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });
    const tools = names.map((name) => ({ name, description: '', inputSchema: { type: 'object' } }));

    const reply = await driver.call(request(hello, { tools }));
    const body = JSON.parse(server.seen[0]?.body ?? '') as {
      tools: { function: { name: string } }[];
    };
    const wire = body.tools.map((tool) => tool.function.name);

    expect(wire.slice(0, 3)).toEqual([
      'a__b',
      expect.stringMatching(/^a__b_/),
      'web_search__get_page',
    ]);
    for (const name of wire) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(new Set(wire).size).toBe(names.length);
    expect(reply.toolCalls.map((call) => call.name)).toEqual(names);
  });
});

describe('OpenAICompatibleDriver requests', () => {
  it('sends messages, tools, schema and credentials in the wire format', async () => {
    const server = await serve((_, res) => send(res, 200, completion({ content: '{}' })));
    const driver = new OpenAICompatibleDriver({
      baseUrl: `${server.baseUrl}/`,
      model: 'gpt-test',
      apiKey: 'sk-test-key',
      headers: { 'x-team': 'mvm' },
    });
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
      {
        role: 'tool',
        callId: 'call_2',
        name: 'fs/read_file',
        content: 'no such file',
        isError: true,
      },
      { role: 'assistant', content: 'done' },
    ];
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
    const tools = [
      { name: 'fs/read_file', description: 'read a file', inputSchema: { type: 'object' } },
    ];

    await driver.call(request(messages, { tools, schema }));
    const seen = server.seen[0];
    const body: unknown = JSON.parse(seen?.body ?? '');

    expect(seen?.method).toBe('POST');
    expect(seen?.path).toBe('/v1/chat/completions');
    expect(seen?.headers.authorization).toBe('Bearer sk-test-key');
    expect(seen?.headers['content-type']).toBe('application/json');
    expect(seen?.headers['x-team']).toBe('mvm');
    expect(body).toEqual({
      model: 'gpt-test',
      stream: false,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'read two files' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'fs__read_file', arguments: '{"path":"a"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'fs__read_file', arguments: '{"path":"b"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'A' },
        { role: 'tool', tool_call_id: 'call_2', content: 'no such file' },
        { role: 'assistant', content: 'done' },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'fs__read_file',
            description: 'read a file',
            parameters: { type: 'object' },
          },
        },
      ],
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema, strict: false },
      },
    });
  });

  it('omits tools, schema and authorization when there are none', async () => {
    const server = await serve((_, res) => send(res, 200, completion({ content: 'ok' })));
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    await driver.call(request(hello));
    const body: unknown = JSON.parse(server.seen[0]?.body ?? '');

    expect(body).toEqual({ model: 'm', stream: false, messages: hello });
    expect(server.seen[0]?.headers.authorization).toBeUndefined();
  });

  it('describes itself with capability overrides', () => {
    const driver = new OpenAICompatibleDriver({
      baseUrl: 'http://127.0.0.1:9/v1',
      model: 'local',
      provider: 'llama.cpp',
      contextWindow: 8192,
      capabilities: { jsonSchema: false },
    });

    expect(driver.describe()).toEqual({
      driver: 'openai-compatible',
      provider: 'llama.cpp',
      model: 'local',
      contextWindow: 8192,
      capabilities: { tools: true, parallelToolCalls: true, jsonSchema: false, streaming: false },
    });
  });
});

describe('OpenAICompatibleDriver failures', () => {
  it('retries a 429 after the Retry-After it names, and then succeeds', async () => {
    const server = await serve((_, res, index) => {
      if (index === 0) send(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '1' });
      else send(res, 200, completion({ content: 'second time' }));
    });
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const started = Date.now();
    const reply = await driver.call(request(hello));

    expect(reply.text).toBe('second time');
    expect(server.seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('honours a Retry-After date in the past and gives up as rate_limited', async () => {
    const past = new Date(Date.now() - 60_000).toUTCString();
    const server = await serve((_, res) => send(res, 429, {}, { 'retry-after': past }));
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      maxRetries: 1,
    });

    const started = Date.now();
    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('rate_limited');
    expect(error.data).toMatchObject({ status: 429, attempts: 2 });
    expect(server.seen).toHaveLength(2);
    // A date in the past asks for no wait; a wait of a minute would pass the test's timeout.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails at once when Retry-After reaches past the deadline', async () => {
    const server = await serve((_, res) => send(res, 429, {}, { 'retry-after': '20' }));
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      timeoutMs: 2000,
    });

    const started = Date.now();
    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('rate_limited');
    expect(server.seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('gives up on repeated 500s as server_error after maxRetries + 1 attempts', async () => {
    const server = await serve((_, res) => send(res, 500, { error: { message: 'boom' } }));
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('server_error');
    expect(error.data).toMatchObject({ status: 500, attempts: 3, message: 'boom' });
    expect(server.seen).toHaveLength(3);
  });

  it('does not retry a 400 and reports the server message', async () => {
    const server = await serve((_, res) =>
      send(res, 400, { error: { message: "Invalid 'messages[0].role'", type: 'invalid' } }),
    );
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('http_400');
    expect(error.message).toContain("Invalid 'messages[0].role'");
    expect(server.seen).toHaveLength(1);
  });

  it('reports 401 as auth and never repeats the key', async () => {
    const key = 'sk-live-0123456789abcdef';
    const server = await serve((_, res) =>
      send(res, 401, { error: { message: `Incorrect API key provided: ${key}` } }),
    );
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm', apiKey: key });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('auth');
    expect(server.seen).toHaveLength(1);
    expect(error.message).toContain('[redacted]');
    expect(`${error.message} ${JSON.stringify(error.toJSON())}`).not.toContain(key);
  });

  it('reports a non-JSON body as bad_reply with status and excerpt', async () => {
    const html = `<html>${'x'.repeat(1000)}</html>`;
    const server = await serve((_, res) => send(res, 200, html, { 'content-type': 'text/html' }));
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('bad_reply');
    expect(error.data.status).toBe(200);
    expect(error.data.body).toBe(html.slice(0, 500));
  });

  it('reports a reply without choices as bad_reply', async () => {
    const server = await serve((_, res) => send(res, 200, { id: 'x', choices: [] }));
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('bad_reply');
    expect(error.data.body).toBe('{"id":"x","choices":[]}');
  });

  it('times out promptly on a server that never answers', async () => {
    const server = await serve(() => {});
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      timeoutMs: 300,
    });

    const started = Date.now();
    const error = await failure(driver.call(request(hello)));
    const elapsed = Date.now() - started;

    expect(error.code).toBe('timeout');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('reports cancelled when the caller aborts, before or during the call', async () => {
    const server = await serve(() => {});
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });
    const during = new AbortController();
    setTimeout(() => during.abort(), 50);

    const early = await failure(driver.call(request(hello, { signal: AbortSignal.abort() })));
    const late = await failure(driver.call(request(hello, { signal: during.signal })));

    expect(early.code).toBe('cancelled');
    expect(late.code).toBe('cancelled');
    expect(server.seen).toHaveLength(1);
  });

  it('reports a refused connection as unreachable, naming the url', async () => {
    const server = await serve(() => {});
    const baseUrl = server.baseUrl;
    await server.close();
    const driver = new OpenAICompatibleDriver({ baseUrl, model: 'm' });

    const error = await failure(driver.call(request(hello)));

    expect(error.code).toBe('unreachable');
    expect(error.message).toContain(`${baseUrl}/chat/completions`);
    expect(error.message).toContain('ECONNREFUSED');
  });
});

describe('openAICompatibleFromBinding', () => {
  const good = { driver: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' };

  it('names the field of a bad binding', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ driver: 'anthropic' }, 'driver'],
      [{ baseUrl: undefined }, 'baseUrl'],
      [{ baseUrl: 'not a url' }, 'baseUrl'],
      [{ baseUrl: 'ftp://127.0.0.1/v1' }, 'baseUrl'],
      [{ model: 42 }, 'model'],
      [{ apiKeyEnv: '' }, 'apiKeyEnv'],
      [{ headers: ['x'] }, 'headers'],
      [{ headers: { 'x-api-key': 1234567 } }, 'headers.x-api-key'],
      [{ timeoutMs: '5000' }, 'timeoutMs'],
      [{ timeoutMs: -1 }, 'timeoutMs'],
      [{ maxRetries: 1.5 }, 'maxRetries'],
      [{ contextWindow: 0 }, 'contextWindow'],
      [{ capabilities: { vision: true } }, 'capabilities.vision'],
    ];

    for (const [change, field] of cases) {
      const binding = { ...good, ...change } as Parameters<typeof openAICompatibleFromBinding>[0];
      const error = configFailure(() => openAICompatibleFromBinding(binding, {}));
      expect([error.code, error.data.field]).toEqual(['bad_model_binding', field]);
    }
    const hidden = configFailure(() =>
      openAICompatibleFromBinding({ ...good, headers: { 'x-api-key': 1234567 } }, {}),
    );
    expect(hidden.message).not.toContain('1234567');
  });

  it('requires the variable apiKeyEnv names', () => {
    const error = configFailure(() =>
      openAICompatibleFromBinding({ ...good, apiKeyEnv: 'MVM_TEST_KEY' }, {}),
    );

    expect(error.code).toBe('missing_api_key');
    expect(error.data.variable).toBe('MVM_TEST_KEY');
    expect(error.message).toContain('MVM_TEST_KEY');
  });

  it('builds a driver that sends the key from the environment', async () => {
    const server = await serve((_, res) => send(res, 200, completion({ content: 'ok' })));
    const driver = openAICompatibleFromBinding(
      {
        driver: 'openai-compatible',
        baseUrl: server.baseUrl,
        model: 'served',
        apiKeyEnv: 'MVM_TEST_KEY',
        headers: { 'x-org': 'o1' },
        timeoutMs: 5000,
        maxRetries: 0,
        contextWindow: 4096,
      },
      { MVM_TEST_KEY: 'sk-from-env' },
    );

    const reply = await driver.call(request(hello));

    expect(reply.text).toBe('ok');
    expect(server.seen[0]?.headers.authorization).toBe('Bearer sk-from-env');
    expect(server.seen[0]?.headers['x-org']).toBe('o1');
    expect(driver.describe()).toMatchObject({ model: 'served', contextWindow: 4096 });
  });
});
