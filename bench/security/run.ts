/**
 * The security benchmark: every user task of every environment alone (benign utility, with
 * the oracle), then paired with every injection of its environment (utility under attack
 * and attack success, with the adversary), under each defence.
 *
 *   npm run bench:security -- [--env workspace,banking] [--defence none,labels]
 *                             [--concurrency 2] [--json results.json] [--no-bundle] [--verbose]
 *
 * See docs/security.md for what is measured and how to read the tables.
 */
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFENCES } from './defences.js';
import { ENVIRONMENTS } from './envs/index.js';
import { anomalies, byEnvironment, plannerLeaks, summary } from './report.js';
import { cases, disposeServers, jobs, prepareServers, runJobs } from './suite.js';

function pick<T extends { name: string }>(all: T[], list: string | undefined, what: string): T[] {
  if (list === undefined) return all;
  return list.split(',').map((name) => {
    const hit = all.find((x) => x.name === name);
    if (!hit)
      throw new Error(`--${what}: no ${what} '${name}' (${all.map((x) => x.name).join(', ')})`);
    return hit;
  });
}

const { values } = parseArgs({
  options: {
    env: { type: 'string' },
    defence: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    json: { type: 'string' },
    'no-bundle': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const envs = pick(ENVIRONMENTS, values.env, 'env');
const defences = pick(DEFENCES, values.defence, 'defence');
const concurrency = Number(values.concurrency);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  throw new Error(`--concurrency: expected a positive integer, found '${values.concurrency}'`);
}

const started = performance.now();
const servers = await prepareServers(envs, { bundle: !values['no-bundle'] });
const prepared = performance.now();
const all = cases(envs);
const list = jobs(defences, all);
process.stderr.write(
  `${envs.length} environments, ${all.benign.length} tasks, ${all.attacked.length} pairs; ` +
    `${list.length} runs, ${concurrency} at a time\n`,
);
let outcome: Awaited<ReturnType<typeof runJobs>>;
try {
  outcome = await runJobs(list, servers, {
    concurrency,
    onResult: (r, done) => {
      if (values.verbose) process.stderr.write(`${JSON.stringify(r)}\n`);
      else if (done === list.length || done % (process.stderr.isTTY ? 20 : 100) === 0) {
        // A counter that rewrites itself on a terminal; one line per hundred runs elsewhere.
        process.stderr.write(`${done}/${list.length}${process.stderr.isTTY ? '\r' : '\n'}`);
      }
    },
  });
} finally {
  disposeServers(servers);
}
const ended = performance.now();
const { results, dropped } = outcome;

const out: string[] = ['', summary(defences, results), ''];
for (const d of defences)
  out.push(
    byEnvironment(
      d,
      envs.map((e) => e.name),
      results,
    ),
    '',
  );
for (const [d, fields] of dropped) {
  out.push(
    `note: this build of mvm refused ${[...fields].join(', ')} in the '${d}' configuration; ` +
      'they were dropped, so that defence ran without flow checks.',
  );
}
const odd = anomalies(results);
if (odd.length > 0) out.push(`cases to look at (${odd.length}):`, ...odd.map((a) => `  ${a}`), '');
const runs = results.length;
const caseMs = results.reduce((n, r) => n + r.ms, 0) / Math.max(1, runs);
out.push(
  `time: ${((ended - started) / 1000).toFixed(1)} s in all (servers bundled in ` +
    `${((prepared - started) / 1000).toFixed(1)} s); ${runs} runs, ${caseMs.toFixed(0)} ms each ` +
    `on average, ${concurrency} at a time`,
  `machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ` +
    `${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
    `node ${process.version}`,
);
const leaks = plannerLeaks(results);
if (leaks.length > 0) {
  out.push(
    `BENCHMARK FAILURE: the planner was shown injected data in ${leaks.length} run(s); ` +
      'plan mode results do not stand.',
  );
  process.exitCode = 1;
}
process.stdout.write(`${out.join('\n')}\n`);
if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
