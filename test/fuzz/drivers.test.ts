import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical.js';
import { parseConfig } from '../../src/host/config.js';
import { Mvm } from '../../src/host/host.js';
import { imageFromObject } from '../../src/host/image-file.js';
import { AnthropicDriver } from '../../src/models/anthropic.js';
import type { HttpDriverOptions } from '../../src/models/base.js';
import type { ModelDriver, ModelReply, ModelRequest } from '../../src/models/driver.js';
import { OllamaDriver } from '../../src/models/ollama.js';
import { OpenAICompatibleDriver } from '../../src/models/openai-compatible.js';
import { OpenAIResponsesDriver } from '../../src/models/openai-responses.js';
import type { Json } from '../../src/spec/types.js';
import { jsonValue, nastyString, params, timeout, typed } from './arbitraries.js';

/** A reply body as a provider might send it: whole, cut at any point, or split in chunks. */
interface Wire {
  status: number;
  contentType: string;
  text: string;
  /** Where the body is cut, as a fraction of its length; 1 keeps it whole. */
  cut: number;
  /** How many chunks the body arrives in. */
  chunks: number;
}

/** A fetch that answers every request with the next wire body; no socket is opened. */
function fakeFetch(bodies: Wire[]): typeof fetch {
  let i = 0;
  return (async (_url: unknown, init?: RequestInit) => {
    const w = bodies[Math.min(i++, bodies.length - 1)]!;
    const text = w.text.slice(0, Math.ceil(w.text.length * w.cut));
    const size = Math.max(1, Math.ceil(text.length / w.chunks));
    const bytes = new TextEncoder().encode(text);
    const signal = init?.signal ?? undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < bytes.length; at += size) {
          controller.enqueue(bytes.slice(at, at + size));
        }
        // A cut body ends with the connection dropped, as a reset does.
        if (w.cut < 1) controller.error(new TypeError('terminated'));
        else controller.close();
      },
    });
    if (signal?.aborted) throw signal.reason;
    // A retry comes at once, so that the budget goes to replies rather than to waiting.
    return new Response(body, {
      status: w.status,
      headers: { 'content-type': w.contentType, 'retry-after': '0' },
    });
  }) as typeof fetch;
}

const toolName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('fn__echo', 'fn__fail', 'nope', '') },
  { weight: 1, arbitrary: nastyString },
);

/** Arguments: an object, JSON text cut short, a non-object, or strings that break things. */
const argsArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>('{"a":"x"}', '{"a":', '[1]', '"s"', 'null', '', 7, null, ['x']),
  jsonValue,
  jsonValue.map((v) => JSON.stringify(v)),
  fc.constantFrom('{"a":"\u0000"}', '{"a":"\ud800"}', `{"a":"${'x'.repeat(300_000)}"}`),
);

const count: fc.Arbitrary<Json> = fc.oneof(
  fc.nat(1000),
  fc.constantFrom<Json>(-1, 1.5, 1e308, '12', null, {}),
);
const text: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.constantFrom<Json>(null, 5, [{ type: 'text', text: 'p' }], {}) },
  { weight: 1, arbitrary: fc.constant('y'.repeat(200_000)) },
);

const sse = (events: Json[], done?: string) =>
  `${events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('')}${done ?? ''}`;
const ndjson = (records: Json[]) => records.map((r) => `${JSON.stringify(r)}\n`).join('');

const openAIChat = fc
  .record({
    content: text,
    calls: fc.array(fc.record({ id: nastyString, name: toolName, arguments: argsArb }), {
      maxLength: 3,
    }),
    finish: fc.oneof(fc.constantFrom<Json>('stop', 'tool_calls', 'length', null), nastyString),
    usage: fc.record({ prompt_tokens: count, completion_tokens: count }),
  })
  .map(
    ({ content, calls, finish, usage }): Json => ({
      model: 'm',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content,
            tool_calls: calls.map((c) => ({
              id: c.id,
              type: 'function',
              function: { name: c.name, arguments: c.arguments },
            })),
          },
          finish_reason: finish,
        },
      ],
      usage,
    }),
  );

