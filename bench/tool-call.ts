/**
 * The cost of one tool call through mvm, against the MCP SDK's own client, over stdio.
 *
 * Both paths call `echo` of the reference server `@modelcontextprotocol/server-everything`
 * with the same arguments. Echo does no work of its own (no file system, no clock), so the
 * time per call is the round trip plus what each client does around it, and the ratio shows
 * mvm's own cost at its most visible.
 *
 *   npm run bench:tool-call -- --calls 1000 --warmup 1000 --rounds 5
 *
 * `--only mvm` or `--only bare` runs one path, for a CPU profile of it alone. `--durability
 * full` runs the store as `store.durability: full` does (a sync on every commit).
 *
 * The measured calls are split into rounds. Each round starts a fresh server for each path,
 * warms it up, measures, and closes it; the path that goes first alternates, so drift of
 * the machine falls on both. The warm-up is long because the server is slow to reach its
 * own steady speed: over the first 3,000 calls of one server the median call through mvm
 * fell from 324 µs to 136 µs, 500 calls at a time, and a bare client's first 1,500 calls
 * take three to four times as long as the next. The mvm path is one `Mvm.run` per round, with the real monitor,
 * argument validation, journal (SQLite, in a temporary folder) and labels.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { imageFromObject, type MachineEvent, Mvm, parseConfig } from '../src/index.js';
import { report } from './common.js';

const SERVER = fileURLToPath(
  new URL('../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url),
);
const NS = 'everything';
const TOOL = 'echo';
const ARGS = { message: 'hello from the benchmark' };

type Path = 'mvm' | 'bare';

interface Options {
  calls: number;
  warmup: number;
  rounds: number;
  paths: Path[];
  durability: 'normal' | 'full';
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      calls: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
      only: { type: 'string' },
      durability: { type: 'string', default: 'normal' },
    },
  });
  const int = (name: 'calls' | 'warmup' | 'rounds', min: number): number => {
    const raw = values[name];
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`--${name}: expected an integer of at least ${min}, found '${raw}'`);
    }
    return n;
  };
  const only = values.only;
  if (only !== undefined && only !== 'mvm' && only !== 'bare') {
    throw new Error(`--only: expected mvm or bare, found '${only}'`);
  }
  const durability = values.durability;
  if (durability !== 'normal' && durability !== 'full') {
    throw new Error(`--durability: expected normal or full, found '${durability}'`);
  }
  const calls = int('calls', 1);
  const rounds = int('rounds', 1);
  if (rounds > calls) throw new Error('--rounds: more rounds than calls');
  const paths: Path[] = only === undefined ? ['mvm', 'bare'] : [only];
  return { calls, warmup: int('warmup', 0), rounds, paths, durability };
}

/** The calls measured in each round: `calls` split as evenly as it goes. */
function split(calls: number, rounds: number): number[] {
  return Array.from(
    { length: rounds },
    (_, r) => Math.floor(calls / rounds) + (r < calls % rounds ? 1 : 0),
  );
}

/** Differences of consecutive timestamps: the time from the start of one call to the next. */
function intervals(marks: number[]): number[] {
  return marks.slice(1).map((t, i) => t - marks[i]!);
}

/**
 * One run of mvm: load the namespace, then `warmup + n` tool.call instructions in a loop.
 *
 * A call's time is the span between the `step` event of its tool.call and the `step` event
 * of the next instruction (the next tool.call, or the halt after the loop). The machine emits
 * `step` right after fetching an instruction, so the span holds all of one call: decoding
 * the operands, validating the arguments against the tool's schema, the monitor's decision
 * and its journal entry, the budget check, the intent entry, the MCP request and its reply,
 * the result's label and its journal entry, writing the register, and the loop's own step.
 * `tool.result` events carry only the provider call, which is why they are not used here.
 */
async function mvmRound(
  mvm: Mvm,
  warmup: number,
  n: number,
): Promise<{ calls: number[]; provider: number[] }> {
  const image = imageFromObject({
    mvm: 1,
    name: 'bench-tool-call',
    tools: { [NS]: { description: 'the MCP reference server' } },
    permissions: [`tool:${NS}/*`],
    procedures: {
      main: {
        body: [
          { op: 'data.const', value: ARGS, dst: 'args' },
          // Set before the loop, since the verifier cannot know that the loop runs at all.
          { op: 'data.const', value: null, dst: 'result' },
          { op: 'tool.load', ns: NS },
          {
            op: 'loop',
            max: warmup + n,
            onLimit: 'stop',
            body: [{ op: 'tool.call', tool: `${NS}/${TOOL}`, args: 'args', dst: 'result' }],
          },
          { op: 'halt', src: 'result' },
        ],
      },
    },
  });

  const marks: number[] = [];
  const provider: number[] = [];
  const events = (e: MachineEvent) => {
    if (e.type === 'tool.result') provider.push(e.ms);
    if (e.type !== 'step') return;
    if (e.op === 'tool.call' || (e.op === 'halt' && marks.length > 0)) {
      marks.push(performance.now());
    }
  };
  const result = await mvm.run(image, { events });
  if (result.status !== 'done') {
    throw new Error(`the mvm run failed: ${JSON.stringify(result.error)}`);
  }
  const output = result.output as { ok?: boolean; content?: string } | null;
  if (!output?.ok || !output.content?.includes(ARGS.message)) {
    throw new Error(`unexpected tool result: ${JSON.stringify(output)}`);
  }
  if (marks.length !== warmup + n + 1) {
    throw new Error(`expected ${warmup + n + 1} marks, found ${marks.length}`);
  }
  return { calls: intervals(marks).slice(warmup), provider: provider.slice(warmup) };
}

