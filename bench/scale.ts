/**
 * Many runs suspended at a confirmation, in one process: what each costs in memory while it
 * waits, and how fast one resumes.
 *
 *   npm run bench:scale -- --runs 10000 --sample 200 --batch 1000 --warmup 50
 *
 * Each run is a chat agent (std.chat) whose recorded model asks for `mail/send`, a host
 * function that a `confirm` rule holds back, so the run suspends with status `waiting`. One
 * Mvm and one run store (SQLite, in a temporary folder, default durability) hold them all.
 * A resume approves the call: the machine re-executes against the journal, serves the
 * recorded model reply, runs the tool, takes the second recorded reply and ends `done`.
 *
 * Memory per suspended run is the V8 heap in use after a full collection, after the runs
 * were made, less the same before, divided by the runs. It counts every JavaScript object
 * the process keeps for a waiting run (the store's journal objects, caches, the benchmark's
 * own list of run ids). It does not count SQLite's own memory (its page cache and statements
 * live outside the heap; the resident set size is printed for them) nor the file on disk.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostFunction, imageFromObject, Mvm, parseConfig } from '../src/index.js';
import { flags, load, machine, quantile, report, table } from './common.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:scale does)');

const o = flags({ runs: 10_000, sample: 200, batch: 1000, warmup: 50 });
if (o.sample + o.batch > o.runs) throw new Error('--sample and --batch exceed --runs');

const image = imageFromObject({
  mvm: 1,
  name: 'bench-scale',
  models: { main: {} },
  tools: { mail: {} },
  permissions: ['model:main', 'tool:mail/*'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'mail', dst: 'tools' },
        { op: 'history.new', system: 'send the mail you are asked to', dst: 'h' },
        {
          op: 'call',
          proc: 'std.chat',
          static: { slot: 'main', max_turns: 4 },
          args: { history: 'h', tools: 'tools' },
          dst: 'answer',
        },
        { op: 'halt', src: 'answer' },
      ],
    },
  },
});

let sent = 0;
const send: HostFunction = {
  description: 'sends a message',
  inputSchema: { type: 'object', properties: { to: { type: 'string' } } },
  run: (args) => {
    sent++;
    return `sent to ${String(args.to)}`;
  },
};

const dir = mkdtempSync(join(tmpdir(), 'mvm-bench-scale-'));
const config = parseConfig(
  {
    models: {
      main: {
        driver: 'replay',
        replies: [
          { toolCalls: [{ id: 'a', name: 'mail/send', arguments: { to: 'ann' } }] },
          { text: 'sent' },
        ],
      },
    },
    tools: { mail: { label: { integrity: 'trusted' } } },
    rules: [{ allow: 'model:main' }, { confirm: 'tool:mail/send' }, { allow: 'tool:mail/*' }],
  },
  { path: null, dir },
);
const mvm = new Mvm({ config, storeDir: join(dir, 'store'), functions: { mail: { send } } });

async function suspend(): Promise<string> {
  const r = await mvm.run(image);
  if (r.status !== 'waiting') throw new Error(`expected waiting, found ${r.status}`);
  return r.runId;
}

async function resume(id: string): Promise<void> {
  const r = await mvm.resume(id, [{ id: 'c1', verdict: 'approve' }]);
  if (r.status !== 'done' || r.output !== 'sent') {
    throw new Error(`run ${id}: expected done, found ${r.status} ${JSON.stringify(r.error)}`);
  }
}

function heap(): { heap: number; rss: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

/** CPU time of this process (user and system) since `from`, in ms: less swayed by load. */
function cpuMs(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
}

const KB = 1024;
const ms = (t: number) => t.toFixed(3);

