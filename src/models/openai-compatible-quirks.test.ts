import { afterEach, describe, expect, it } from 'vitest';
import type { Message, ModelRequest } from './driver.js';
import { OpenAICompatibleDriver, openAICompatibleFromBinding } from './openai-compatible.js';
import { closeAll, frame, send, serve, sse } from './test-helpers/loopback.js';

afterEach(closeAll);

const hello: Message[] = [{ role: 'user', content: 'hello' }];
const tools = [{ name: 'fs/read_file', description: '', inputSchema: { type: 'object' } }];
const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };

function request(extra: Partial<ModelRequest> = {}): ModelRequest {
  return { slot: 'main', messages: hello, tools: [], ...extra };
}

const ok = {
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: '{}' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1000, completion_tokens: 500 },
};

describe('openai-compatible options for servers that differ', () => {
  it('sends tool_choice, parallel_tool_calls and max_completion_tokens as told', async () => {
    const server = await serve((_, res) => send(res, 200, ok));
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      toolChoice: 'required',
      parallelToolCalls: false,
      maxTokens: 256,
      maxTokensField: 'max_completion_tokens',
      strictSchema: true,
    });

    await driver.call(request({ tools, schema }));

    expect(server.body(0)).toMatchObject({
      tool_choice: 'required',
      parallel_tool_calls: false,
      max_completion_tokens: 256,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema, strict: true },
      },
    });
    expect(server.body(0)).not.toHaveProperty('max_tokens');
  });

  it('leaves tool options out when no tools are offered', async () => {
    const server = await serve((_, res) => send(res, 200, ok));
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      toolChoice: 'auto',
      parallelToolCalls: false,
      maxTokens: 9,
    });

    await driver.call(request());

    expect(server.body(0)).toEqual({ model: 'm', messages: hello, stream: false, max_tokens: 9 });
  });

  it('states the schema in the first system message in json_object and none modes', async () => {
    const server = await serve((_, res) => send(res, 200, ok));
    const messages: Message[] = [{ role: 'system', content: 'be brief' }, ...hello];
    const words = `Answer with JSON only, meeting this JSON Schema: ${JSON.stringify(schema)}`;

    await new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      schemaMode: 'json_object',
    }).call(request({ messages, schema }));
    await new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      schemaMode: 'none',
    }).call(request({ schema }));

    expect(server.body(0)).toMatchObject({
      messages: [{ role: 'system', content: `be brief\n\n${words}` }, hello[0]],
      response_format: { type: 'json_object' },
    });
    expect(server.body(1).messages).toEqual([{ role: 'system', content: words }, hello[0]]);
    expect(server.body(1)).not.toHaveProperty('response_format');
  });

  it('omits stream_options when streamUsage is false', async () => {
    const server = await serve((_, res) =>
      sse(res, [
        frame({ choices: [{ delta: { content: 'x' }, finish_reason: 'stop' }] }),
        frame('[DONE]'),
      ]),
    );
    const driver = new OpenAICompatibleDriver({
      baseUrl: server.baseUrl,
      model: 'm',
      stream: true,
      streamUsage: false,
    });

    await driver.call(request());

    expect(server.body(0)).toEqual({ model: 'm', messages: hello, stream: true });
  });

  it('reads finish_reason stop with tool calls as a turn of tool calls', async () => {
    const server = await serve((_, res) =>
      send(res, 200, {
        choices: [
          {
            message: {
              content: null,
              tool_calls: [
                { id: '', type: 'function', function: { name: 'fs__read_file', arguments: '{}' } },
              ],
            },
            finish_reason: 'stop',
          },
        ],
      }),
    );

    const reply = await new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' }).call(
      request({ tools }),
    );

    expect(reply.stop).toBe('tool_calls');
    expect(reply.toolCalls).toEqual([{ id: 'call_0', name: 'fs/read_file', arguments: '{}' }]);
  });

  it('prices usage when the binding gives a price', async () => {
    const server = await serve((_, res) => send(res, 200, ok));
    const driver = openAICompatibleFromBinding(
      {
        driver: 'openai-compatible',
        baseUrl: server.baseUrl,
        model: 'm',
        price: { inputPerMTok: 2.5, outputPerMTok: 10 },
        toolChoice: 'none',
        schemaMode: 'none',
        maxTokensField: 'max_tokens',
        streamUsage: true,
        stream: false,
      },
      {},
    );

    const reply = await driver.call(request());

    expect(reply.usage).toEqual({ inputTokens: 1000, outputTokens: 500, cost: 0.0075 });
  });

  it('names a bad quirk option', () => {
    const base = { driver: 'openai-compatible', baseUrl: 'http://127.0.0.1:9/v1', model: 'm' };
    const cases: [Record<string, unknown>, string][] = [
      [{ toolChoice: 'any' }, 'toolChoice'],
      [{ schemaMode: 'grammar' }, 'schemaMode'],
      [{ maxTokensField: 'n' }, 'maxTokensField'],
      [{ parallelToolCalls: 'no' }, 'parallelToolCalls'],
      [{ maxTokens: 1.5 }, 'maxTokens'],
      [{ price: { inputPerMTok: 1 } }, 'price.outputPerMTok'],
      [{ price: 3 }, 'price'],
    ];

    for (const [change, field] of cases) {
      const binding = { ...base, ...change } as Parameters<typeof openAICompatibleFromBinding>[0];
      expect(() => openAICompatibleFromBinding(binding, {})).toThrow(
        expect.objectContaining({
          code: 'bad_model_binding',
          data: expect.objectContaining({ field }),
        }),
      );
    }
  });
});
