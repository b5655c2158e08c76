import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { digest } from '../src/audit/canonical.js';
import type { JournalEntry } from '../src/audit/chain.js';
import { type HostConfig, loadConfig } from '../src/host/config.js';
import { Mvm, type RunResult } from '../src/host/host.js';
import { imageFromObject, readImageFile } from '../src/host/image-file.js';
import type { ModelDriver, ModelRequest } from '../src/models/driver.js';
import { ReplayDriver } from '../src/models/replay.js';
import type { JsonObject } from '../src/spec/types.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const example = join(root, 'examples/notes');
const modules = join(root, 'node_modules');

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-notes-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** Live (not zombie) processes whose parent is this test process. */
function children(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid && state !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

const ofType = (entries: JournalEntry[], type: string) => entries.filter((e) => e.type === type);
const dataOf = (e: JournalEntry) => e.data as JsonObject;

describe('the notes example against the real MCP servers', () => {
  let mvm: Mvm;
  let result: RunResult;
  let entries: JournalEntry[];
  const requests: ModelRequest[] = [];
  /** The children alive while the model was being asked: the two MCP servers. */
  const during: number[][] = [];
  let before: number[];

  beforeAll(async () => {
    before = children();
    mvm = new Mvm({
      config: loadConfig(join(example, 'mvm.yaml')),
      storeDir: join(scratch, 'store'),
      // The same replay driver, watched: what each request held is what the model saw.
      drivers: {
        replay: (binding, config): ModelDriver => {
          const inner = ReplayDriver.fromBinding(binding, config.dir);
          return {
            describe: () => inner.describe(),
            call: (request) => {
              requests.push(structuredClone({ ...request, signal: undefined, onText: undefined }));
              during.push(children());
              return inner.call(request);
            },
          };
        },
      },
    });
    result = await mvm.run(readImageFile(join(example, 'image.yaml')));
    entries = mvm.store.entries(result.runId);
  });

  afterAll(() => {
    mvm.close();
  });

  it('ends done, with the answer as output', () => {
    expect(result.error).toBeNull();
    expect(result.status).toBe('done');
    expect(result.output).toEqual(expect.stringContaining('Renew the library card first'));
    expect(entries.at(-1)).toMatchObject({ type: 'run.end', data: { status: 'done' } });
  });

  it('journals the real contents of the notes that fs/read_text_file returned', () => {
    const reads = ofType(entries, 'tool.result').filter(
      (e) => dataOf(e).name === 'fs/read_text_file',
    );
    const byCall = Object.fromEntries(reads.map((e) => [dataOf(e).callId, dataOf(e)]));

    expect(reads).toHaveLength(2);
    for (const [callId, file] of [
      ['call_ideas', 'ideas.md'],
      ['call_todo', 'todo.md'],
    ] as const) {
      const text = readFileSync(join(example, 'data', file), 'utf8');
      expect(text.length).toBeGreaterThan(50);
      expect(byCall[callId]).toMatchObject({ ok: true, isError: false, content: text });
      expect(byCall[callId]!.blocks).toEqual([{ type: 'text', text }]);
    }
  });

  it('denies fs/write_file: a deny decision, a refused call, nothing written', () => {
    const decision = ofType(entries, 'decision').find(
      (e) => dataOf(e).resource === 'tool:fs/write_file',
    );
    const refused = ofType(entries, 'tool.refused');

    expect(decision).toBeDefined();
    expect(dataOf(decision!)).toMatchObject({
      verdict: 'deny',
      rule: expect.stringContaining('deny tool:fs/write_file'),
      reason: 'the notes folder is read-only for this agent',
    });
    expect(refused).toHaveLength(1);
    expect(refused[0]!.seq).toBe(decision!.seq + 1);
    expect(dataOf(refused[0]!)).toMatchObject({
      name: 'fs/write_file',
      callId: 'call_write',
      denied: true,
    });
    expect(ofType(entries, 'tool.intent').map((e) => dataOf(e).name)).not.toContain(
      'fs/write_file',
    );
    expect(existsSync(join(example, 'data', 'summary.md'))).toBe(false);
  });

  it('lets the model see the denial before its next call, and answer after it', () => {
    const refused = ofType(entries, 'tool.refused')[0]!;
    const intents = ofType(entries, 'model.intent');
    const next = intents.find((e) => e.seq > refused.seq)!;
    const n = dataOf(next).n as number;
    const seen = requests[n - 1]!;

    expect(next).toBeDefined();
    expect(n).toBe(4);
    // The journal's digest of that request is the digest of what the driver was given.
    const { messages, tools, schema } = seen;
    expect(dataOf(next).request).toBe(digest({ messages, tools, schema }));
    expect(seen.messages.at(-1)).toMatchObject({
      role: 'tool',
      callId: 'call_write',
      name: 'fs/write_file',
      isError: true,
      content: expect.stringContaining('denied by policy'),
    });
    const answer = ofType(entries, 'model.reply').at(-1)!;
    expect(answer.seq).toBeGreaterThan(next.seq);
    expect((dataOf(answer).reply as JsonObject).text).toBe(result.output);
  });

  it('stores the summary entity in the memory server’s file in the run folder', () => {
    const file = join(result.runDir, 'memory.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as JsonObject);
    const summary = records.find((r) => r.type === 'entity' && r.name === 'notes-summary');
    const intent = ofType(entries, 'tool.intent').find(
      (e) => dataOf(e).name === 'memory/create_entities',
    )!;
    const sent = (dataOf(intent).args as { entities: JsonObject[] }).entities[0]!;

    expect(result.runDir).toBe(join(scratch, 'store', 'runs', result.runId));
    expect(summary).toMatchObject({ entityType: 'summary', observations: sent.observations });
    expect((summary!.observations as string[]).join(' ')).toContain('library card');
  });

  it('checks the memory server’s graph file against the rules, as the run folder names it', () => {
    const touched = ofType(entries, 'tool.resources').find(
      (e) => dataOf(e).callId === 'call_remember',
    );
    const file = `fs:${realpathSync(result.runDir)}/memory.jsonl`;
    const decision = ofType(entries, 'decision').find((e) => dataOf(e).resource === file);

    expect(dataOf(touched!).resources).toEqual([file]);
    expect(dataOf(decision!)).toMatchObject({
      verdict: 'allow',
      rule: expect.stringContaining('memory.jsonl'),
    });
  });

  it('keeps a manifest whose counts match the journal', () => {
    const m = result.manifest;
    const replies = ofType(entries, 'model.reply').map(
      (e) => (dataOf(e).reply as JsonObject).usage as { inputTokens: number; outputTokens: number },
    );
    const recorded = (
      parseYaml(readFileSync(join(example, 'replies.yaml'), 'utf8')) as {
        replies: Array<{ usage: { inputTokens: number; outputTokens: number } }>;
      }
    ).replies;
    const sum = (xs: Array<{ inputTokens: number; outputTokens: number }>) => ({
      inputTokens: xs.reduce((s, u) => s + u.inputTokens, 0),
      outputTokens: xs.reduce((s, u) => s + u.outputTokens, 0),
    });
    const tokens = sum(replies);

    expect(replies).toHaveLength(5);
    expect(tokens).toEqual(sum(recorded.map((r) => r.usage)));
    expect(m.models).toEqual([
      expect.objectContaining({ slot: 'main', driver: 'replay', calls: 5, ...tokens }),
    ]);
    expect(m.tools.map(({ ms: _ms, ...t }) => t)).toEqual([
      { name: 'fs/list_directory', calls: 1, errors: 0, refused: 0, denied: 0 },
      { name: 'fs/read_text_file', calls: 2, errors: 0, refused: 0, denied: 0 },
      { name: 'fs/write_file', calls: 0, errors: 0, refused: 1, denied: 1 },
      { name: 'memory/create_entities', calls: 1, errors: 0, refused: 0, denied: 0 },
    ]);
    const calls = m.tools.reduce((s, t) => s + t.calls, 0);
    expect(calls).toBe(ofType(entries, 'tool.result').length);
    expect(m.tools.reduce((s, t) => s + t.denied, 0)).toBe(
      ofType(entries, 'tool.refused').filter((e) => dataOf(e).denied).length,
    );
    const decisions = ofType(entries, 'decision');
    expect(m.decisions.deny).toBe(1);
    expect(m.decisions.allow).toBe(decisions.length - 1);
    expect(m.budgets.used).toMatchObject({
      modelCalls: 5,
      toolCalls: calls,
      tokens: tokens.inputTokens + tokens.outputTokens,
    });
    expect(m.toolsets.map((t) => t.ns)).toEqual(['fs', 'memory']);
    expect(m.journal).toEqual({ entries: entries.length, head: entries.at(-1)!.hash });
    expect(result.journal).toEqual({ head: m.journal.head, count: entries.length });
    expect(m.status).toBe('done');
    expect(JSON.parse(readFileSync(result.manifestPath, 'utf8'))).toEqual(m);
    expect(mvm.store.getManifest(result.runId)).toEqual(m);
  });

  it('verifies its journal', () => {
    const { run, report } = mvm.auditRun(result.runId);

    expect(run.id).toBe(result.runId);
    expect(report).toEqual({
      ok: true,
      count: entries.length,
      head: result.journal.head,
      problems: [],
      signature: { state: 'unsigned' },
    });
  });

  it('leaves no child process behind', () => {
    expect(before).toEqual([]);
    expect(during).toHaveLength(5);
    for (const pids of during) expect(pids).toHaveLength(2);
    expect(children()).toEqual([]);
  });
});

describe('the notes example when a tool server fails', () => {
  /** The example's configuration with one namespace replaced. */
  function withServer(ns: string, spec: HostConfig['tools'][string]): HostConfig {
    const config = loadConfig(join(example, 'mvm.yaml'));
    return { ...config, tools: { ...config.tools, [ns]: spec } };
  }

  it('fails with a provider error naming fs when its server exits at once', async () => {
    const script = join(scratch, 'exit.mjs');
    writeFileSync(script, 'process.exit(3);\n');
    const mvm = new Mvm({
      config: withServer('fs', { command: process.execPath, args: [script] }),
      storeDir: join(scratch, 'store-exit'),
    });
    try {
      const result = await mvm.run(readImageFile(join(example, 'image.yaml')));

      expect(result.status).toBe('failed');
      expect(result.output).toBeNull();
      expect(result.error).toMatchObject({
        kind: 'provider',
        code: 'start_failed',
        namespace: 'fs',
      });
      expect(String(result.error!.message)).toMatch(/^fs: /);
      const entries = mvm.store.entries(result.runId);
      expect(entries.at(-1)).toMatchObject({
        type: 'run.end',
        data: { status: 'failed', error: { kind: 'provider' } },
      });
      expect(mvm.store.getRun(result.runId)!.status).toBe('failed');
      expect(mvm.auditRun(result.runId).report).toMatchObject({ ok: true, problems: [] });
      expect(children()).toEqual([]);
    } finally {
      mvm.close();
    }
  });
});

describe('a tool server that never answers tools/call', () => {
  let mvm: Mvm;
  let result: RunResult;
  let entries: JournalEntry[];
  let took: number;

  beforeAll(async () => {
    const sdk = (p: string) =>
      pathToFileURL(join(modules, '@modelcontextprotocol/sdk/dist/esm', p)).href;
    const script = join(scratch, 'hang.mjs');
    writeFileSync(
      script,
      [
        `import { McpServer } from '${sdk('server/mcp.js')}';`,
        `import { StdioServerTransport } from '${sdk('server/stdio.js')}';`,
        "const server = new McpServer({ name: 'hang', version: '1.0.0' });",
        "server.registerTool('hang', { description: 'never answers' }, () => new Promise(() => {}));",
        'await server.connect(new StdioServerTransport());',
        '',
      ].join('\n'),
    );
    const config = join(scratch, 'hang.yaml');
    writeFileSync(
      config,
      JSON.stringify({
        mcpServers: { slow: { command: process.execPath, args: [script] } },
        rules: [{ allow: 'tool:slow/hang' }],
        toolTimeoutMs: 500,
      }),
    );
    const image = imageFromObject({
      mvm: 1,
      name: 'hang',
      tools: { slow: {} },
      permissions: ['tool:slow/*'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'slow', dst: 'tools' },
            { op: 'data.const', value: {}, dst: 'args' },
            { op: 'tool.call', tool: 'slow/hang', args: 'args', dst: 'result' },
            { op: 'halt', src: 'result' },
          ],
        },
      },
    });
    mvm = new Mvm({ config: loadConfig(config), storeDir: join(scratch, 'store-hang') });
    const started = Date.now();
    result = await mvm.run(image);
    took = Date.now() - started;
    entries = mvm.store.entries(result.runId);
  });

  afterAll(() => {
    mvm.close();
  });

  it('answers the call as timed out within a few seconds, goes on, and leaves no child', () => {
    expect(result.status).toBe('done');
    expect(result.output).toMatchObject({ ok: false, isError: true, timedOut: true });
    expect((result.output as JsonObject).content).toMatch(/did not answer within 500 ms/);
    expect(took).toBeGreaterThanOrEqual(500);
    expect(took).toBeLessThan(15_000);
    expect(entries.map((e) => e.type)).toEqual([
      'run.start',
      'tool.load',
      'decision',
      'tool.intent',
      'tool.result',
      'run.end',
    ]);
    expect(dataOf(entries[4]!)).toMatchObject({ timedOut: true });
    expect(mvm.auditRun(result.runId).report).toMatchObject({ ok: true, problems: [] });
    expect(children()).toEqual([]);
  });

  it('counts the timed-out call in the manifest, as the journal and budget do', () => {
    const m = result.manifest;

    expect(m.budgets.used).toMatchObject({ toolCalls: 1 });
    expect(ofType(entries, 'tool.intent')).toHaveLength(1);
    expect(m.tools).toEqual([expect.objectContaining({ name: 'slow/hang', calls: 1, errors: 1 })]);
  });
});
