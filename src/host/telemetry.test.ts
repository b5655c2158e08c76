import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../spec/types.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';
import { RunTelemetry } from './telemetry.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const scratch = mkdtempSync(join(tmpdir(), 'mvm-telemetry-'));

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
});

afterEach(() => exporter.reset());

afterAll(async () => {
  trace.disable();
  await provider.shutdown();
  rmSync(scratch, { recursive: true, force: true });
});

/** The image asks the model, which calls `ns/tool` once and then answers. */
function adder(ns: string) {
  return imageFromObject({
    mvm: 1,
    name: 'adder',
    models: { main: {} },
    tools: { [ns]: {} },
    permissions: ['model:main', `tool:${ns}/*`],
    inputs: { question: { type: 'string', default: 'What is 2 + 3?' } },
    procedures: {
      main: {
        params: ['question'],
        body: [
          { op: 'tool.load', ns, dst: 't' },
          { op: 'history.new', system: 'You add numbers.', dst: 'h' },
          { op: 'history.append', history: 'h', role: 'user', src: 'question' },
          {
            op: 'call',
            proc: 'std.chat',
            static: { slot: 'main', max_turns: 4 },
            args: { history: 'h', tools: 't' },
            dst: 'a',
          },
          { op: 'halt', src: 'a' },
        ],
      },
    },
  });
}

function machine(tool: string, config: JsonObject = {}) {
  return new Mvm({
    config: parseConfig(
      {
        models: {
          main: {
            driver: 'replay',
            model: 'gpt-test',
            replies: [
              {
                toolCalls: [{ id: 'call_1', name: tool, arguments: { a: 2, b: 3 } }],
                usage: { inputTokens: 20, outputTokens: 7 },
              },
              { text: 'five', usage: { inputTokens: 31, outputTokens: 2 }, model: 'gpt-test-0613' },
            ],
          },
        },
        rules: [{ allow: 'model:main' }, { allow: `tool:${tool.split('/')[0]}/*` }],
        ...config,
      },
      { path: null, dir: scratch },
    ),
    storeDir: mkdtempSync(join(scratch, 'store-')),
    functions: {
      calc: {
        add: {
          description: 'adds two numbers',
          inputSchema: {
            type: 'object',
            properties: { a: { type: 'number' }, b: { type: 'number' } },
          },
          run: (args) => String(Number(args.a) + Number(args.b)),
        },
      },
    },
  });
}

function spans() {
  const all = exporter.getFinishedSpans();
  const run = all.filter((s) => s.name === 'invoke_agent adder');
  expect(run).toHaveLength(1);
  return {
    all,
    run: run[0]!,
    chats: all.filter((s) => s.name.startsWith('chat ')),
    tools: all.filter((s) => s.name.startsWith('execute_tool ')),
    instructions: all.filter((s) => s.attributes['mvm.instruction.op'] !== undefined),
  };
}

const childOf = (child: ReadableSpan, parent: ReadableSpan) =>
  child.parentSpanContext?.spanId === parent.spanContext().spanId &&
  child.spanContext().traceId === parent.spanContext().traceId;

/** The names of a span's ancestors, nearest first, up to the root. */
function ancestry(span: ReadableSpan, all: ReadableSpan[]): string[] {
  const byId = new Map(all.map((s) => [s.spanContext().spanId, s]));
  const names: string[] = [];
  let parent = byId.get(span.parentSpanContext?.spanId ?? '');
  while (parent) {
    names.push(parent.name);
    parent = byId.get(parent.parentSpanContext?.spanId ?? '');
  }
  return names;
}

const CONTENT = [
  'gen_ai.input.messages',
  'gen_ai.output.messages',
  'gen_ai.system_instructions',
  'gen_ai.tool.call.arguments',
  'gen_ai.tool.call.result',
];

