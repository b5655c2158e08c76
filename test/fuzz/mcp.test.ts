import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/host/config.js';
import { Mvm } from '../../src/host/host.js';
import { imageFromObject } from '../../src/host/image-file.js';
import { ReplayDriver } from '../../src/models/replay.js';
import type { Json, JsonObject } from '../../src/spec/types.js';
import type { HostFunction } from '../../src/tools/host-functions.js';
import { McpProvider } from '../../src/tools/mcp.js';
import type { ToolDefinition, ToolResult } from '../../src/tools/provider.js';
import { jsonValue, nastyString, params, schemaArb, timeout, typed } from './arbitraries.js';

const scripted = fileURLToPath(new URL('../faults/servers/scripted.mjs', import.meta.url));
const store = mkdtempSync(join(tmpdir(), 'mvm-fuzz-mcp-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

const block: fc.Arbitrary<Json> = fc.oneof(
  nastyString.map((text): Json => ({ type: 'text', text })),
  fc.constantFrom<Json>(
    { type: 'text', text: 5 },
    { type: 'text' },
    { type: 'image', data: 'AAAA', mimeType: 'image/png' },
    { type: 'audio', data: '', mimeType: 'audio/wav' },
    { type: 'resource_link', uri: 'file:///x', name: 'x' },
    { type: 'resource', resource: { uri: 'mem://a', text: 'a' } },
    { type: 'resource', resource: { uri: 5 } },
    { type: 'no-such-block', x: 1 },
    null,
    'text',
  ),
);

/** A tools/call answer as a server sends it: a result of any shape, or a JSON-RPC error. */
const callReply: fc.Arbitrary<Json> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.array(block, { maxLength: 3 }).map((content): Json => ({ result: { content } })),
  },
  fc
    .record(
      {
        content: fc.oneof(fc.array(block, { maxLength: 3 }), jsonValue),
        structuredContent: jsonValue,
        isError: fc.constantFrom<Json>(true, false, 'yes', null),
      },
      { requiredKeys: [] },
    )
    .map((result): Json => ({ result })),
  jsonValue.map((toolResult): Json => ({ result: { toolResult } })),
  jsonValue.map((result): Json => ({ result })),
  fc
    .record({
      code: fc.oneof(fc.integer(), fc.constantFrom<Json>(-32001, -32602, 'x')),
      message: nastyString,
      data: jsonValue,
    })
    .map((error): Json => ({ error })),
  fc.constant<Json>({}),
);

const definition: fc.Arbitrary<Json> = fc.record(
  {
    name: fc.oneof(fc.constantFrom('ok', 'echo', 'a/b', 'a*', 'a b', ''), nastyString),
    description: fc.oneof(nastyString, fc.constant<Json>(5)),
    inputSchema: fc.oneof(schemaArb, fc.constant<Json>({ type: 'object', properties: 5 })),
    outputSchema: schemaArb,
    annotations: jsonValue,
  },
  { requiredKeys: ['name', 'inputSchema'] },
);

/** A tools/list answer: definitions of any shape, and sometimes a cursor. */
const listResult: fc.Arbitrary<Json> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.array(definition, { maxLength: 4 }).map((tools): Json => ({ tools })),
  },
  // Rare: a result that is not an object is dropped by the SDK, and only times out.
  { weight: 1, arbitrary: jsonValue.filter((v) => typeof v === 'object') },
  { weight: 1, arbitrary: fc.constant<Json>({ tools: [], nextCursor: 'again' }) },
);

/** A tools/list answer the SDK accepts, so that a run gets as far as calling. */
const plausibleList: fc.Arbitrary<Json> = fc
  .array(definition, { maxLength: 3 })
  .map((tools): Json => ({ tools: [{ name: 'raw', inputSchema: { type: 'object' } }, ...tools] }));

/** Arguments a model sends a tool; one is a string that a bad pattern backtracks on. */
const toolArgs: fc.Arbitrary<Json> = fc.oneof(
  jsonValue,
  fc.constantFrom<Json>({ a: `${'a'.repeat(40)}!` }, `${'a'.repeat(40)}!`, {}, { a: 'x' }),
);

let provider: McpProvider | undefined;

/** The shared server, connected again whenever a case broke the connection. */
async function connected(): Promise<McpProvider> {
  if (provider) return provider;
  const p = new McpProvider(
    'fz',
    { command: process.execPath, args: [scripted] },
    // A malformed answer is dropped by the SDK and times out; keep that wait short.
    { connectTimeoutMs: 1_000 },
  );
  await p.connect();
  provider = p;
  return p;
}

async function drop(e: unknown): Promise<void> {
  const code = typed(e).code;
  if (code === 'server_exited' || code === 'not_connected' || code === 'transport_error') {
    await provider?.close();
    provider = undefined;
  }
}

afterAll(async () => {
  await provider?.close();
});

function checkResult(r: ToolResult): void {
  expect(typeof r.isError).toBe('boolean');
  expect(Array.isArray(r.content)).toBe(true);
  expect(typeof r.text).toBe('string');
}

function checkDefinition(d: ToolDefinition): void {
  expect(typeof d.name).toBe('string');
  expect(typeof d.description).toBe('string');
  expect(d.inputSchema !== null && typeof d.inputSchema === 'object').toBe(true);
}

