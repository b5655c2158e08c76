import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelDriver, ModelRequest } from '../models/driver.js';
import type { HostFunction } from '../tools/host-functions.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';

/**
 * A run stopped by the signal it was given (an interrupt) ends resumable: nothing it was
 * making is recorded as failed, and a resume goes on from its journal.
 */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

/** A model that answers only when `answering` is set, and otherwise waits for its signal. */
function model(state: { answering: boolean; calls: number; started?: () => void }): ModelDriver {
  return {
    describe: () => ({
      driver: 'slow',
      provider: 'test',
      model: 'slow',
      capabilities: { tools: true, parallelToolCalls: false, jsonSchema: true, streaming: false },
    }),
    call: (request: ModelRequest) => {
      state.calls++;
      if (state.answering) {
        const reply = { text: 'done', toolCalls: [], stop: 'end' as const };
        return Promise.resolve({ ...reply, usage: { inputTokens: 1, outputTokens: 1 } });
      }
      state.started?.();
      return new Promise((_, reject) => {
        request.signal?.addEventListener('abort', () => reject(new Error('aborted')));
      });
    },
  };
}

const image = imageFromObject({
  mvm: 1,
  name: 'slow',
  models: { main: {} },
  permissions: ['model:main'],
  procedures: {
    main: {
      body: [
        { op: 'history.new', system: 'be brief', dst: 'h' },
        { op: 'model.call', slot: 'main', history: 'h', dst: 'reply' },
        { op: 'parse.text', src: 'reply', dst: 'text' },
        { op: 'halt', src: 'text' },
      ],
    },
  },
});

describe('an interrupted run', () => {
  it('stops during a model call, resumable, and asks the model again when resumed', async () => {
    const state = { answering: false, calls: 0 } as Parameters<typeof model>[0];
    const config = parseConfig(
      { models: { main: { driver: 'slow' } }, rules: [{ allow: 'model:main' }] },
      { path: null, dir: process.cwd() },
    );
    const mvm = new Mvm({
      config,
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-interrupt-')),
      drivers: { slow: () => model(state) },
    });
    open.push(mvm);

    const stop = new AbortController();
    state.started = () => setTimeout(() => stop.abort(), 10);
    const stopped = await mvm.run(image, { signal: stop.signal });
    expect(stopped.status).toBe('interrupted');
    expect(stopped.error).toBeNull();
    expect(stopped.manifest.status).toBe('interrupted');
    const types = mvm.store.entries(stopped.runId).map((e) => e.type);
    expect(types).not.toContain('model.error');
    expect(types).not.toContain('run.end');
    expect(types.at(-1)).toBe('run.interrupt');
    expect(mvm.store.getRun(stopped.runId)?.status).toBe('interrupted');

    state.answering = true;
    const resumed = await mvm.resume(stopped.runId, []);
    expect(resumed.status).toBe('done');
    expect(resumed.output).toBe('done');
    expect(state.calls).toBe(2);
    expect(mvm.auditRun(stopped.runId).report.ok).toBe(true);
    expect((await mvm.replay(stopped.runId)).ok).toBe(true);
  });

  it('stops between instructions when the signal has fired', async () => {
    const config = parseConfig({}, { path: null, dir: process.cwd() });
    const mvm = new Mvm({ config, storeDir: mkdtempSync(join(tmpdir(), 'mvm-interrupt-')) });
    open.push(mvm);
    const stop = new AbortController();
    stop.abort();
    const counting = imageFromObject({
      mvm: 1,
      name: 'count',
      procedures: {
        main: {
          body: [
            { op: 'data.const', value: 1, dst: 'n' },
            { op: 'halt', src: 'n' },
          ],
        },
      },
    });
    const stopped = await mvm.run(counting, { signal: stop.signal });
    expect(stopped.status).toBe('interrupted');
    const resumed = await mvm.resume(stopped.runId, []);
    expect(resumed).toMatchObject({ status: 'done', output: 1 });
  });

  it('stops during a host function that waits on its signal, which fires for it', async () => {
    let seen: AbortSignal | undefined;
    const stop = new AbortController();
    const wait: HostFunction = {
      description: 'waits until stopped',
      inputSchema: { type: 'object' },
      run: (_args, { signal }) => {
        seen = signal;
        setTimeout(() => stop.abort(), 10);
        return new Promise((_, reject) => {
          signal?.addEventListener('abort', () => reject(new Error('stopped')));
        });
      },
    };
    const config = parseConfig(
      { rules: [{ allow: 'tool:slow/*' }] },
      { path: null, dir: process.cwd() },
    );
    const mvm = new Mvm({
      config,
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-interrupt-')),
      functions: { slow: { wait } },
    });
    open.push(mvm);
    const calling = imageFromObject({
      mvm: 1,
      name: 'wait',
      tools: { slow: {} },
      permissions: ['tool:slow/*'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'slow' },
            { op: 'data.const', value: {}, dst: 'args' },
            { op: 'tool.call', tool: 'slow/wait', args: 'args', dst: 'r' },
            { op: 'halt', src: 'r' },
          ],
        },
      },
    });

    const stopped = await mvm.run(calling, { signal: stop.signal });
    expect(stopped.status).toBe('interrupted');
    expect(seen?.aborted).toBe(true);
    const types = mvm.store.entries(stopped.runId).map((e) => e.type);
    expect(types).toContain('tool.intent');
    expect(types).not.toContain('tool.result');
    expect(types).not.toContain('tool.error');
  });

  it('stops during a resource read, with no outcome recorded for it', async () => {
    const server = join(import.meta.dirname, '..', '..', 'test', 'servers', 'slow-resource.mjs');
    const config = parseConfig(
      {
        mcpServers: { docs: { command: process.execPath, args: [server] } },
        rules: [{ allow: 'resource:docs/**' }],
      },
      { path: null, dir: process.cwd() },
    );
    const mvm = new Mvm({ config, storeDir: mkdtempSync(join(tmpdir(), 'mvm-interrupt-')) });
    open.push(mvm);
    const reading = imageFromObject({
      mvm: 1,
      name: 'reader',
      tools: { docs: {} },
      permissions: ['resource:docs/**'],
      procedures: {
        main: {
          body: [
            { op: 'resource.read', ns: 'docs', uri: 'slow://doc', dst: 'doc' },
            { op: 'halt', src: 'doc' },
          ],
        },
      },
    });
    const stop = new AbortController();
    const stopped = await mvm.run(reading, {
      signal: stop.signal,
      events: (e) => {
        if (e.type === 'step' && e.op === 'resource.read') setTimeout(() => stop.abort(), 200);
      },
    });
    expect(stopped.status).toBe('interrupted');
    const types = mvm.store.entries(stopped.runId).map((e) => e.type);
    expect(types).toContain('resource.intent');
    expect(types).not.toContain('resource.error');
    expect(types.at(-1)).toBe('run.interrupt');
  });
});
