import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../src/spec/types.js';
import { RunStore } from '../src/store/store.js';
import { mvmProcess as mvm, spawnMvm } from './cli.js';

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
