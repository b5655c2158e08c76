import { type EvalReport, type EvalRun, evaluate, type ModelSummary } from '../host/eval.js';
import { loadSuite } from '../host/suite.js';
import { MvmError } from '../spec/errors.js';
import type { Console } from './main.js';

export interface EvalFlags {
  models?: string;
  tasks?: string;
  repeat: string;
  failUnder?: string;
  json?: boolean;
  store?: string;
}

/**
 * `mvm eval SUITE`: each run's line as it ends, then the models side by side. Exit 0 when
 * every model meets `--fail-under` (or none is given), 1 when one does not or the evaluation
 * was interrupted; a suite that cannot be read or names what is not there is refused first.
 */
export async function evalCommand(
  path: string,
  flags: EvalFlags,
  con: Console,
  signal?: AbortSignal,
): Promise<number> {
  const threshold = flags.failUnder === undefined ? undefined : rate(flags.failUnder);
  const repeat = Number(flags.repeat);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new MvmError(
      'config',
      'bad_flag',
      `--repeat: expected a whole number of at least 1, found '${flags.repeat}'`,
    );
  }
  const models = flags.models
    ?.split(',')
    .map((m) => m.trim())
    .filter(Boolean);
  if (models?.length === 0) {
    throw new MvmError('config', 'bad_flag', '--models: expected names separated by commas');
  }
  const twice = models?.find((m, i) => models.indexOf(m) !== i);
  if (twice !== undefined) {
    throw new MvmError('config', 'bad_flag', `--models: '${twice}' is named twice`);
  }
  const tasks = flags.tasks
    ?.split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const suite = loadSuite(path);
  const report = await evaluate(suite, {
    ...(models ? { models } : {}),
    ...(tasks ? { tasks } : {}),
    repeat,
    ...(flags.store ? { storeDir: flags.store } : {}),
    ...(signal ? { signal } : {}),
    ...(flags.json ? {} : { onRun: (r: EvalRun) => con.out(runLine(r)) }),
  });
  const below =
    threshold === undefined ? [] : report.models.filter((m) => m.successRate < threshold);

  if (flags.json) {
    con.out(
      JSON.stringify({
        ...report,
        failUnder: threshold ?? null,
        ok: below.length === 0 && !report.interrupted,
      }),
    );
  } else {
    con.out('');
    for (const line of table(report)) con.out(line);
    if (report.interrupted) con.out(`interrupted after ${report.runs.length} runs`);
    for (const m of below) {
      con.out(
        `${m.model}: success ${percent(m.successRate)} is under --fail-under ${percent(threshold!)}`,
      );
    }
  }
  return below.length > 0 || report.interrupted ? 1 : 0;
}

/** A success rate as given: a fraction (0.8) or a percentage (80%). */
function rate(text: string): number {
  const percentage = text.endsWith('%');
  const n = Number(percentage ? text.slice(0, -1) : text);
  const r = percentage ? n / 100 : n;
  if (text.trim() === '' || !Number.isFinite(r) || r < 0 || r > 1) {
    throw new MvmError(
      'config',
      'bad_flag',
      `--fail-under: expected a rate from 0 to 1 (0.8) or a percentage (80%), found '${text}'`,
    );
  }
  return r;
}

function runLine(r: EvalRun): string {
  const verdict = r.passed ? 'pass' : 'FAIL';
  const run = r.runId ? `run ${r.runId}` : 'no run';
  const again = r.repeat > 1 ? ` #${r.repeat}` : '';
  const head = `${verdict}  ${r.model}  ${r.task}${again}  ${r.status}  ${run}`;
  return r.failures.length === 0
    ? head
    : `${head}\n${r.failures.map((f) => `      ${f}`).join('\n')}`;
}

const percent = (r: number) => `${(r * 100).toFixed(1)}%`;

function latency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The models side by side: one row each, columns aligned, figures right-aligned. */
function table(report: EvalReport): string[] {
  const head = [
    'model',
    'driver',
    'passed',
    'success',
    'median latency',
    'tokens in',
    'tokens out',
    'cost',
  ];
  const row = (m: ModelSummary) => [
    m.model,
    m.driver,
    `${m.passed}/${m.runs}`,
    percent(m.successRate),
    latency(m.medianLatencyMs),
    String(m.inputTokens),
    String(m.outputTokens),
    `$${m.cost.toFixed(4)}`,
  ];
  const rows = [head, ...report.models.map(row)];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