const openAIChatStream = fc
  .array(
    fc.oneof(
      text.map((t): Json => ({ choices: [{ delta: { content: t } }] })),
      fc
        .record({ index: fc.oneof(fc.nat(2), fc.constant<Json>(null)), id: nastyString })
        .chain(({ index, id }) =>
          fc.record({ name: toolName, arguments: argsArb }).map(
            (fn): Json => ({
              choices: [{ delta: { tool_calls: [{ index, id, function: fn }] } }],
            }),
          ),
        ),
      fc.constantFrom<Json>(
        { choices: [{ delta: {}, finish_reason: 'tool_calls' }] },
        { choices: [], usage: { prompt_tokens: 3, completion_tokens: 4 } },
        { error: { message: 'overloaded' } },
        'not an object',
      ),
    ),
    { maxLength: 6 },
  )
  .chain((events) => fc.constantFrom('data: [DONE]\n\n', '').map((done) => sse(events, done)));

const responses = fc
  .array(
    fc.oneof(
      text.map((t): Json => ({ type: 'message', content: [{ type: 'output_text', text: t }] })),
      fc
        .record({ call_id: nastyString, name: toolName, arguments: argsArb })
        .map((c): Json => ({ type: 'function_call', ...c })),
      fc.constantFrom<Json>({ type: 'reasoning' }, { type: 'message', content: 'x' }, 3),
    ),
    { maxLength: 3 },
  )
  .chain((output) =>
    fc
      .record({
        status: fc.constantFrom<Json>('completed', 'incomplete', 'failed', null, 'x'),
        usage: fc.record({ input_tokens: count, output_tokens: count }),
      })
      .map(({ status, usage }): Json => ({ output, status, usage, model: 'm' })),
  );

const responsesStream = fc
  .array(
    fc.oneof(
      text.map((t): Json => ({ type: 'response.output_text.delta', output_index: 0, delta: t })),
      fc.record({ call_id: nastyString, name: toolName }).map(
        (item): Json => ({
          type: 'response.output_item.added',
          output_index: 1,
          item: { type: 'function_call', ...item },
        }),
      ),
      argsArb.map(
        (delta): Json => ({
          type: 'response.function_call_arguments.delta',
          output_index: 1,
          delta,
        }),
      ),
      fc.constantFrom<Json>(
        { type: 'response.failed', response: { error: { message: 'no' } } },
        { type: 'error', message: 'bad' },
        { type: 'response.output_item.done', output_index: 'x', item: null },
      ),
    ),
    { maxLength: 6 },
  )
  .chain((events) =>
    fc
      .constantFrom<Json[]>(
        [{ type: 'response.completed', response: { status: 'completed', output: [] } }],
        [{ type: 'response.incomplete', response: { incomplete_details: { reason: 'x' } } }],
        [],
      )
      .map((end) => sse([...events, ...end])),
  );

const anthropic = fc
  .record({
    content: fc.array(
      fc.oneof(
        text.map((t): Json => ({ type: 'text', text: t })),
        fc
          .record({ id: nastyString, name: toolName, input: jsonValue })
          .map((b): Json => ({ type: 'tool_use', ...b })),
        fc.constantFrom<Json>({ type: 'thinking', thinking: 'hm' }, null, 'x'),
      ),
      { maxLength: 3 },
    ),
    stop_reason: fc.constantFrom<Json>('end_turn', 'tool_use', 'max_tokens', null, 7),
    usage: fc.record({ input_tokens: count, output_tokens: count }),
  })
  .map((r): Json => ({ ...r, model: 'm', type: 'message' }));

const anthropicStream = fc
  .array(
    fc.oneof(
      fc
        .record({ index: fc.oneof(fc.nat(2), fc.constant<Json>('x')), id: nastyString })
        .chain(({ index, id }) =>
          toolName.map(
            (name): Json => ({
              type: 'content_block_start',
              index,
              content_block: { type: 'tool_use', id, name, input: {} },
            }),
          ),
        ),
      argsArb.map(
        (partial_json): Json => ({
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'input_json_delta', partial_json },
        }),
      ),
      text.map(
        (t): Json => ({
          type: 'content_block_delta',
          index: 1,
          delta: { type: 'text_delta', text: t },
        }),
      ),
      fc.constantFrom<Json>(
        { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
        { type: 'message_start', message: { model: 'm', usage: { input_tokens: 2 } } },
        { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 1 } },
        { type: 'error', error: { type: 'overloaded_error', message: 'busy' } },
      ),
    ),
    { maxLength: 6 },
  )
  .chain((events) =>
    fc.boolean().map((stop) => sse(stop ? [...events, { type: 'message_stop' }] : events)),
  );