/** The same calls through the SDK's Client and StdioClientTransport, timed the same way. */
async function bareRound(warmup: number, n: number): Promise<number[]> {
  const client = new Client({ name: 'bench-bare', version: '0.1.0' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [SERVER, 'stdio'],
    stderr: 'ignore',
  });
  await client.connect(transport);
  try {
    // mvm lists the tools on tool.load; the client caches what it learns from the list.
    await client.listTools();
    const marks: number[] = [];
    let last: Awaited<ReturnType<Client['callTool']>> | undefined;
    for (let i = 0; i < warmup + n; i++) {
      marks.push(performance.now());
      last = await client.callTool({ name: TOOL, arguments: ARGS });
    }
    marks.push(performance.now());
    if (last?.isError || !JSON.stringify(last?.content).includes(ARGS.message)) {
      throw new Error(`unexpected tool result: ${JSON.stringify(last)}`);
    }
    return intervals(marks).slice(warmup);
  } finally {
    await client.close();
  }
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

interface Row {
  path: string;
  calls: number;
  median: number;
  p90: number;
  total: number;
}

function row(path: string, times: number[]): Row {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    path,
    calls: times.length,
    median: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    total: times.reduce((s, t) => s + t, 0) / 1000,
  };
}

function table(rows: Row[]): string {
  const lines = ['| path | calls | median ms | p90 ms | total s |', '|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    const cells = [r.path, r.calls, r.median.toFixed(3), r.p90.toFixed(3), r.total.toFixed(2)];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function header(o: Options): string {
  const cpu = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  return [
    `# tool call: ${NS}/${TOOL} over stdio, mvm against the bare MCP SDK client`,
    `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${gib} GiB, ` +
      `${process.platform} ${process.arch}, node ${process.version}`,
    `date: ${new Date().toISOString()}`,
    `calls: ${o.calls} per path in ${o.rounds} rounds, ${o.warmup} warm-up calls per round; ` +
      `store durability ${o.durability}`,
    'a call is timed from its start to the start of the next; total sums the measured calls',
  ].join('\n');
}

async function main(): Promise<void> {
  const o = options();
  if (!existsSync(SERVER)) throw new Error(`the reference server is not installed: ${SERVER}`);

  const dir = mkdtempSync(join(tmpdir(), 'mvm-bench-'));
  const perRound = Math.max(...split(o.calls, o.rounds));
  const config = parseConfig(
    {
      mcpServers: { [NS]: { command: process.execPath, args: [SERVER, 'stdio'] } },
      rules: [{ allow: `tool:${NS}/*` }],
      budgets: {
        steps: o.warmup + perRound + 10,
        toolCalls: o.warmup + perRound,
        wallMs: 3_600_000,
      },
      store: { durability: o.durability },
    },
    { path: null, dir },
  );
  const mvm = new Mvm({ config, storeDir: join(dir, 'store') });

  const times = { mvm: [] as number[], bare: [] as number[] };
  const provider: number[] = [];
  try {
    for (const [r, n] of split(o.calls, o.rounds).entries()) {
      const order = r % 2 === 0 ? o.paths : [...o.paths].reverse();
      for (const path of order) {
        if (path === 'bare') {
          times.bare.push(...(await bareRound(o.warmup, n)));
          continue;
        }
        const got = await mvmRound(mvm, o.warmup, n);
        times.mvm.push(...got.calls);
        provider.push(...got.provider);
      }
    }
  } finally {
    mvm.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const mvmRow = times.mvm.length > 0 ? row('mvm', times.mvm) : undefined;
  const bareRow = times.bare.length > 0 ? row('bare SDK client', times.bare) : undefined;
  console.log(header(o));
  console.log('');
  console.log(table([mvmRow, bareRow].filter((r) => r !== undefined)));
  console.log('');
  if (mvmRow && bareRow) {
    console.log(`ratio mvm/bare (median): ${(mvmRow.median / bareRow.median).toFixed(2)}`);
    console.log(`ratio mvm/bare (p90): ${(mvmRow.p90 / bareRow.p90).toFixed(2)}`);
    report([
      { bench: 'tool call', measure: 'mvm, median', value: mvmRow.median, unit: 'ms' },
      { bench: 'tool call', measure: 'bare SDK client, median', value: bareRow.median, unit: 'ms' },
      {
        bench: 'tool call',
        measure: 'mvm / bare client, median, stdio',
        value: mvmRow.median / bareRow.median,
        unit: '×',
        target: { op: '<=', value: 1.05 },
      },
    ]);
  }
  if (mvmRow) {
    // The MCP request alone, as mvm times it around McpProvider.call: the rest of the
    // median is the machine's own work.
    const inner = row('mvm provider call', provider);
    console.log(`mvm, MCP request alone (median): ${inner.median.toFixed(3)} ms`);
  }
}

await main();
