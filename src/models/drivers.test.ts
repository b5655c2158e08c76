import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AnthropicDriver } from './anthropic.js';
import type { Message, ModelDriver, ModelReply, ToolSpec } from './driver.js';
import { OllamaDriver } from './ollama.js';
import { OpenAICompatibleDriver } from './openai-compatible.js';
import { OpenAIResponsesDriver } from './openai-responses.js';
import { closeAll, frame, ndjson, send, serve, sse } from './test-helpers/loopback.js';

/**
 * One scripted behaviour, every wire format: a turn with some text and two tool calls, then,
 * given the results, a text answer. Each driver talks to its own loopback server, which
 * answers in that provider's documented shapes; every driver must give the machine the same
 * replies and pair each result with its call. That is the promise that an image runs the
 * same with any model.
 */

afterEach(closeAll);

const SAID = 'Let me look.';
const ANSWER = 'Both done: the note says A, and Oslo is sunny.';
const CALLS = [
  { name: 'fs/read_file', wire: 'fs__read_file', args: { path: 'notes/a.md' } },
  { name: 'web/search', wire: 'web__search', args: { q: 'weather in Oslo' } },
];
const RESULTS = ['A', 'sunny'];
const USAGE = [
  { input: 20, output: 10 },
  { input: 40, output: 6 },
];

const tools: ToolSpec[] = [
  { name: 'fs/read_file', description: 'read a file', inputSchema: { type: 'object' } },
  { name: 'web/search', description: 'search the web', inputSchema: { type: 'object' } },
];

/** What a provider's server does in each turn, and how its requests carry results. */
interface Wire {
  name: string;
  prefix: string;
  make(baseUrl: string, stream: boolean): ModelDriver;
  answer(turn: number, res: ServerResponse, stream: boolean): void;
  /** The (call id, result) pairs a request carries, in order. */
  results(body: Record<string, unknown>): { id: string; output: string }[];
  /** The function names a request offers. */
  offered(body: Record<string, unknown>): string[];
  /** Answers, without streaming, with one call to each of `names`. */
  echo(res: ServerResponse, names: string[]): void;
}

type Body = Record<string, unknown>;
const listOf = (value: unknown) => (Array.isArray(value) ? (value as Body[]) : []);

/** Arguments split into uneven pieces, as streams deliver them. */
function pieces(args: unknown): string[] {
  const text = JSON.stringify(args);
  return [text.slice(0, 3), text.slice(3, 11), text.slice(11)];
}

const chat: Wire = {
  name: 'openai-compatible',
  prefix: '/v1',
  make: (baseUrl, stream) => new OpenAICompatibleDriver({ baseUrl, model: 'm', stream }),
  answer(turn, res, stream) {
    const usage = { prompt_tokens: USAGE[turn]?.input, completion_tokens: USAGE[turn]?.output };
    const calls = turn === 0 ? CALLS : [];
    const text = turn === 0 ? SAID : ANSWER;
    const finish = turn === 0 ? 'tool_calls' : 'stop';
    if (!stream) {
      const tool_calls = calls.map((call, index) => ({
        id: `call_${index}x`,
        type: 'function',
        function: { name: call.wire, arguments: JSON.stringify(call.args) },
      }));
      const message = { role: 'assistant', content: text, ...(calls.length ? { tool_calls } : {}) };
      send(res, 200, {
        model: 'm',
        choices: [{ index: 0, message, finish_reason: finish }],
        usage,
      });
      return;
    }
    const chunk = (delta: unknown, finish_reason: string | null = null) =>
      frame({ model: 'm', choices: [{ index: 0, delta, finish_reason }] });
    sse(res, [
      chunk({ role: 'assistant', content: text.slice(0, 4) }),
      chunk({ content: text.slice(4) }),
      ...calls.flatMap((call, index) =>
        pieces(call.args).map((part, n) =>
          chunk({
            tool_calls: [
              n === 0
                ? {
                    index,
                    id: `call_${index}x`,
                    type: 'function',
                    function: { name: call.wire, arguments: part },
                  }
                : { index, function: { arguments: part } },
            ],
          }),
        ),
      ),
      chunk({}, finish),
      frame({ model: 'm', choices: [], usage }),
      frame('[DONE]'),
    ]);
  },
  results: (body) =>
    (body.messages as Record<string, unknown>[])
      .filter((m) => m.role === 'tool')
      .map((m) => ({ id: String(m.tool_call_id), output: String(m.content) })),
  offered: (body) => listOf(body.tools).map((tool) => String((tool.function as Body).name)),
  echo(res, names) {
    const tool_calls = names.map((name, index) => ({
      id: `c${index}`,
      type: 'function',
      function: { name, arguments: '{}' },
    }));
    send(res, 200, {
      choices: [{ message: { content: null, tool_calls }, finish_reason: 'tool_calls' }],
    });
  },
};