describe('an mcp provider, fed any answer', () => {
  it(
    'turns a tools/call answer into a result, or fails with a ProviderError',
    async () => {
      await fc.assert(
        fc.asyncProperty(callReply, async (reply) => {
          const p = await connected();
          let r: ToolResult;
          try {
            r = await p.call('raw', { reply } as JsonObject, { timeoutMs: 150 });
          } catch (e) {
            expect(typed(e).kind).toBe('provider');
            await drop(e);
            return;
          }
          checkResult(r);
        }),
        params(150),
      );
    },
    timeout(40_000),
  );

  it(
    'turns a tools/list answer into definitions, or fails with a ProviderError',
    async () => {
      await fc.assert(
        fc.asyncProperty(listResult, async (result) => {
          const p = await connected();
          let defs: ToolDefinition[];
          try {
            await p.call('__set_list', { result } as JsonObject, { timeoutMs: 150 });
            defs = await p.list();
          } catch (e) {
            expect(typed(e).kind).toBe('provider');
            await drop(e);
            return;
          }
          for (const d of defs) checkDefinition(d);
        }),
        params(150),
      );
    },
    timeout(40_000),
  );
});

const chat = {
  mvm: 1,
  name: 'tools',
  models: { main: {} },
  tools: { fn: {} },
  permissions: ['model:main', 'tool:fn/*'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'fn', dst: 'tools' },
        { op: 'history.new', system: 'use the tools', dst: 'h' },
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

let replies: JsonObject[] = [];
let functions: Record<string, HostFunction> = {};

const rules = [{ allow: 'model:main' }, { allow: 'tool:fn/*' }];
const hosted = new Mvm({
  config: parseConfig(
    { models: { main: { driver: 'fuzz' } }, tools: { fn: { command: 'unused' } }, rules },
    { path: null, dir: store },
  ),
  storeDir: join(store, 'hosted'),
  drivers: { fuzz: () => ReplayDriver.fromBinding({ driver: 'replay', replies }, store) },
  // A getter: each run mounts the definitions of its own case.
  functions: {
    get fn() {
      return functions;
    },
  },
});
afterAll(() => hosted.close());

describe('a run over tools with hostile definitions', () => {
  it(
    'loads or refuses them with a typed error, and checks calls within its deadline',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(definition, { minLength: 1, maxLength: 3 }),
          fc.array(toolArgs, { minLength: 1, maxLength: 3 }),
          async (defs, args) => {
            functions = Object.fromEntries(
              (defs as JsonObject[]).map((d) => [
                d.name as string,
                {
                  description: typeof d.description === 'string' ? d.description : '',
                  inputSchema: d.inputSchema as JsonObject,
                  run: (a: JsonObject) => a,
                },
              ]),
            );
            const names = Object.keys(functions);
            replies = [
              {
                toolCalls: args.map((a, i) => ({
                  id: `c${i}`,
                  name: `fn/${names[i % names.length]}`,
                  arguments: JSON.stringify(a),
                })),
              },
              { text: 'done' },
            ];
            const started = Date.now();
            const result = await hosted.run(imageFromObject(chat));
            expect(result.error?.kind, JSON.stringify(result.error)).not.toBe('internal');
            // Each call's patterns get a bounded time; nothing backtracks for seconds.
            expect(Date.now() - started).toBeLessThan(5_000);
            expect(hosted.auditRun(result.runId).report.problems).toEqual([]);
          },
        ),
        params(60),
      );
    },
    timeout(40_000),
  );
});

describe('a run over an mcp server that answers anything', () => {
  it(
    'ends in a result or a typed error, and its journal verifies',
    async () => {
      await fc.assert(
        fc.asyncProperty(plausibleList, callReply, toolArgs, async (list, reply, args) => {
          const config = parseConfig(
            {
              models: { main: { driver: 'fuzz' } },
              mcpServers: {
                fn: {
                  command: process.execPath,
                  args: [scripted],
                  env: { MCP_LIST: JSON.stringify(list), MCP_REPLY: JSON.stringify(reply) },
                },
              },
              rules,
              toolTimeoutMs: 300,
            },
            { path: null, dir: store },
          );
          const names = Array.isArray((list as JsonObject)?.tools)
            ? ((list as JsonObject).tools as JsonObject[]).map((t) => String(t?.name))
            : ['raw'];
          replies = [
            { toolCalls: [{ id: 'c1', name: `fn/${names[0]}`, arguments: JSON.stringify(args) }] },
            { text: 'done' },
          ];
          const mvm = new Mvm({
            config,
            storeDir: join(store, 'mcp'),
            drivers: { fuzz: () => ReplayDriver.fromBinding({ driver: 'replay', replies }, store) },
          });
          try {
            const result = await mvm.run(imageFromObject(chat));
            expect(result.error?.kind, JSON.stringify(result.error)).not.toBe('internal');
            expect(mvm.auditRun(result.runId).report.problems).toEqual([]);
          } finally {
            mvm.close();
          }
        }),
        params(6),
      );
    },
    timeout(40_000),
  );
});