try {
  // Warm-up: one-time costs (compiled schemas, the standard library, JIT) stay out of the
  // figures. These runs are resumed, so they leave nothing waiting.
  for (let i = 0; i < o.warmup; i++) await resume(await suspend());

  const before = heap();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < o.runs; i++) ids.push(await suspend());
  const suspendS = (performance.now() - t0) / 1000;
  const suspendCpu = cpuMs(c0) / o.runs;
  const after = heap();
  const entries = mvm.store.journal(ids[0]!).count;
  const waiting = mvm.store.database
    .prepare("SELECT count(*) AS n FROM runs WHERE status = 'waiting'")
    .get() as { n: number };
  if (waiting.n !== o.runs) throw new Error(`expected ${o.runs} waiting, found ${waiting.n}`);
  const dbBytes = ['mvm.db', 'mvm.db-wal']
    .map((f) => statSync(join(dir, 'store', f), { throwIfNoEntry: false })?.size ?? 0)
    .reduce((a, b) => a + b, 0);

  // The sample: runs spread over the whole set, each resume timed alone.
  const times: number[] = [];
  const step = Math.floor(o.runs / o.sample);
  const sampled = new Set<number>();
  const c1 = process.cpuUsage();
  for (let i = 0; i < o.sample; i++) {
    sampled.add(i * step);
    const t = performance.now();
    await resume(ids[i * step]!);
    times.push(performance.now() - t);
  }
  const resumeCpu = cpuMs(c1) / o.sample;
  times.sort((a, b) => a - b);

  // Throughput: a batch of the runs not sampled, resumed one after another.
  const rest = ids.filter((_, i) => !sampled.has(i)).slice(0, o.batch);
  const tb = performance.now();
  for (const id of rest) await resume(id);
  const batchS = (performance.now() - tb) / 1000;
  const afterResume = heap();
  if (sent !== o.warmup + o.sample + o.batch) throw new Error(`the tool ran ${sent} times`);

  const perRun = (after.heap - before.heap) / o.runs;
  const med = quantile(times, 0.5);
  console.log('# scale: runs suspended at a confirmation, held by one run store');
  console.log(machine());
  console.log(load());
  console.log(`date: ${new Date().toISOString()}`);
  console.log(
    `runs: ${o.runs} suspended (${entries} journal entries each) in ${suspendS.toFixed(1)} s; ` +
      `${o.warmup} warm-up runs before; store durability normal`,
  );
  console.log('');
  const yes = (ok: boolean) => (ok ? 'yes' : 'no');
  const perKb = (bytes: number) => `${(bytes / o.runs / KB).toFixed(2)} KB`;
  const rows = [
    [
      'heap per suspended run (after GC)',
      perKb(after.heap - before.heap),
      '< 20 KB',
      yes(perRun < 20 * KB),
    ],
    ['resume, median', `${ms(med)} ms`, '< 2 ms', yes(med < 2)],
    ['resume, p90', `${ms(quantile(times, 0.9))} ms`, '', ''],
    ['resume, CPU time (mean over the sample)', `${ms(resumeCpu)} ms`, '', ''],
    [
      `resume, throughput (${rest.length} in a row)`,
      `${(rest.length / batchS).toFixed(0)}/s`,
      '',
      '',
    ],
    ['suspend (run to waiting), throughput', `${(o.runs / suspendS).toFixed(0)}/s`, '', ''],
    ['suspend, CPU time (mean)', `${ms(suspendCpu)} ms`, '', ''],
    ['rss per suspended run', perKb(after.rss - before.rss), '', ''],
    ['store on disk per run (db + wal)', perKb(dbBytes), '', ''],
  ];
  console.log(table(['measure', 'value', 'target', 'met'], rows));
  report([
    {
      bench: 'scale',
      measure: `heap per suspended run (${o.runs} runs)`,
      value: perRun / KB,
      unit: 'KB',
      target: { op: '<', value: 20 },
    },
    {
      bench: 'scale',
      measure: 'resume, median',
      value: med,
      unit: 'ms',
      target: { op: '<', value: 2 },
    },
    { bench: 'scale', measure: 'resume, p90', value: quantile(times, 0.9), unit: 'ms' },
    { bench: 'scale', measure: 'resume, CPU time (mean)', value: resumeCpu, unit: 'ms' },
  ]);
  console.log('');
  console.log(
    `heap after GC: ${(before.heap / 2 ** 20).toFixed(1)} MiB before the runs, ` +
      `${(after.heap / 2 ** 20).toFixed(1)} MiB with them waiting, ` +
      `${(afterResume.heap / 2 ** 20).toFixed(1)} MiB after ${o.sample + o.batch} resumed`,
  );
} finally {
  mvm.close();
  rmSync(dir, { recursive: true, force: true });
}