const ollamaMessage = fc.record({
  content: text,
  tool_calls: fc.array(fc.record({ function: fc.record({ name: toolName, arguments: argsArb }) }), {
    maxLength: 2,
  }),
});

const ollama = fc
  .record({
    message: ollamaMessage,
    done: fc.constantFrom<Json>(true, false, null),
    done_reason: fc.constantFrom<Json>('stop', 'length', 'x', null),
    prompt_eval_count: count,
    eval_count: count,
  })
  .map((r): Json => ({ ...r, model: 'm' }));

const ollamaStream = fc
  .array(
    fc.oneof(
      ollamaMessage.map((message): Json => ({ message, done: false })),
      fc.constantFrom<Json>({ error: 'out of memory' }, 'x', null),
    ),
    { maxLength: 5 },
  )
  .chain((records) =>
    fc
      .boolean()
      .map((done) =>
        ndjson(done ? [...records, { done: true, done_reason: 'stop', eval_count: 1 }] : records),
      ),
  );

function wire(body: fc.Arbitrary<Json | string>, contentType: string): fc.Arbitrary<Wire> {
  return fc.record({
    status: fc.constantFrom(200, 200, 200, 200, 400, 401, 404, 429, 500, 503),
    contentType: fc.constantFrom(contentType, contentType, 'text/plain'),
    text: fc.oneof(
      { weight: 6, arbitrary: body.map((b) => (typeof b === 'string' ? b : JSON.stringify(b))) },
      { weight: 1, arbitrary: jsonValue.map((v) => JSON.stringify(v)) },
      { weight: 1, arbitrary: nastyString },
    ),
    cut: fc.oneof(
      { weight: 4, arbitrary: fc.constant(1) },
      { weight: 1, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
    ),
    chunks: fc.integer({ min: 1, max: 7 }),
  });
}

type Make = (options: HttpDriverOptions) => ModelDriver;

const DRIVERS: Array<{ name: string; make: Make; body: fc.Arbitrary<Wire> }> = [
  {
    name: 'openai-compatible',
    make: (o) => new OpenAICompatibleDriver(o),
    body: wire(openAIChat, 'application/json'),
  },
  {
    name: 'openai-compatible, streaming',
    make: (o) => new OpenAICompatibleDriver({ ...o, stream: true }),
    body: wire(openAIChatStream, 'text/event-stream'),
  },
  {
    name: 'openai-responses',
    make: (o) => new OpenAIResponsesDriver(o),
    body: wire(responses, 'application/json'),
  },
  {
    name: 'openai-responses, streaming',
    make: (o) => new OpenAIResponsesDriver({ ...o, stream: true }),
    body: wire(responsesStream, 'text/event-stream'),
  },
  {
    name: 'anthropic',
    make: (o) => new AnthropicDriver(o),
    body: wire(anthropic, 'application/json'),
  },
  {
    name: 'anthropic, streaming',
    make: (o) => new AnthropicDriver({ ...o, stream: true }),
    body: wire(anthropicStream, 'text/event-stream'),
  },
  {
    name: 'ollama',
    make: (o) => new OllamaDriver({ ...o, stream: false }),
    body: wire(ollama, 'application/json'),
  },
  {
    name: 'ollama, streaming',
    make: (o) => new OllamaDriver(o),
    body: wire(ollamaStream, 'application/x-ndjson'),
  },
];

const request: ModelRequest = {
  slot: 'main',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hi \u0000 \ud800' },
    {
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'c/1', name: 'fn/echo', arguments: '{"a":' }],
    },
    { role: 'tool', callId: 'c/1', name: 'fn/echo', content: 'bad', isError: true },
  ],
  tools: [
    { name: 'fn/echo', description: 'echo', inputSchema: { type: 'object' } },
    { name: 'fn/fail', description: '', inputSchema: { type: 'object', properties: {} } },
  ],
};