const anthropic: Wire = {
  name: 'anthropic',
  prefix: '/v1',
  make: (baseUrl, stream) => new AnthropicDriver({ baseUrl, model: 'm', stream }),
  answer(turn, res, stream) {
    const usage = { input_tokens: USAGE[turn]?.input, output_tokens: USAGE[turn]?.output };
    const calls = turn === 0 ? CALLS : [];
    const text = turn === 0 ? SAID : ANSWER;
    const stop = turn === 0 ? 'tool_use' : 'end_turn';
    if (!stream) {
      const content = [
        { type: 'text', text },
        ...calls.map((call, index) => ({
          type: 'tool_use',
          id: `toolu_${index}`,
          name: call.wire,
          input: call.args,
        })),
      ];
      send(res, 200, {
        type: 'message',
        role: 'assistant',
        model: 'm',
        content,
        stop_reason: stop,
        usage,
      });
      return;
    }
    const ev = (type: string, payload: Record<string, unknown> = {}) =>
      frame({ type, ...payload }, type);
    sse(res, [
      ev('message_start', {
        message: {
          type: 'message',
          role: 'assistant',
          model: 'm',
          content: [],
          usage: { ...usage, output_tokens: 1 },
        },
      }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', {
        index: 0,
        delta: { type: 'text_delta', text: text.slice(0, 4) },
      }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: text.slice(4) } }),
      ev('content_block_stop', { index: 0 }),
      ...calls.flatMap((call, i) => [
        ev('content_block_start', {
          index: i + 1,
          content_block: { type: 'tool_use', id: `toolu_${i}`, name: call.wire, input: {} },
        }),
        ...pieces(call.args).map((part) =>
          ev('content_block_delta', {
            index: i + 1,
            delta: { type: 'input_json_delta', partial_json: part },
          }),
        ),
        ev('content_block_stop', { index: i + 1 }),
      ]),
      ev('message_delta', {
        delta: { stop_reason: stop },
        usage: { output_tokens: usage.output_tokens },
      }),
      ev('message_stop'),
    ]);
  },
  results: (body) =>
    (body.messages as { content: unknown }[]).flatMap((m) =>
      Array.isArray(m.content)
        ? (m.content as Record<string, unknown>[])
            .filter((block) => block.type === 'tool_result')
            .map((block) => ({ id: String(block.tool_use_id), output: String(block.content) }))
        : [],
    ),
  offered: (body) => listOf(body.tools).map((tool) => String(tool.name)),
  echo(res, names) {
    const content = names.map((name, index) => ({
      type: 'tool_use',
      id: `t${index}`,
      name,
      input: {},
    }));
    send(res, 200, { type: 'message', content, stop_reason: 'tool_use', usage: {} });
  },
};

