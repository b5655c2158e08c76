/**
 * The journal's own cost: entries appended per second, and verifying a run's journal.
 *
 *   npm run bench:journal -- --entries 6000 --full 300 --repeats 5 --verify 10000
 *
 * Appending: each repeat makes a fresh run in a run store (SQLite, in a temporary folder) and
 * appends entries shaped like a tool result (about 300 bytes of data). With the default
 * durability (`normal`) the journal chains entries in memory and commits them when flushed;
 * the machine flushes before every effect, so how often it commits depends on the program.
 * The rows show one commit per entry (the worst case), one per three entries (a tool call's
 * outcome, decision and intent) and one per hundred. With `full` every append is committed
 * and synced to disk at once. The time includes the last commit.
 *
 * Verifying: `Mvm.auditRun`, which `mvm audit verify` calls: it reads the run's entries from
 * the store, recomputes every hash and link, and checks the anchor and the manifest. The
 * chain check alone (`verifyChain` on entries already read) is timed too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Json, Mvm, parseConfig, verifyChain } from '../src/index.js';
import { flags, load, machine, median, report, table } from './common.js';

const o = flags({ entries: 6000, full: 300, repeats: 5, verify: 10_000 });

const dir = mkdtempSync(join(tmpdir(), 'mvm-bench-journal-'));

function open(durability: 'normal' | 'full'): Mvm {
  const config = parseConfig({ store: { durability } }, { path: null, dir });
  return new Mvm({ config, storeDir: join(dir, durability) });
}

/** The data of the i-th entry: a tool result with its label, about 300 bytes as JSON. */
function data(i: number): Json {
  return {
    tool: 'fs/read_text_file',
    call: `call_${i}`,
    ok: true,
    content: `line ${i}: ${'the quick brown fox jumps over the lazy dog. '.repeat(4)}`,
    label: { readers: 'public', integrity: 'untrusted', sources: ['tool:fs/read_text_file'] },
    ms: 0.42,
  };
}

/** Seconds to append `n` entries to a fresh run, committing every `every` entries. */
function appendRun(mvm: Mvm, n: number, every: number): number {
  const run = mvm.store.createRun({ imageName: 'bench', imageDigest: 'x', configPath: null });
  const journal = mvm.store.journal(run.id);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    journal.append('tool.result', data(i), 'main/3');
    if ((i + 1) % every === 0) journal.flush();
  }
  journal.flush();
  const s = (performance.now() - t0) / 1000;
  if (journal.count !== n) throw new Error(`expected ${n} entries, found ${journal.count}`);
  return s;
}

function appendRow(mvm: Mvm, label: string, n: number, every: number): (string | number)[] {
  appendRun(mvm, Math.min(n, 200), every); // warm-up
  const secs = Array.from({ length: o.repeats }, () => appendRun(mvm, n, every));
  const s = median(secs);
  report([{ bench: 'journal', measure: `append, ${label}`, value: (s / n) * 1e6, unit: 'µs' }]);
  return [label, n, (n / s).toFixed(0), ((s / n) * 1e6).toFixed(1)];
}

/** Medians over the repeats of the full audit and of the chain check, in ms per 1000. */
function verifyRow(mvm: Mvm, n: number): (string | number)[] {
  const run = mvm.store.createRun({ imageName: 'bench', imageDigest: 'x', configPath: null });
  const journal = mvm.store.journal(run.id);
  for (let i = 0; i < n; i++) journal.append('tool.result', data(i), 'main/3');
  journal.flush();

  const audit: number[] = [];
  const chain: number[] = [];
  for (let r = 0; r <= o.repeats; r++) {
    const t0 = performance.now();
    const { report } = mvm.auditRun(run.id);
    const t1 = performance.now();
    const entries = mvm.store.entries(run.id);
    const t2 = performance.now();
    const alone = verifyChain(entries, { head: journal.head, count: n });
    const t3 = performance.now();
    if (!report.ok || !alone.ok || report.count !== n) throw new Error('the journal must verify');
    if (r === 0) continue; // warm-up
    audit.push(t1 - t0);
    chain.push(t3 - t2);
  }
  const per = (ms: number) => ((ms / n) * 1000).toFixed(2);
  const measure = `audit verify, per 1000 of ${n} entries`;
  report([{ bench: 'journal', measure, value: (median(audit) / n) * 1000, unit: 'ms' }]);
  return [n, per(median(audit)), per(median(chain)), median(audit).toFixed(1)];
}

const normal = open('normal');
const full = open('full');
try {
  const appends = [
    appendRow(normal, 'normal, a commit per entry', o.entries, 1),
    appendRow(normal, 'normal, a commit per 3 entries', o.entries, 3),
    appendRow(normal, 'normal, a commit per 100 entries', o.entries, 100),
    appendRow(full, 'full (each append committed and synced)', o.full, 1),
  ];
  const sizes = [...new Set([1000, o.verify])].sort((a, b) => a - b);
  const verifies = sizes.map((n) => verifyRow(normal, n));

  console.log('# journal: appending entries, and verifying a journal');
  console.log(machine());
  console.log(load());
  console.log(`date: ${new Date().toISOString()}`);
  console.log(`medians over ${o.repeats} repeats, each on a fresh run, after a warm-up`);
  console.log('');
  console.log(table(['durability, commits', 'entries', 'entries/s', 'µs per entry'], appends));
  console.log('');
  console.log(
    table(
      ['journal entries', 'audit verify, ms per 1000', 'chain alone, ms per 1000', 'audit ms'],
      verifies,
    ),
  );
} finally {
  normal.close();
  full.close();
  rmSync(dir, { recursive: true, force: true });
}
