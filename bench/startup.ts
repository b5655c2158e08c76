/**
 * How long the CLI takes to start and check the bundled example, against Node doing nothing.
 *
 *   npm run bench:startup -- --runs 20 --warmup 2
 *
 * Each command is a new process, spawned and waited for; the time is from spawn to exit.
 * `mvm check examples/notes` loads the built CLI (dist/, so `npm run build` first), reads the
 * image and its host configuration, and verifies them. `mvm --help` loads the CLI and
 * prints, which separates loading from checking. The commands take turns, so drift of the
 * machine falls on all of them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flags, load, machine, quantile, report, table } from './common.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const o = flags({ runs: 20, warmup: 2 }, 0);

if (!existsSync(join(root, 'dist/cli/main.js'))) {
  throw new Error('dist/ is missing: npm run build first (npm run bench:startup does)');
}

const commands: { name: string; args: string[] }[] = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'mvm --help', args: ['bin/mvm.js', '--help'] },
  { name: 'mvm check examples/notes', args: ['bin/mvm.js', 'check', 'examples/notes'] },
];

function once(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return ms;
}

const times = commands.map(() => [] as number[]);
for (let i = 0; i < o.warmup + o.runs; i++) {
  // Rotate the order from round to round.
  for (let k = 0; k < commands.length; k++) {
    const c = (i + k) % commands.length;
    const ms = once(commands[c]!.args);
    if (i >= o.warmup) times[c]!.push(ms);
  }
}

const sorted = times.map((t) => [...t].sort((a, b) => a - b));
const base = quantile(sorted[0]!, 0.5);
report(
  commands.slice(1).map((c, i) => ({
    bench: 'startup',
    measure: `${c.name}, median`,
    value: quantile(sorted[i + 1]!, 0.5),
    unit: 'ms',
  })),
);
console.log('# startup: the CLI checking the bundled example, against node -e 0');
console.log(machine());
console.log(load());
console.log(`date: ${new Date().toISOString()}`);
console.log(`${o.runs} runs of each command, taking turns, after ${o.warmup} warm-up rounds`);
console.log('');
console.log(
  table(
    ['command', 'median ms', 'p90 ms', 'min ms', 'median / node -e 0'],
    commands.map((c, i) => {
      const s = sorted[i]!;
      const med = quantile(s, 0.5);
      return [
        c.name,
        med.toFixed(1),
        quantile(s, 0.9).toFixed(1),
        s[0]!.toFixed(1),
        (med / base).toFixed(2),
      ];
    }),
  ),
);