const responses: Wire = {
  name: 'openai-responses',
  prefix: '/v1',
  make: (baseUrl, stream) => new OpenAIResponsesDriver({ baseUrl, model: 'm', stream }),
  answer(turn, res, stream) {
    const usage = { input_tokens: USAGE[turn]?.input, output_tokens: USAGE[turn]?.output };
    const calls = turn === 0 ? CALLS : [];
    const text = turn === 0 ? SAID : ANSWER;
    const message = {
      type: 'message',
      id: 'msg_1',
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text, annotations: [] }],
    };
    const items = calls.map((call, index) => ({
      type: 'function_call',
      id: `fc_${index}`,
      call_id: `call_r${index}`,
      name: call.wire,
      arguments: JSON.stringify(call.args),
      status: 'completed',
    }));
    const done = {
      id: 'resp_1',
      object: 'response',
      status: 'completed',
      model: 'm',
      output: [message, ...items],
      usage,
    };
    if (!stream) {
      send(res, 200, done);
      return;
    }
    const ev = (type: string, payload: Record<string, unknown>) =>
      frame({ type, ...payload }, type);
    sse(res, [
      ev('response.created', {
        response: { ...done, status: 'in_progress', output: [], usage: null },
      }),
      ev('response.output_item.added', {
        output_index: 0,
        item: { ...message, content: [], status: 'in_progress' },
      }),
      ev('response.output_text.delta', {
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta: text.slice(0, 4),
      }),
      ev('response.output_text.delta', {
        item_id: 'msg_1',
        output_index: 0,
        content_index: 0,
        delta: text.slice(4),
      }),
      ev('response.output_item.done', { output_index: 0, item: message }),
      ...items.flatMap((item, i) => [
        ev('response.output_item.added', {
          output_index: i + 1,
          item: { ...item, arguments: '', status: 'in_progress' },
        }),
        ...pieces(CALLS[i]?.args).map((delta) =>
          ev('response.function_call_arguments.delta', {
            item_id: item.id,
            output_index: i + 1,
            delta,
          }),
        ),
        ev('response.function_call_arguments.done', {
          item_id: item.id,
          output_index: i + 1,
          arguments: item.arguments,
        }),
        ev('response.output_item.done', { output_index: i + 1, item }),
      ]),
      ev('response.completed', { response: done }),
    ]);
  },
  results: (body) =>
    (body.input as Record<string, unknown>[])
      .filter((item) => item.type === 'function_call_output')
      .map((item) => ({ id: String(item.call_id), output: String(item.output) })),
  offered: (body) => listOf(body.tools).map((tool) => String(tool.name)),
  echo(res, names) {
    const output = names.map((name, index) => ({
      type: 'function_call',
      call_id: `c${index}`,
      name,
      arguments: '{}',
    }));
    send(res, 200, { status: 'completed', output });
  },
};

const ollama: Wire = {
  name: 'ollama',
  prefix: '',
  make: (baseUrl, stream) => new OllamaDriver({ baseUrl, model: 'm', stream }),
  answer(turn, res, stream) {
    const calls = turn === 0 ? CALLS : [];
    const text = turn === 0 ? SAID : ANSWER;
    const tool_calls = calls.map((call) => ({
      function: { name: call.wire, arguments: call.args },
    }));
    const last = {
      model: 'm',
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: USAGE[turn]?.input,
      eval_count: USAGE[turn]?.output,
    };
    if (!stream) {
      const message = { role: 'assistant', content: text, ...(calls.length ? { tool_calls } : {}) };
      send(res, 200, { ...last, message });
      return;
    }
    const partial = (message: Record<string, unknown>) => ({
      model: 'm',
      message: { role: 'assistant', content: '', ...message },
      done: false,
    });
    ndjson(res, [
      partial({ content: text.slice(0, 4) }),
      partial({ content: text.slice(4) }),
      ...tool_calls.map((call) => partial({ tool_calls: [call] })),
      last,
    ]);
  },
  results: (body) =>
    (body.messages as Record<string, unknown>[])
      .filter((m) => m.role === 'tool')
      .map((m) => ({ id: String(m.tool_name), output: String(m.content) })),
  offered: (body) => listOf(body.tools).map((tool) => String((tool.function as Body).name)),
  echo(res, names) {
    const tool_calls = names.map((name) => ({ function: { name, arguments: {} } }));
    send(res, 200, { message: { role: 'assistant', content: '', tool_calls }, done: true });
  },
};

