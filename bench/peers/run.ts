/**
 * The cost of an agent step in mvm against two peer frameworks, on the same scripted model
 * and the same tool, with no network.
 *
 *   npm run bench:peers -- --total 1000 --rounds 3 --warmup 100
 *
 * `--only mvm` (or `agents`, `ai`) runs one framework, for a CPU profile of it alone.
 *
 * A step is one model turn that asks for a tool, and the tool's run. The model is a script
 * in memory: while the conversation holds fewer than N tool results it asks for `add` with
 * two numbers, then it answers `done after N steps`. Each framework runs it through its own
 * model interface, and the tool is a function of the application in each: a host function
 * in mvm, `tool()` of the OpenAI Agents SDK for JavaScript (`@openai/agents`), `tool()` of
 * the Vercel AI SDK (`ai`, `generateText` with a provider object of its model interface).
 * Each run starts from nothing and ends with the model's answer, which is checked, as is
 * the number of times the tool ran.
 *
 * mvm runs as an application would run it: the image verified, a run in a SQLite store in
 * a temporary folder (default durability), the monitor deciding each call, every value
 * labelled, every effect journalled, the manifest written at the end.
 *
 * `total` steps are made at each length (10, 50 and 200 steps per run), in rounds; in each
 * round the frameworks take turns, each starting at a different place. Time per step is a
 * round's wall time over its steps, the median over the rounds.
 *
 * The peers live in a package of their own beside this file (package.json, lock file),
 * installed from the lock file the first time this runs; mvm's own dependencies do not
 * change. They are loaded by name at run time, so the repository type-checks without them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type HostFunction,
  imageFromObject,
  type ModelDriver,
  type ModelReply,
  type ModelRequest,
  Mvm,
  parseConfig,
} from '../../src/index.js';
import { type Figure, flags, load, machine, median, report, table } from '../common.js';

const here = dirname(fileURLToPath(import.meta.url));
const o = flags({ total: 1000, rounds: 3, warmup: 100 }, 1, ['only']);
const LENGTHS = [10, 50, 200];
const HALF = { op: '<=' as const, value: 0.5 };

if (
  !existsSync(join(here, 'node_modules/@openai/agents')) ||
  !existsSync(join(here, 'node_modules/ai'))
) {
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
  if (npm.status !== 0) throw new Error(`npm ci in ${here} failed`);
}

// Nothing here may reach the network: no framework is given a key, the Agents SDK's trace
// export is off, and fetch refuses, so a request that slipped through fails the run.
process.env.OPENAI_AGENTS_DISABLE_TRACING = '1';
let refused = 0;
globalThis.fetch = async (input) => {
  refused++;
  throw new Error(`the benchmark makes no requests (asked for ${String(input)})`);
};

// ---------------------------------------------------------------------------------------
// The script and the tool, shared by every framework.

type Turn = { call: { id: string; a: number; b: number } } | { text: string };

/** What the model says, given how many tool results the conversation already holds. */
function script(results: number, steps: number): Turn {
  if (results < steps) return { call: { id: `call_${results + 1}`, a: results, b: 1 } };
  return { text: `done after ${steps} steps` };
}

function add(a: number, b: number): string {
  return String(a + b);
}

/** One run of `steps` steps, which checks its own answer; `ran` counts the tool's runs. */
type Runner = (steps: number) => Promise<void>;

interface Framework {
  name: string;
  runner: Runner;
  ran: () => number;
  close: () => void;
}

function expectAnswer(name: string, got: unknown, steps: number): void {
  if (got !== `done after ${steps} steps`) {
    throw new Error(`${name}: unexpected answer ${JSON.stringify(got)}`);
  }
}

// ---------------------------------------------------------------------------------------
// mvm

class ScriptedDriver implements ModelDriver {
  constructor(private readonly steps: () => number) {}

  describe() {
    const capabilities = {
      tools: true,
      parallelToolCalls: true,
      jsonSchema: true,
      streaming: false,
    };
    return { driver: 'scripted', provider: 'bench', model: 'scripted', capabilities };
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const results = request.messages.filter((m) => m.role === 'tool').length;
    const turn = script(results, this.steps());
    const usage = { inputTokens: 0, outputTokens: 0 };
    if ('text' in turn) return { text: turn.text, toolCalls: [], stop: 'end', usage };
    const { id, a, b } = turn.call;
    const toolCalls = [{ id, name: 'calc/add', arguments: JSON.stringify({ a, b }) }];
    return { text: '', toolCalls, stop: 'tool_calls', usage };
  }
}