describe('telemetry', () => {
  it('gives a run span with model and tool spans under it, and no content', async () => {
    const mvm = machine('calc/add', { telemetry: { instructions: false } });
    const result = await mvm.run(adder('calc'));
    mvm.close();
    expect(result.status).toBe('done');

    const { all, run, chats, tools } = spans();
    expect(all).toHaveLength(4);
    expect(run.attributes).toMatchObject({
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': 'adder',
      'mvm.run.id': result.runId,
      'mvm.image.name': 'adder',
      'mvm.run.status': 'done',
      'mvm.run.resumed': false,
      'gen_ai.usage.input_tokens': 51,
      'gen_ai.usage.output_tokens': 9,
    });
    expect(run.status.code).toBe(SpanStatusCode.UNSET);

    expect(chats.map((s) => s.name)).toEqual(['chat gpt-test', 'chat gpt-test']);
    expect(chats[0]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'replay',
      'gen_ai.request.model': 'gpt-test',
      'gen_ai.usage.input_tokens': 20,
      'gen_ai.usage.output_tokens': 7,
      'gen_ai.response.finish_reasons': ['tool_call'],
      'mvm.model.slot': 'main',
    });
    expect(chats[1]!.attributes).toMatchObject({
      'gen_ai.response.model': 'gpt-test-0613',
      'gen_ai.usage.input_tokens': 31,
      'gen_ai.usage.output_tokens': 2,
      'gen_ai.response.finish_reasons': ['stop'],
    });

    expect(tools).toHaveLength(1);
    expect(tools[0]!.name).toBe('execute_tool calc/add');
    expect(tools[0]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'execute_tool',
      'gen_ai.tool.name': 'calc/add',
      'gen_ai.tool.call.id': 'call_1',
      'gen_ai.tool.description': 'adds two numbers',
      'mvm.tool.namespace': 'calc',
    });
    expect(tools[0]!.status.code).toBe(SpanStatusCode.UNSET);

    for (const s of [...chats, ...tools]) expect(childOf(s, run)).toBe(true);
    // In the order they happened: the tool call between the two model calls.
    const start = (s: ReadableSpan) => s.startTime[0] * 1e9 + s.startTime[1];
    expect(start(chats[0]!)).toBeLessThanOrEqual(start(tools[0]!));
    expect(start(tools[0]!)).toBeLessThanOrEqual(start(chats[1]!));
    for (const s of all) for (const key of CONTENT) expect(s.attributes).not.toHaveProperty(key);
  });

  it('gives each instruction a span, nested as the instructions are', async () => {
    const mvm = machine('calc/add');
    const result = await mvm.run(adder('calc'));
    mvm.close();
    expect(result.status).toBe('done');

    const { all, run, chats, tools, instructions } = spans();
    // Every span but the run's is an instruction, a model call or a tool call.
    expect(all).toHaveLength(1 + instructions.length + chats.length + tools.length);
    const steps = instructions.map((s) => s.attributes['mvm.instruction.step']);
    expect([...steps].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: steps.length }, (_, i) => i + 1),
    );
    expect(run.attributes['mvm.run.steps']).toBe(steps.length);
    for (const s of instructions) {
      expect(s.name).toBe(s.attributes['mvm.instruction.op']);
      expect(s.attributes['mvm.instruction.at']).toEqual(expect.any(String));
      expect(s.spanContext().traceId).toBe(run.spanContext().traceId);
    }

    const top = instructions.filter((s) => childOf(s, run));
    expect(top.map((s) => [s.name, s.attributes['mvm.instruction.at']])).toEqual([
      ['tool.load', 'procedures.main.body[0]'],
      ['history.new', 'procedures.main.body[1]'],
      ['history.append', 'procedures.main.body[2]'],
      ['call', 'procedures.main.body[3]'],
      ['halt', 'procedures.main.body[4]'],
    ]);
    const chain = ['loop', 'call', 'invoke_agent adder'];
    for (const chat of chats) expect(ancestry(chat, all)).toEqual(['model.call', ...chain]);
    expect(ancestry(tools[0]!, all)).toEqual(['tool.call', 'foreach', ...chain]);
    const [model] = instructions.filter((s) => s.name === 'model.call');
    expect(model!.attributes['mvm.instruction.at']).toBe('stdlib.std.chat.body[0].body[0]');
    // A child ends before its parent (the exporter has them in the order they ended; their
    // clocks are the SDK's, which may put a child's end a little past its parent's).
    const ended = (s: ReadableSpan) => all.indexOf(s);
    const loop = instructions.find((s) => s.name === 'loop')!;
    expect(ended(chats[0]!)).toBeLessThan(ended(model!));
    expect(ended(tools[0]!)).toBeLessThan(ended(instructions.find((s) => s.name === 'tool.call')!));
    expect(ended(model!)).toBeLessThan(ended(loop));
    expect(ended(loop)).toBeLessThan(ended(run));
  });

  it('marks the instruction that failed and those it ended, in error', async () => {
    const mvm = machine('calc/add', { budgets: { modelCalls: 1 } });
    const result = await mvm.run(adder('calc'));
    mvm.close();
    expect(result.status).toBe('failed');

    const { all, instructions } = spans();
    const failed = instructions.filter((s) => s.status.code === SpanStatusCode.ERROR);
    // The second model.call, and the loop and call it ended; nothing after them ran.
    expect(failed.map((s) => s.name)).toEqual(['model.call', 'loop', 'call']);
    for (const s of failed) expect(s.attributes['error.type']).toBe(result.error?.code);
    expect(ancestry(failed[0]!, all)).toEqual(['loop', 'call', 'invoke_agent adder']);
    expect(instructions.some((s) => s.name === 'halt')).toBe(false);
    const ok = instructions.filter((s) => s.status.code !== SpanStatusCode.ERROR);
    expect(ok.length).toBeGreaterThan(0);
  });

  it('records messages, arguments and results when the configuration asks', async () => {
    const mvm = machine('calc/add', { telemetry: { captureContent: true } });
    await mvm.run(adder('calc'));
    mvm.close();

    const { chats, tools } = spans();
    const input = JSON.parse(String(chats[1]!.attributes['gen_ai.input.messages']));
    expect(input).toEqual([
      { role: 'system', parts: [{ type: 'text', content: 'You add numbers.' }] },
      { role: 'user', parts: [{ type: 'text', content: 'What is 2 + 3?' }] },
      {
        role: 'assistant',
        parts: [{ type: 'tool_call', id: 'call_1', name: 'calc/add', arguments: { a: 2, b: 3 } }],
      },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'call_1', response: '5' }] },
    ]);
    expect(JSON.parse(String(chats[1]!.attributes['gen_ai.output.messages']))).toEqual([
      { role: 'assistant', parts: [{ type: 'text', content: 'five' }], finish_reason: 'stop' },
    ]);
    expect(tools[0]!.attributes['gen_ai.tool.call.arguments']).toBe('{"a":2,"b":3}');
    expect(tools[0]!.attributes['gen_ai.tool.call.result']).toBe('5');
  });

  it('marks a denied call as an error, and puts the decision on the run span', async () => {
    const mvm = machine('calc/add', {
      rules: [
        { allow: 'model:main' },
        { allow: 'tool:calc/*' },
        { deny: 'tool:calc/add', reason: 'no sums today' },
      ],
    });
    expect((await mvm.run(adder('calc'))).status).toBe('done');
    mvm.close();

    const { all, run, tools } = spans();
    expect(tools).toHaveLength(1);
    expect(tools[0]!.attributes).toMatchObject({
      'gen_ai.tool.name': 'calc/add',
      'gen_ai.tool.call.id': 'call_1',
      'error.type': 'denied',
    });
    expect(tools[0]!.status.code).toBe(SpanStatusCode.ERROR);
    expect(ancestry(tools[0]!, all)).toEqual(['tool.call', 'foreach', 'loop', 'call', run.name]);
    const decision = run.events.find((e) => e.name === 'mvm.decision');
    expect(decision?.attributes).toMatchObject({
      'mvm.decision.verdict': 'deny',
      'mvm.decision.resource': 'tool:calc/add',
    });
  });

  it('spans a suspended run, then only the live calls of its resumption', async () => {
    const mvm = machine('calc/add', {
      rules: [{ allow: 'model:main' }, { allow: 'tool:calc/*' }, { confirm: 'tool:calc/add' }],
    });
    const first = await mvm.run(adder('calc'));
    expect(first.status).toBe('waiting');
    const before = spans();
    expect(before.run.attributes).toMatchObject({
      'mvm.run.status': 'waiting',
      'mvm.run.pending': 1,
    });
    expect(before.chats).toHaveLength(1);
    expect(before.tools).toHaveLength(0);
    expect(before.run.events.map((e) => e.attributes?.['mvm.decision.verdict'])).toEqual([
      'confirm',
    ]);
    const suspended = before.instructions.filter((s) => s.attributes['mvm.instruction.suspended']);
    expect(suspended.map((s) => s.name)).toEqual(['tool.call', 'foreach', 'loop', 'call']);
    for (const s of suspended) expect(s.status.code).toBe(SpanStatusCode.UNSET);
    exporter.reset();

    const second = await mvm.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]);
    mvm.close();
    expect(second.status).toBe('done');
    const after = spans();
    expect(after.run.attributes).toMatchObject({
      'mvm.run.id': first.runId,
      'mvm.run.resumed': true,
      'mvm.run.status': 'done',
    });
    // The first reply came from the journal: only the second model call was made.
    expect(after.chats).toHaveLength(1);
    expect(after.chats[0]!.attributes['gen_ai.response.model']).toBe('gpt-test-0613');
    expect(after.tools.map((s) => s.attributes['gen_ai.tool.call.id'])).toEqual(['call_1']);
    // The instructions re-executed from the journal have no spans: the tool call that was
    // waiting started before the run went live, so its span sits under the run's.
    expect(childOf(after.tools[0]!, after.run)).toBe(true);
    const ops = after.instructions.map((s) => s.name);
    expect(ops).not.toContain('tool.load');
    expect(ops).toContain('halt');
    expect(ancestry(after.chats[0]!, after.all)).toEqual(['model.call', 'invoke_agent adder']);
  });

  it('ends the run span in error when the run fails', async () => {
    const mvm = machine('calc/add', { budgets: { modelCalls: 1 } });
    const result = await mvm.run(adder('calc'));
    mvm.close();
    expect(result.status).toBe('failed');

    const { run } = spans();
    expect(run.status.code).toBe(SpanStatusCode.ERROR);
    expect(run.attributes['mvm.run.status']).toBe('failed');
    expect(run.attributes['error.type']).toBe(result.error?.code);
  });

  it('passes the tool span as traceparent in the _meta of an MCP tools/call', async () => {
    const sdk = fileURLToPath(
      new URL('../../node_modules/@modelcontextprotocol/sdk/dist/esm/', import.meta.url),
    );
    const at = (path: string) => pathToFileURL(join(sdk, path)).href;
    const script = join(scratch, 'meta-server.mjs');
    writeFileSync(
      script,
      `import { Server } from '${at('server/index.js')}';
import { StdioServerTransport } from '${at('server/stdio.js')}';
import { CallToolRequestSchema, ListToolsRequestSchema } from '${at('types.js')}';
const server = new Server({ name: 'meta', version: '1.0.0' }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [{ name: 'meta', description: 'says what _meta it got', inputSchema: { type: 'object' } }],
}));
server.setRequestHandler(CallToolRequestSchema, async (request) => ({
  content: [{ type: 'text', text: JSON.stringify(request.params._meta ?? null) }],
}));
await server.connect(new StdioServerTransport());
`,
    );
    const mvm = machine('probe/meta', {
      mcpServers: { probe: { command: process.execPath, args: [script] } },
    });
    const seen: string[] = [];
    const result = await mvm.run(adder('probe'), {
      events: (e) => {
        if (e.type === 'tool.result') seen.push(e.result.content);
      },
    });
    mvm.close();
    expect(result.status).toBe('done');

    const { run, tools } = spans();
    expect(tools).toHaveLength(1);
    const meta = JSON.parse(seen[0]!) as Record<string, string>;
    const span = tools[0]!.spanContext();
    expect(meta.traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);
    expect(span.traceId).toBe(run.spanContext().traceId);
  }, 30_000);

  it("spans a server's sampling call like the image's own model calls", async () => {
    const everything = fileURLToPath(
      new URL(
        '../../node_modules/@modelcontextprotocol/server-everything/dist/index.js',
        import.meta.url,
      ),
    );
    const mvm = new Mvm({
      config: parseConfig(
        {
          models: {
            sampler: {
              driver: 'replay',
              model: 'small',
              replies: [{ text: 'hi', usage: { inputTokens: 4, outputTokens: 2 } }],
            },
          },
          mcpServers: {
            ev: {
              command: process.execPath,
              args: [everything, 'stdio'],
              sampling: { model: 'sampler' },
            },
          },
          rules: [{ allow: 'tool:ev/*' }, { allow: 'sampling:ev' }, { allow: 'model:sampler' }],
        },
        { path: null, dir: scratch },
      ),
      storeDir: mkdtempSync(join(scratch, 'store-')),
    });
    const image = imageFromObject({
      mvm: 1,
      name: 'sampled',
      tools: { ev: {} },
      permissions: ['tool:ev/*'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'ev' },
            { op: 'data.const', value: { prompt: 'hello' }, dst: 'args' },
            { op: 'tool.call', tool: 'ev/trigger-sampling-request', args: 'args', dst: 'r' },
            { op: 'halt', src: 'r' },
          ],
        },
      },
    });
    const result = await mvm.run(image);
    mvm.close();
    expect(result.status).toBe('done');

    const all = exporter.getFinishedSpans();
    const run = all.find((s) => s.name === 'invoke_agent sampled')!;
    const chats = all.filter((s) => s.name === 'chat small');
    expect(chats).toHaveLength(1);
    expect(chats[0]!.attributes).toMatchObject({
      'mvm.model.slot': 'sampler',
      'gen_ai.usage.input_tokens': 4,
      'gen_ai.usage.output_tokens': 2,
    });
    // Under the instruction whose tool call the server was serving when it asked.
    expect(ancestry(chats[0]!, all)).toEqual(['tool.call', run.name]);
    expect(run.attributes['gen_ai.usage.input_tokens']).toBe(4);
  }, 30_000);
});

describe('telemetry without an SDK', () => {
  it('makes no spans and wraps nothing', async () => {
    trace.disable();
    try {
      const identity = { runId: 'r', image: 'adder', imageDigest: 'd', resumed: false };
      expect(RunTelemetry.start(identity)).toBeUndefined();
      const mvm = machine('calc/add');
      expect((await mvm.run(adder('calc'))).status).toBe('done');
      mvm.close();
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      trace.setGlobalTracerProvider(provider);
    }
  });
});
