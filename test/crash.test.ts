import type { ChildProcess } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../src/audit/chain.js';
import type { JsonObject } from '../src/spec/types.js';
import { LOG_FILE, readLog } from '../src/store/log.js';
import { RunStore } from '../src/store/store.js';
import { mvmProcess as mvm, root, spawnMvm } from './cli.js';

const SEEDS = Number(process.env.MVM_CRASH_SEEDS ?? 4);

/** mvm's own placeholder for a name: a dollar sign, then the name in braces. */
const ph = (name: string) => ['$', `{${name}}`].join('');

/** An agent that writes three files, one per turn, then answers. */
function agent(dir: string) {
  mkdirSync(join(dir, 'data'));
  const write = (id: string, name: string) => ({
    toolCalls: [
      {
        id,
        name: 'fs/write_file',
        arguments: JSON.stringify({ path: name, content: `${name} body` }),
      },
    ],
  });
  writeFileSync(
    join(dir, 'image.yaml'),
    `mvm: 1
name: writer
models: { main: {} }
tools: { fs: {} }
permissions: [model:main, 'tool:fs/*']
procedures:
  main:
    body:
      - { op: tool.load, ns: fs, dst: tools }
      - { op: history.new, system: write three files, dst: h }
      - op: call
        proc: std.chat
        static: { slot: main, max_turns: 6 }
        args: { history: h, tools: tools }
        dst: answer
      - { op: halt, src: answer }
`,
  );
  writeFileSync(
    join(dir, 'mvm.yaml'),
    JSON.stringify({
      models: {
        main: {
          driver: 'replay',
          replies: [
            write('w1', 'a.md'),
            write('w2', 'b.md'),
            write('w3', 'c.md'),
            { text: 'three files written' },
          ],
        },
      },
      mcpServers: {
        fs: {
          command: 'node',
          args: [
            `${ph('package:@modelcontextprotocol/server-filesystem')}/dist/index.js`,
            `${ph('configDir')}/data`,
          ],
          // The agent's own folder: what the server says back may steer the next write.
          label: { integrity: 'trusted' },
        },
      },
      rules: [
        { allow: 'model:main' },
        { allow: 'tool:fs/*' },
        { allow: `fs:${ph('configDir')}/data/**` },
      ],
    }),
  );
}

/** Runs to the end, resuming after a kill; approves a repeat only where the journal asks. */
async function finish(store: string, runId: string) {
  for (let i = 0; i < 10; i++) {
    const r = await mvm('resume', runId, '--store', store, '--json');
    if (r.code === 0) return JSON.parse(r.stdout) as JsonObject;
    if (r.code !== 3) throw new Error(`resume exited ${r.code}: ${r.stdout}`);
    const waiting = JSON.parse(r.stdout) as { pending: Array<{ id: string; request: string }> };
    expect(waiting.pending[0]!.request).toBe('unknown_outcome');
    const a = await mvm(
      'resume',
      runId,
      '--approve',
      waiting.pending[0]!.id,
      '--store',
      store,
      '--json',
    );
    if (a.code === 0) return JSON.parse(a.stdout) as JsonObject;
  }
  throw new Error('the run did not finish');
}