async function mvmFramework(): Promise<Framework> {
  let ran = 0;
  let steps = 0;
  const fn: HostFunction = {
    description: 'adds two numbers',
    inputSchema: {
      type: 'object',
      properties: { a: { type: 'number' }, b: { type: 'number' } },
      required: ['a', 'b'],
    },
    run: (args) => {
      ran++;
      return add(Number(args.a), Number(args.b));
    },
  };
  const dir = mkdtempSync(join(tmpdir(), 'mvm-bench-peers-'));
  const config = parseConfig(
    {
      models: { main: { driver: 'scripted' } },
      tools: { calc: { modes: { add: 'read' } } },
      rules: [{ allow: 'model:main' }, { allow: 'tool:calc/*' }],
      budgets: { steps: 1_000_000, modelCalls: 10_000, toolCalls: 10_000, wallMs: 3_600_000 },
    },
    { path: null, dir },
  );
  const mvm = new Mvm({
    config,
    storeDir: join(dir, 'store'),
    functions: { calc: { add: fn } },
    drivers: { scripted: () => new ScriptedDriver(() => steps) },
  });
  // One image per run length, since the chat loop's bound is a static argument.
  const images = new Map<number, ReturnType<typeof imageFromObject>>();
  const imageFor = (n: number) => {
    const found = images.get(n);
    if (found) return found;
    const made = imageFromObject({
      mvm: 1,
      name: 'bench-peers',
      models: { main: {} },
      tools: { calc: {} },
      permissions: ['model:main', 'tool:calc/*'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'calc', dst: 'tools' },
            { op: 'history.new', system: 'you add numbers', dst: 'h' },
            { op: 'data.const', value: 'add the numbers', dst: 'q' },
            { op: 'history.append', history: 'h', role: 'user', src: 'q' },
            {
              op: 'call',
              proc: 'std.chat',
              static: { slot: 'main', max_turns: n + 1 },
              args: { history: 'h', tools: 'tools' },
              dst: 'answer',
            },
            { op: 'halt', src: 'answer' },
          ],
        },
      },
    });
    images.set(n, made);
    return made;
  };
  return {
    name: 'mvm',
    runner: async (n) => {
      steps = n;
      const r = await mvm.run(imageFor(n));
      if (r.status !== 'done') throw new Error(`mvm: ${r.status} ${JSON.stringify(r.error)}`);
      expectAnswer('mvm', r.output, n);
    },
    ran: () => ran,
    close: () => {
      mvm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------
// The peers, typed here by the little of their interfaces that the benchmark uses.

interface Zod {
  z: { object(shape: object): unknown; number(): unknown };
}

interface AgentsSdk {
  Agent: new (options: object) => unknown;
  run(
    agent: unknown,
    input: string,
    options: { maxTurns: number },
  ): Promise<{ finalOutput: unknown }>;
  tool(options: object): unknown;
  setTracingDisabled(disabled: boolean): void;
  Usage: new () => unknown;
}

interface AiSdk {
  generateText(options: object): Promise<{ text: string }>;
  tool(options: object): unknown;
  stepCountIs(n: number): unknown;
}

type Item = { type?: string; role?: string; content?: unknown[] };

async function agentsFramework(zod: Zod): Promise<Framework> {
  const sdk = (await import('@openai/agents' as string)) as AgentsSdk;
  sdk.setTracingDisabled(true);
  let ran = 0;
  let steps = 0;
  const addTool = sdk.tool({
    name: 'add',
    description: 'adds two numbers',
    parameters: zod.z.object({ a: zod.z.number(), b: zod.z.number() }),
    execute: async ({ a, b }: { a: number; b: number }) => {
      ran++;
      return add(a, b);
    },
  });
  const model = {
    async getResponse(request: { input: string | Item[] }) {
      const input = typeof request.input === 'string' ? [] : request.input;
      const results = input.filter((i) => i.type === 'function_call_result').length;
      const turn = script(results, steps);
      const output =
        'text' in turn
          ? [
              {
                type: 'message',
                role: 'assistant',
                status: 'completed',
                content: [{ type: 'output_text', text: turn.text }],
              },
            ]
          : [
              {
                type: 'function_call',
                callId: turn.call.id,
                name: 'add',
                arguments: JSON.stringify({ a: turn.call.a, b: turn.call.b }),
                status: 'completed',
              },
            ];
      return { usage: new sdk.Usage(), output };
    },
    // biome-ignore lint/correctness/useYield: the benchmark never streams
    async *getStreamedResponse(): AsyncIterable<never> {
      throw new Error('not streamed');
    },
  };
  const agent = new sdk.Agent({
    name: 'bench',
    instructions: 'you add numbers',
    model,
    tools: [addTool],
  });
  return {
    name: 'OpenAI Agents SDK',
    runner: async (n) => {
      steps = n;
      const r = await sdk.run(agent, 'add the numbers', { maxTurns: n + 2 });
      expectAnswer('agents', r.finalOutput, n);
    },
    ran: () => ran,
    close: () => {},
  };
}

async function aiFramework(zod: Zod): Promise<Framework> {
  const sdk = (await import('ai' as string)) as AiSdk;
  let ran = 0;
  let steps = 0;
  const tools = {
    add: sdk.tool({
      description: 'adds two numbers',
      inputSchema: zod.z.object({ a: zod.z.number(), b: zod.z.number() }),
      execute: async ({ a, b }: { a: number; b: number }) => {
        ran++;
        return add(a, b);
      },
    }),
  };
  const usage = {
    inputTokens: { total: 0, noCache: 0, cacheRead: 0, cacheWrite: 0 },
    outputTokens: { total: 0, text: 0, reasoning: 0 },
  };
  // A provider object of the model interface (LanguageModelV3), as a custom provider makes.
  const model = {
    specificationVersion: 'v3',
    provider: 'bench',
    modelId: 'scripted',
    supportedUrls: {},
    async doGenerate(options: { prompt: Item[] }) {
      const results = options.prompt
        .filter((m) => m.role === 'tool')
        .reduce((s, m) => s + (m.content ?? []).length, 0);
      const turn = script(results, steps);
      if ('text' in turn) {
        return {
          content: [{ type: 'text', text: turn.text }],
          finishReason: { unified: 'stop', raw: 'stop' },
          usage,
          warnings: [],
        };
      }
      const { id, a, b } = turn.call;
      return {
        content: [
          { type: 'tool-call', toolCallId: id, toolName: 'add', input: JSON.stringify({ a, b }) },
        ],
        finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
        usage,
        warnings: [],
      };
    },
    async doStream(): Promise<never> {
      throw new Error('not streamed');
    },
  };
  return {
    name: 'Vercel AI SDK',
    runner: async (n) => {
      steps = n;
      const r = await sdk.generateText({
        model,
        system: 'you add numbers',
        prompt: 'add the numbers',
        tools,
        stopWhen: sdk.stepCountIs(n + 1),
      });
      expectAnswer('ai', r.text, n);
    },
    ran: () => ran,
    close: () => {},
  };
}

// ---------------------------------------------------------------------------------------

/** Milliseconds for `total` steps in runs of `length` (the last run shorter if need be). */
async function timed(f: Framework, length: number, total: number): Promise<number> {
  const before = f.ran();
  const t0 = performance.now();
  for (let done = 0; done < total; done += length) await f.runner(Math.min(length, total - done));
  const ms = performance.now() - t0;
  if (f.ran() - before !== total) {
    throw new Error(`${f.name}: the tool ran ${f.ran() - before} times, expected ${total}`);
  }
  return ms;
}

async function main(): Promise<void> {
  const zod = (await import('zod' as string)) as Zod;
  const all = { mvm: mvmFramework, agents: agentsFramework, ai: aiFramework };
  if (o.only !== undefined && !Object.hasOwn(all, o.only)) {
    throw new Error(`--only: expected mvm, agents or ai, found '${o.only}'`);
  }
  const chosen = o.only === undefined ? Object.values(all) : [all[o.only as keyof typeof all]];
  const frameworks = await Promise.all(chosen.map((make) => make(zod)));
  const versions = ['@openai/agents', 'ai'].map((p) => {
    const pkg = join(here, 'node_modules', p, 'package.json');
    return `${p} ${(JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version}`;
  });
  try {
    for (const f of frameworks) for (const n of LENGTHS) await timed(f, n, Math.max(o.warmup, n));

    const perStep = new Map<string, number[]>();
    for (const n of LENGTHS) {
      for (let r = 0; r < o.rounds; r++) {
        for (let k = 0; k < frameworks.length; k++) {
          const f = frameworks[(r + k) % frameworks.length]!;
          const ms = await timed(f, n, o.total);
          const key = `${f.name}@${n}`;
          perStep.set(key, [...(perStep.get(key) ?? []), (ms * 1000) / o.total]);
        }
      }
    }

    console.log('# peers: time per agent step, the same scripted model and tool in each');
    console.log(machine());
    console.log(load());
    console.log(`date: ${new Date().toISOString()}`);
    console.log(`peers: ${versions.join(', ')}; requests refused: ${refused}`);
    console.log(
      `${o.total} steps at each length, in ${o.rounds} rounds; median µs per step over the ` +
        'rounds; mvm with monitor, labels and journal (SQLite, durability normal)',
    );
    console.log('');
    const figures: Figure[] = [];
    const rows = LENGTHS.map((n) => {
      const us = frameworks.map((f) => median(perStep.get(`${f.name}@${n}`)!));
      const cells = [n, ...us.map((u) => u.toFixed(1))];
      if (frameworks.length < 3) return cells;
      const fastest = Math.min(...us.slice(1));
      const ratio = us[0]! / fastest;
      const bench = `agent step, ${n} per run`;
      figures.push(
        { bench, measure: 'mvm', value: us[0]!, unit: 'µs' },
        { bench, measure: 'fastest peer', value: fastest, unit: 'µs' },
        { bench, measure: 'mvm / fastest peer', value: ratio, unit: '×', target: HALF },
      );
      return [...cells, ratio.toFixed(2), ratio <= 0.5 ? 'yes' : 'no'];
    });
    report(figures);
    const head = ['steps per run', ...frameworks.map((f) => `${f.name} µs/step`)];
    const ratios = frameworks.length < 3 ? [] : ['mvm / fastest peer', 'at most 0.5'];
    console.log(table([...head, ...ratios], rows));
  } finally {
    for (const f of frameworks) f.close();
  }
}

await main();