const STOPS = ['end', 'tool_calls', 'length', 'filter', 'other'];

/** What every driver promises of a reply, whatever the wire said. */
function checkReply(reply: ModelReply): void {
  expect(typeof reply.text).toBe('string');
  expect(STOPS).toContain(reply.stop);
  for (const n of [reply.usage.inputTokens, reply.usage.outputTokens]) {
    expect(Number.isFinite(n) && n >= 0).toBe(true);
  }
  for (const c of reply.toolCalls) {
    expect([typeof c.id, typeof c.name, typeof c.arguments]).toEqual([
      'string',
      'string',
      'string',
    ]);
  }
  expect(() => canonicalJson(reply)).not.toThrow();
}

const options = (bodies: Wire[]): HttpDriverOptions => ({
  baseUrl: 'http://127.0.0.1:1/v1',
  model: 'm',
  apiKey: 'sk-test-secret',
  maxRetries: 1,
  timeoutMs: 5_000,
  fetch: fakeFetch(bodies),
});

describe('every driver, fed any reply', () => {
  for (const d of DRIVERS) {
    it(
      `${d.name}: a well-formed reply or a DriverError`,
      async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(d.body, { minLength: 1, maxLength: 2 }), async (bodies) => {
            let reply: ModelReply;
            try {
              reply = await d.make(options(bodies)).call(request);
            } catch (e) {
              const err = typed(e);
              expect(err.kind).toBe('driver');
              expect(err.message).not.toContain('sk-test-secret');
              return;
            }
            checkReply(reply);
          }),
          params(150),
        );
      },
      timeout(30_000),
    );
  }
});

const store = mkdtempSync(join(tmpdir(), 'mvm-fuzz-drivers-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

const chat = {
  mvm: 1,
  name: 'chat',
  models: { main: {} },
  tools: { fn: {} },
  permissions: ['model:main', 'tool:fn/*'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'fn', dst: 'tools' },
        { op: 'history.new', system: 'help', dst: 'h' },
        { op: 'data.const', value: 'go', dst: 'q' },
        { op: 'history.append', history: 'h', role: 'user', src: 'q' },
        {
          op: 'call',
          proc: 'std.chat',
          static: { slot: 'main', max_turns: 3 },
          args: { history: 'h', tools: 'tools' },
          dst: 'answer',
        },
        { op: 'halt', src: 'answer' },
      ],
    },
  },
};

describe('a chat run whose model answers anything', () => {
  it(
    'ends in a result or a typed error, and its journal verifies and replays',
    async () => {
      let make: () => ModelDriver = () => {
        throw new Error('unset');
      };
      const mvm = new Mvm({
        config: parseConfig(
          {
            models: { main: { driver: 'fuzz' } },
            tools: { fn: { command: 'unused' } },
            rules: [{ allow: 'model:main' }, { allow: 'tool:fn/*' }],
          },
          { path: null, dir: store },
        ),
        storeDir: store,
        drivers: { fuzz: () => make() },
        functions: {
          fn: {
            echo: { description: 'echo', run: (args) => args },
            fail: {
              description: 'fails',
              run: () => {
                throw new Error('no');
              },
            },
          },
        },
      });
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(...DRIVERS),
            fc.nat(),
            fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
            async (d, seed, picks) => {
              const bodies = fc.sample(d.body, { numRuns: 3, seed }).map((b, i) => ({
                ...b,
                status: picks[i]! % 4 === 0 ? b.status : 200,
              }));
              make = () => d.make(options(bodies));
              const result = await mvm.run(imageFromObject(chat));
              expect(result.error?.kind, JSON.stringify(result.error)).not.toBe('internal');
              expect(mvm.auditRun(result.runId).report.problems).toEqual([]);
              const replay = await mvm.replay(result.runId);
              expect(replay.divergence).toBeUndefined();
            },
          ),
          params(80),
        );
      } finally {
        mvm.close();
      }
    },
    timeout(40_000),
  );
});