const WIRES = [chat, anthropic, responses, ollama];

/** The reply with ids set aside and arguments as JSON values, to compare across providers. */
function comparable(reply: ModelReply) {
  return {
    text: reply.text,
    stop: reply.stop,
    usage: reply.usage,
    toolCalls: reply.toolCalls.map((call) => ({
      name: call.name,
      args: JSON.parse(call.arguments) as unknown,
    })),
  };
}

async function run(wire: Wire, stream: boolean) {
  const server = await serve((_, res, index) => wire.answer(index, res, stream), wire.prefix);
  const driver = wire.make(server.baseUrl, stream);
  const shown: string[] = [];
  const messages: Message[] = [
    { role: 'system', content: 'You help with notes.' },
    { role: 'user', content: 'Read my note and check the weather.' },
  ];

  const first = await driver.call({ slot: 'main', messages, tools, onText: (d) => shown.push(d) });
  messages.push({ role: 'assistant', content: first.text, toolCalls: first.toolCalls });
  first.toolCalls.forEach((call, index) => {
    messages.push({
      role: 'tool',
      callId: call.id,
      name: call.name,
      content: RESULTS[index] ?? '',
    });
  });
  const second = await driver.call({ slot: 'main', messages, tools });

  return { first, second, shown, results: wire.results(server.body(1)) };
}

describe('every driver runs the same script to the same replies', () => {
  const expected = [
    {
      text: SAID,
      stop: 'tool_calls',
      usage: { inputTokens: 20, outputTokens: 10 },
      toolCalls: CALLS.map((call) => ({ name: call.name, args: call.args })),
    },
    { text: ANSWER, stop: 'end', usage: { inputTokens: 40, outputTokens: 6 }, toolCalls: [] },
  ];

  for (const wire of WIRES) {
    for (const stream of [false, true]) {
      it(`${wire.name}${stream ? ', streaming' : ''}`, async () => {
        const { first, second, shown, results } = await run(wire, stream);

        expect([comparable(first), comparable(second)]).toEqual(expected);
        expect(new Set(first.toolCalls.map((call) => call.id)).size).toBe(2);
        expect(shown.join('')).toBe(stream ? SAID : '');
        // Each result goes back paired with its call: by id, or by tool name where the wire
        // pairs by name.
        const pairs = first.toolCalls.map((call, index) => ({
          id: wire === ollama ? (CALLS[index]?.wire ?? '') : call.id,
          output: RESULTS[index],
        }));
        expect(results).toEqual(pairs);
      });
    }
  }
});

describe('every driver round-trips qualified tool names through its wire names', () => {
  const names = [
    'a/b',
    'a__b',
    'web.search/get page',
    'ünï/cödé',
    `long/${'x'.repeat(80)}`,
    `long/${'x'.repeat(81)}`,
  ];
  const offered = names.map((name) => ({ name, description: '', inputSchema: { type: 'object' } }));

  for (const wire of WIRES) {
    it(wire.name, async () => {
      const server = await serve(
        (seen, res) => wire.echo(res, wire.offered(JSON.parse(seen.body))),
        wire.prefix,
      );
      const driver = wire.make(server.baseUrl, false);

      const reply = await driver.call({
        slot: 'main',
        messages: [{ role: 'user', content: 'x' }],
        tools: offered,
      });
      const sent = wire.offered(server.body(0));

      for (const name of sent) expect(name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
      expect(new Set(sent).size).toBe(names.length);
      expect(reply.toolCalls.map((call) => call.name)).toEqual(names);
    });
  }
});
