// The reference server that exercises nearly every feature of MCP, `server-everything` at the
// version package.json pins, through whole runs: its tool list, structured content under an
// output schema, progress that keeps a long call alive, cancellation, and roots. Resources,
// templates, prompts, sampling, elicitation and logging through runs are in
// src/interpreter/server-content.test.ts and src/host/server-hooks.test.ts.
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { Json, JsonObject } from '../src/spec/types.js';
import { McpProvider } from '../src/tools/mcp.js';
import type { McpEvent } from '../src/tools/mcp-hooks.js';

const pkg = fileURLToPath(
  new URL('../node_modules/@modelcontextprotocol/server-everything/', import.meta.url),
);
const everything = { command: process.execPath, args: [join(pkg, 'dist/index.js'), 'stdio'] };
const scratch = mkdtempSync(join(tmpdir(), 'mvm-everything-'));
const open: { close(): unknown }[] = [];

afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A machine with server-everything mounted as `ev`, every tool of it allowed. */
function host(extra: JsonObject = {}, server: JsonObject = {}) {
  const dir = mkdtempSync(join(scratch, 'run-'));
  const config = parseConfig(
    {
      mcpServers: { ev: { ...everything, ...server } },
      rules: [{ allow: 'tool:ev/*' }],
      ...extra,
    },
    { path: null, dir },
  );
  const mvm = new Mvm({ config, storeDir: join(dir, '.mvm') });
  open.push(mvm);
  return { mvm, dir };
}

/** An image that calls one tool of `ev` and halts with its result. */
function calling(tool: string, args: JsonObject) {
  return imageFromObject({
    mvm: 1,
    name: 'everything',
    tools: { ev: {} },
    permissions: ['tool:ev/*'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'ev' },
          { op: 'data.const', value: args, dst: 'args' },
          { op: 'tool.call', tool: `ev/${tool}`, args: 'args', dst: 'r' },
          { op: 'halt', src: 'r' },
        ],
      },
    },
  });
}

describe('a run of many calls under a signal', () => {
  it('leaves no listener per call on the signal it was given', async () => {
    const { mvm } = host();
    const image = imageFromObject({
      mvm: 1,
      name: 'many-calls',
      tools: { ev: {} },
      permissions: ['tool:ev/*'],
      procedures: {
        main: {
          body: [
            { op: 'data.const', value: { message: 'hi' }, dst: 'args' },
            { op: 'data.const', value: null, dst: 'r' },
            { op: 'tool.load', ns: 'ev' },
            {
              op: 'loop',
              max: 40,
              onLimit: 'stop',
              body: [{ op: 'tool.call', tool: 'ev/echo', args: 'args', dst: 'r' }],
            },
            { op: 'halt', src: 'r' },
          ],
        },
      },
    });
    const stop = new AbortController();
    const r = await mvm.run(image, { signal: stop.signal });

    expect(r.status).toBe('done');
    expect(mvm.store.entries(r.runId).filter((e) => e.type === 'tool.result')).toHaveLength(40);
    // The MCP client adds a listener to a request's signal and never takes it off.
    expect(getEventListeners(stop.signal, 'abort').length).toBeLessThan(3);
  });
});

describe('server-everything at the pinned version', () => {
  it('offers these tools to a host that declares sampling, elicitation and roots', async () => {
    // A new release renames and adds tools: this list is to be read again at each bump.
    const version = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version;
    expect(version).toBe('2026.8.31');
    const p = new McpProvider('ev', everything, {
      hooks: {
        sample: async () => ({
          role: 'assistant',
          content: { type: 'text', text: '' },
          model: 'm',
        }),
        elicit: async () => ({ action: 'decline' }),
        roots: [],
      },
    });
    open.push(p);
    await p.connect();
    const tools = await p.list();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'echo',
      'get-annotated-message',
      'get-env',
      'get-resource-links',
      'get-resource-reference',
      'get-roots-list',
      'get-structured-content',
      'get-sum',
      'get-tiny-image',
      'gzip-file-as-resource',
      'simulate-research-query',
      'toggle-simulated-logging',
      'toggle-subscriber-updates',
      'trigger-elicitation-request',
      'trigger-long-running-operation',
      'trigger-sampling-request',
    ]);
    expect(tools.filter((t) => t.outputSchema).map((t) => t.name)).toEqual([
      'get-structured-content',
    ]);
  });
});

