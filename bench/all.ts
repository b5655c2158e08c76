/**
 * The speed benchmarks in one run: each prints its own table as it finishes, then a summary
 * of their figures, with the target each is held to and the ratio to it.
 *
 *   npm run bench                          # every benchmark at its own defaults
 *   npm run bench -- --quick               # smaller sizes, a few minutes in all
 *   npm run bench -- --repeat 3            # each three times, taking turns: medians, ranges
 *   npm run bench -- --only scale,peers    # some of them
 *
 * Each benchmark runs in a process of its own, as its own npm script runs it, so that one
 * does not warm up or fill the heap of the next. The figures come back through a file named
 * in MVM_BENCH_FIGURES (see `report` in common.ts). The machine is shared and its load
 * varies, so the summary prints the load average and, with --repeat, the range of each
 * figure beside its median.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Figure, load, machine, median, table } from './common.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Bench {
  name: string;
  script: string;
  node?: string[];
  quick: string[];
}

const BENCHES: Bench[] = [
  { name: 'monitor', script: 'bench/monitor.ts', quick: ['--calls', '20000'] },
  {
    name: 'journal',
    script: 'bench/journal.ts',
    quick: ['--entries', '1500', '--full', '100', '--repeats', '3', '--verify', '2000'],
  },
  { name: 'tool-call', script: 'bench/tool-call.ts', quick: ['--calls', '300', '--rounds', '3'] },
  {
    name: 'scale',
    script: 'bench/scale.ts',
    node: ['--expose-gc'],
    quick: ['--runs', '2000', '--sample', '100', '--batch', '300', '--warmup', '20'],
  },
  { name: 'startup', script: 'bench/startup.ts', quick: ['--runs', '5', '--warmup', '1'] },
  {
    name: 'peers',
    script: 'bench/peers/run.ts',
    quick: ['--total', '300', '--rounds', '3', '--warmup', '30'],
  },
];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) {
  throw new Error(`--repeat: expected an integer of at least 1, found '${values.repeat}'`);
}
const names = values.only?.split(',').map((s) => s.trim());
for (const n of names ?? []) {
  if (!BENCHES.some((b) => b.name === n)) {
    throw new Error(
      `--only: no benchmark '${n}' (known: ${BENCHES.map((b) => b.name).join(', ')})`,
    );
  }
}
const chosen = BENCHES.filter((b) => !names || names.includes(b.name));

const scratch = mkdtempSync(join(tmpdir(), 'mvm-bench-all-'));
const figuresFile = join(scratch, 'figures.jsonl');
const started = new Date();
const failed: string[] = [];
try {
  for (let r = 1; r <= repeat; r++) {
    for (const b of chosen) {
      console.log(`\n## ${b.name}${repeat > 1 ? ` (round ${r} of ${repeat})` : ''}\n`);
      const args = [
        ...(b.node ?? []),
        '--import',
        'tsx',
        b.script,
        ...(values.quick ? b.quick : []),
      ];
      const run = spawnSync(process.execPath, args, {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, MVM_BENCH_FIGURES: figuresFile },
      });
      if (run.status !== 0) failed.push(`${b.name} (round ${r}): exit ${run.status}`);
    }
  }
  summarize(readFigures());
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
if (failed.length > 0) {
  console.log(`\nfailed: ${failed.join('; ')}`);
  process.exitCode = 1;
}

function readFigures(): Figure[] {
  let text = '';
  try {
    text = readFileSync(figuresFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Figure);
}

function summarize(figures: Figure[]): void {
  const groups = new Map<string, Figure[]>();
  for (const f of figures) {
    const key = `${f.bench}\u0000${f.measure}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const digits = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : 1));
  const rows = [...groups.values()].map((fs) => {
    const f = fs[0]!;
    const vs = fs.map((x) => x.value);
    const m = median(vs);
    const range = vs.length > 1 ? `${digits(Math.min(...vs))}–${digits(Math.max(...vs))}` : '';
    const t = f.target;
    const met = t ? (t.op === '<' ? m < t.value : m <= t.value) : undefined;
    return [
      f.bench,
      f.measure,
      `${digits(m)} ${f.unit}`,
      range,
      t ? `${t.op === '<' ? '<' : '≤'} ${t.value} ${f.unit}` : '',
      t ? (m / t.value).toFixed(2) : '',
      met === undefined ? '' : met ? 'yes' : '**no**',
    ];
  });
  console.log('\n# summary: mvm against its speed targets');
  console.log(machine());
  console.log(load());
  console.log(`started ${started.toISOString()}, ended ${new Date().toISOString()}`);
  console.log(
    `${repeat} round${repeat > 1 ? 's' : ''} of each benchmark${values.quick ? ', quick sizes' : ''}; ` +
      'medians over the rounds; the machine may be shared, so absolute times drift',
  );
  console.log('');
  console.log(
    table(['benchmark', 'measure', 'median', 'range', 'target', 'median / target', 'met'], rows, 2),
  );
}
