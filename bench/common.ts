/**
 * What the benchmarks share: the line that names the machine, quantiles and a Markdown table.
 */
import { appendFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';

/** The machine, as the benchmarks print it: cpu, cores, memory, platform, Node. */
export function machine(): string {
  const cpu = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  return (
    `machine: ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${cpu.length} cores, ${gib} GiB, ` +
    `${process.platform} ${process.arch}, node ${process.version}`
  );
}

const startLoad = loadavg()[0]!;

/** The load average over the last minute, at start and now: other work shows in it. */
export function load(): string {
  return `load average (1 min): ${startLoad.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`;
}

/** The q-quantile of sorted numbers, by the nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
}

export function median(xs: readonly number[]): number {
  return quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

/** A Markdown table; columns after the first `left` are right-aligned. */
export function table(head: string[], rows: (string | number)[][], left = 1): string {
  const align = head.map((_, i) => (i < left ? '---' : '---:'));
  return [head, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/**
 * Integer flags with defaults (`--name N`, each at least `min`), and string flags, optional.
 */
export function flags<K extends string, S extends string = never>(
  defaults: Record<K, number>,
  min = 1,
  strings: readonly S[] = [],
): Record<K, number> & Partial<Record<S, string>> {
  const spec: Record<string, { type: 'string'; default?: string }> = {};
  for (const [k, v] of Object.entries(defaults)) spec[k] = { type: 'string', default: String(v) };
  for (const k of strings) spec[k] = { type: 'string' };
  const { values } = parseArgs({ options: spec });
  const out: Record<string, number | string | undefined> = {};
  for (const k of Object.keys(defaults)) {
    const raw = values[k] as string;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new Error(`--${k}: expected an integer of at least ${min}, found '${raw}'`);
    }
    out[k] = n;
  }
  for (const k of strings) out[k] = values[k] as string | undefined;
  return out as Record<K, number> & Partial<Record<S, string>>;
}

/** A figure a benchmark reports to `npm run bench`, with the target it is held to, if any. */
export interface Figure {
  bench: string;
  measure: string;
  value: number;
  unit: string;
  /** Met when the value is at most (`<=`) or below (`<`) this. */
  target?: { op: '<=' | '<'; value: number };
}

/**
 * Hands the figures to `npm run bench` (bench/all.ts), which names a file in
 * MVM_BENCH_FIGURES; run alone, a benchmark only prints its tables.
 */
export function report(figures: Figure[]): void {
  const file = process.env.MVM_BENCH_FIGURES;
  if (!file) return;
  appendFileSync(file, figures.map((f) => `${JSON.stringify(f)}\n`).join(''));
}
