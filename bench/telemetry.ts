// What OpenTelemetry costs a run: per instruction with no SDK registered, with an SDK and a
// span per instruction, and with an SDK and instruction spans turned off; and the no-op span
// a run makes when nothing records.
//   npm run bench:telemetry [-- --steps 20000 --runs 15]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import { RunTelemetry } from '../src/host/telemetry.js';
import type { JsonObject } from '../src/spec/types.js';
import { flags, load, machine, median, table } from './common.js';

const { steps, runs } = flags({ steps: 20_000, runs: 15 });

/** A loop of data instructions and nothing else: what the machine itself costs per step. */
const turns = Math.ceil(steps / 2);
const image = imageFromObject({
  mvm: 1,
  name: 'spin',
  procedures: {
    main: {
      body: [
        {
          op: 'loop',
          max: turns,
          onLimit: 'stop',
          body: [
            { op: 'data.const', value: 1, dst: 'x' },
            { op: 'data.compare', a: 'x', cmp: 'eq', value: 1, dst: 'same' },
          ],
        },
      ],
    },
  },
});

const scratch = mkdtempSync(join(tmpdir(), 'mvm-bench-telemetry-'));

/** Nanoseconds per instruction over `runs` runs, the median, after two runs to warm up. */
async function perStep(config: JsonObject): Promise<{ ns: number; steps: number }> {
  const mvm = new Mvm({
    config: parseConfig(
      { budgets: { steps: turns * 3 + 10 }, ...config },
      { path: null, dir: scratch },
    ),
    storeDir: mkdtempSync(join(scratch, 'store-')),
  });
  const samples: number[] = [];
  let count = 0;
  try {
    for (let i = 0; i < runs + 2; i++) {
      let n = 0;
      const started = process.hrtime.bigint();
      const result = await mvm.run(image, {
        events: (e) => {
          if (e.type === 'step') n++;
        },
      });
      const ns = Number(process.hrtime.bigint() - started);
      if (result.status !== 'done') throw new Error(`the run failed: ${result.error?.message}`);
      count = n;
      if (i >= 2) samples.push(ns / n);
    }
  } finally {
    mvm.close();
  }
  return { ns: median(samples), steps: count };
}

/** The run span that `RunTelemetry.start` makes and drops when nothing records. */
function noopStart(): number {
  const identity = { runId: 'r', image: 'spin', imageDigest: 'd', resumed: false };
  const n = 200_000;
  for (let i = 0; i < 10_000; i++) RunTelemetry.start(identity);
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) RunTelemetry.start(identity);
  return Number(process.hrtime.bigint() - started) / n;
}

const rows: (string | number)[][] = [];
trace.disable();
const none = await perStep({});
const startNs = noopStart();
rows.push(['no SDK registered', none.ns.toFixed(0), '0']);

/** Counts what it is given and sends it nowhere: the SDK's work without an exporter's. */
class Counting implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.spans += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

const exporter = new Counting();
// A queue as large as a run's spans, so that none is dropped and each is counted.
const processor = new BatchSpanProcessor(exporter, { maxQueueSize: turns * 2 + 10 });
const provider = new BasicTracerProvider({ spanProcessors: [processor] });
trace.setGlobalTracerProvider(provider);
for (const [name, telemetry] of [
  ['SDK, a span per instruction', {}],
  ['SDK, instruction spans off', { instructions: false }],
] as const) {
  await provider.forceFlush();
  exporter.spans = 0;
  const r = await perStep({ telemetry });
  await provider.forceFlush();
  rows.push([name, r.ns.toFixed(0), (exporter.spans / (runs + 2)).toFixed(0)]);
}
trace.disable();
await provider.shutdown();
rmSync(scratch, { recursive: true, force: true });

console.log(machine());
console.log(load());
console.log(`${none.steps} instructions per run, median of ${runs} runs\n`);
console.log(table(['telemetry', 'ns per instruction', 'spans per run'], rows));
console.log(`\nno SDK: a run's one no-op span (RunTelemetry.start) takes ${startNs.toFixed(0)} ns`);