describe('server-everything through a run', () => {
  it('gives structured content under the output schema it pinned', async () => {
    const { mvm } = host();
    const result = await mvm.run(calling('get-structured-content', { location: 'Chicago' }));
    expect(result.status).toBe('done');
    const out = result.output as JsonObject;
    expect(out.structured).toEqual({
      temperature: 36,
      conditions: 'Light rain / drizzle',
      humidity: 82,
    });

    const entries = mvm.store.entries(result.runId);
    const load = entries.find((e) => e.type === 'tool.load')!.data as JsonObject;
    const pinned = (load.tools as JsonObject[]).find((t) => t.name === 'get-structured-content')!;
    const definition = pinned.definition as JsonObject;
    expect(definition.outputSchema).toMatchObject({
      type: 'object',
      required: ['temperature', 'conditions', 'humidity'],
    });
    const recorded = entries.find((e) => e.type === 'tool.result')!.data as JsonObject;
    expect(recorded.structured).toEqual(out.structured);
  });

  it('keeps a long call alive while it reports progress, and not once it stops', async () => {
    // Six steps of 200 ms against a deadline of 800 ms: each report restarts it.
    const { mvm } = host({ toolTimeoutMs: 800 });
    const events: McpEvent[] = [];
    const args = { duration: 1.2, steps: 6 };
    const result = await mvm.run(calling('trigger-long-running-operation', args), {
      serverEvents: (e) => events.push(e),
    });
    expect(result.status).toBe('done');
    expect((result.output as JsonObject).content).toContain('Long running operation completed');
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(5);
    expect(progress[0]).toMatchObject({
      namespace: 'ev',
      tool: 'trigger-long-running-operation',
      progress: 1,
      total: 6,
    });

    // One step of 1.2 s reports nothing before the deadline: the model is told it timed out.
    const silent = await mvm.run(
      calling('trigger-long-running-operation', { duration: 1.2, steps: 1 }),
    );
    expect(silent.status).toBe('done');
    expect(silent.output).toMatchObject({ ok: false, isError: true });
    expect(String((silent.output as JsonObject).content)).toContain('800 ms');
  });

  it('cancels a call when the run is stopped, and leaves its outcome unknown', async () => {
    const { mvm } = host();
    const stop = new AbortController();
    const started = Date.now();
    const result = await mvm.run(
      calling('trigger-long-running-operation', { duration: 10, steps: 20 }),
      {
        signal: stop.signal,
        // Stopped once the server is seen to be at work.
        serverEvents: (e) => {
          if (e.type === 'progress') stop.abort();
        },
      },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.status).toBe('interrupted');
    expect(result.error).toBeNull();
    // The server may have done part of it: no result and no error is recorded, so a resume
    // asks a person before it calls again.
    const types = mvm.store.entries(result.runId).map((e) => e.type);
    expect(types).toContain('tool.intent');
    expect(types).not.toContain('tool.result');
    expect(types).not.toContain('tool.error');
    expect(types.at(-1)).toBe('run.interrupt');
    expect(mvm.auditRun(result.runId).report.ok).toBe(true);
  });

  it('is told the roots its namespace names, resolved against the configuration, if granted', async () => {
    const roots = { roots: ['data', '/srv/shared'] };
    // Roots follow the grants: a folder no rule lets the run touch is not told to a server.
    const ungranted = host({}, roots);
    await expect(ungranted.mvm.run(calling('get-roots-list', {}))).rejects.toMatchObject({
      code: 'root_not_granted',
    });

    const rules = [{ allow: 'tool:ev/*' }, { allow: 'fs:**/data/**' }, { allow: 'fs:/srv/**' }];
    const { mvm, dir } = host({ rules }, roots);
    const result = await mvm.run(calling('get-roots-list', {}));
    expect(result.status).toBe('done');
    const text = String((result.output as Json as JsonObject).content);
    expect(text).toContain(pathToFileURL(join(dir, 'data')).href);
    expect(text).toContain('file:///srv/shared');

    // A namespace that names none declares no roots, and is not offered the tool.
    const bare = host();
    const without = await bare.mvm.run(calling('get-roots-list', {}));
    expect(String((without.output as JsonObject).content)).toContain(
      "unknown tool 'ev/get-roots-list'",
    );
  });
});