describe('a run killed at a random point and resumed', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}: finishes with the same output, a whole journal, and no effect twice`, async () => {
      const dir = mkdtempSync(join(tmpdir(), `mvm-crash-${seed}-`));
      agent(dir);
      const store = join(dir, 'store');
      // A fixed delay per seed, spread over the run: from start-up to the last write.
      const delay = 1200 + ((seed * 7919) % 2400);
      const child = spawnMvm('run', dir, '--store', store);
      const timer = setTimeout(() => child.kill('SIGKILL'), delay);
      await new Promise((resolve) => child.on('exit', resolve));
      clearTimeout(timer);

      const runs = existsSync(join(store, 'mvm.db')) ? RunStore.open(store) : undefined;
      const run = runs?.listRuns()[0];
      runs?.close();
      let output: unknown;
      let runId: string;
      if (!run || run.count === 0) {
        // Killed before the run began: a fresh run is the whole story.
        const r = JSON.parse(
          (await mvm('run', dir, '--store', store, '--json')).stdout,
        ) as JsonObject;
        output = r.output;
        runId = r.runId as string;
      } else {
        runId = run.id;
        output = run.status === 'done' ? run.output : (await finish(store, run.id)).output;
      }
      expect(output).toBe('three files written');
      for (const f of ['a.md', 'b.md', 'c.md']) {
        expect(readFileSync(join(dir, 'data', f), 'utf8')).toBe(`${f} body`);
      }
      expect((await mvm('audit', 'verify', runId, '--store', store)).code).toBe(0);

      const s = RunStore.open(store);
      const entries = s.entries(runId);
      s.close();
      // A call has one result; an attempt beyond the first follows an unknown outcome that a
      // person approved repeating.
      for (const id of ['w1', 'w2', 'w3']) {
        const of = (type: string) =>
          entries.filter((e) => e.type === type && (e.data as JsonObject).callId === id);
        expect(of('tool.result')).toHaveLength(1);
        expect(of('tool.intent').length).toBe(1 + of('tool.unknown').length);
      }
    }, 120_000);
  }
});

/** The bundled example, copied so that its runs and memory stay in a folder of the test's. */
function notesCopy(seed: number | string): string {
  const dir = mkdtempSync(join(tmpdir(), `mvm-crash-notes-${seed}-`));
  cpSync(join(root, 'examples/notes'), dir, {
    recursive: true,
    filter: (src) => !src.includes(`${join('examples', 'notes')}/.mvm`),
  });
  return dir;
}

/**
 * Kills the child with SIGKILL once the store's journal holds `count` entries (a commit lands
 * just before each effect starts, so this is often in the middle of one), `extraMs` later.
 * With a count of 0 it kills `extraMs` after the start, before the run may even exist.
 */
function killAt(child: ChildProcess, store: string, count: number, extraMs: number) {
  let reader: Database.Database | undefined;
  const kill = () => setTimeout(() => child.kill('SIGKILL'), extraMs);
  let poll: NodeJS.Timeout | undefined;
  if (count === 0) kill();
  else {
    poll = setInterval(() => {
      try {
        reader ??= new Database(join(store, 'mvm.db'), { readonly: true, fileMustExist: true });
        // What the database holds, and the commits since in the run's log.
        const runs = reader.prepare('SELECT id, count FROM runs').all() as Run[];
        const n = Math.max(0, ...runs.map((r) => committed(store, r)));
        if (n >= count) {
          clearInterval(poll);
          kill();
        }
      } catch {
        // Not there yet, or busy: the next tick looks again.
      }
    }, 5);
  }
  return new Promise<void>((resolve) =>
    child.on('exit', () => {
      clearInterval(poll);
      reader?.close();
      resolve();
    }),
  );
}

type Run = { id: string; count: number };

function committed(store: string, run: Run): number {
  const tail = readLog(join(store, 'runs', run.id, LOG_FILE), run.count);
  return tail?.rows.at(-1)?.entry.seq ?? run.count;
}

function journalOf(store: string, runId: string): JournalEntry[] {
  const s = RunStore.open(store);
  const entries = s.entries(runId);
  s.close();
  return entries;
}

const callIdOf = (e: JournalEntry) => (e.data as JsonObject).callId as string;

describe('the bundled example killed at a random point and resumed', () => {
  let expected: { output: string; entries: number; calls: string[]; refused: string[] };

  beforeAll(async () => {
    const dir = notesCopy('reference');
    const store = join(dir, 'store');
    const r = await mvm('run', dir, '--store', store, '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { output: string; runId: string };
    const entries = journalOf(store, out.runId);
    expected = {
      output: out.output,
      entries: entries.length,
      calls: entries.filter((e) => e.type === 'tool.intent').map(callIdOf),
      refused: entries.filter((e) => e.type === 'tool.refused').map(callIdOf),
    };
    // The example reads the folder and both notes, is refused the write, keeps a summary.
    expect(expected.calls).toHaveLength(4);
    expect(expected.refused).toHaveLength(1);
  }, 120_000);

  for (let seed = 1; seed <= SEEDS; seed++) {
    it(`seed ${seed}: the same answer, a journal that verifies and replays, no effect twice`, async () => {
      const dir = notesCopy(seed);
      const store = join(dir, 'store');
      // Spread over the run: from before it starts (0) to its last entries, at a few offsets.
      const count = seed % 8 === 0 ? 0 : (seed * 11) % (expected.entries + 1);
      const extraMs = count === 0 ? 200 + ((seed * 389) % 1500) : [0, 2, 8, 25][seed % 4]!;
      const child = spawnMvm('run', dir, '--store', store);
      await killAt(child, store, count, extraMs);

      const runs = existsSync(join(store, 'mvm.db')) ? RunStore.open(store) : undefined;
      const run = runs?.listRuns()[0];
      runs?.close();
      let output: unknown;
      let runId: string;
      if (!run) {
        // Killed before the run was committed: nothing of it exists, and it runs afresh.
        const r = JSON.parse(
          (await mvm('run', dir, '--store', store, '--json')).stdout,
        ) as JsonObject;
        output = r.output;
        runId = r.runId as string;
      } else {
        // A run and its first entry are committed together: no run exists without it.
        expect(run.count).toBeGreaterThan(0);
        runId = run.id;
        output = run.status === 'done' ? run.output : (await finish(store, run.id)).output;
      }

      expect(output).toBe(expected.output);
      expect((await mvm('audit', 'verify', runId, '--store', store)).code).toBe(0);
      const replay = await mvm('replay', runId, '--store', store);
      expect(replay.code, replay.stdout + replay.stderr).toBe(0);

      const entries = journalOf(store, runId);
      const of = (type: string, id: string) =>
        entries.filter((e) => e.type === type && callIdOf(e) === id);
      for (const id of expected.calls) {
        // Done once; an attempt beyond the first follows an unknown outcome a person approved.
        expect(of('tool.result', id)).toHaveLength(1);
        const unknown = of('tool.unknown', id);
        expect(of('tool.intent', id)).toHaveLength(1 + unknown.length);
        for (const u of unknown) {
          const request = entries.find(
            (e) => e.seq > u.seq && e.type === 'confirm.request' && callIdOf(e) === id,
          );
          expect(request?.data).toMatchObject({ kind: 'unknown_outcome' });
          const answer = entries.find(
            (e) =>
              e.type === 'confirm.answer' &&
              (e.data as JsonObject).id === (request!.data as JsonObject).id,
          );
          expect(answer?.data).toMatchObject({ verdict: 'approve' });
        }
      }
      for (const id of expected.refused) expect(of('tool.refused', id)).toHaveLength(1);

      // The world: the notes untouched, no summary written beside them, one in memory.
      expect(readdirSync(join(dir, 'data')).sort()).toEqual(['ideas.md', 'todo.md']);
      const memory = readFileSync(join(store, 'runs', runId, 'memory.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as { type: string; name: string; observations?: string[] });
      const summaries = memory.filter((m) => m.type === 'entity' && m.name === 'notes-summary');
      expect(summaries).toHaveLength(1);
      expect(summaries[0]!.observations).toHaveLength(2);
    }, 180_000);
  }
});
