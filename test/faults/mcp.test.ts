import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/spec/types.js';
import { gone, runOnce, watchRejections } from './harness.js';

const TOOL = { name: 't', description: 'a tool', inputSchema: { type: 'object' } };

/**
 * Misbehaving MCP servers, each a small script under servers/: every case ends in a result
 * or a typed error within its deadline, leaves no process behind, and its journal verifies.
 */

const servers = fileURLToPath(new URL('./servers/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mvm-faults-mcp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rejections = watchRejections();

const image: JsonObject = {
  mvm: 1,
  name: 'fault',
  tools: { fn: {} },
  permissions: ['tool:fn/*'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'fn' },
        { op: 'data.const', value: {}, dst: 'args' },
        { op: 'tool.call', tool: 'fn/t', args: 'args', dst: 'r' },
        { op: 'halt', src: 'r' },
      ],
    },
  },
};

let n = 0;

/** Runs the image against one server script; returns the outcome and the server's pid. */
async function against(script: string, env: Record<string, string> = {}, toolTimeoutMs = 1000) {
  const pidFile = join(dir, `pid-${++n}`);
  const { result, ms, mvm } = await runOnce(
    join(dir, 'store'),
    {
      mcpServers: {
        fn: {
          command: process.execPath,
          args: [join(servers, script)],
          env: { PID_FILE: pidFile, ...env },
        },
      },
      rules: [{ allow: 'tool:fn/*' }],
      toolTimeoutMs,
    },
    image,
  );
  mvm.close();
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : undefined;
  expect(pid).toBeGreaterThan(0);
  // close() has returned: the server must be gone already, not merely on its way.
  expect(gone(pid!)).toBe(true);
  expect(rejections.seen).toEqual([]);
  return { result, ms };
}

describe('a misbehaving mcp server', () => {
  it('that crashes after initialize: the load fails as server_exited', async () => {
    const { result, ms } = await against('crash-after-init.mjs');
    expect(result.status).toBe('failed');
    expect(result.error?.kind).toBe('provider');
    expect(result.error?.code).toBe('server_exited');
    expect(ms).toBeLessThan(10_000);
  });

  it('that exits as it answers initialize: server_exited at once, not at the deadline', async () => {
    const { result, ms } = await against('exit-on-initialize.mjs');
    expect(result.error).toMatchObject({ kind: 'provider', code: 'server_exited' });
    expect(ms).toBeLessThan(10_000);
  });

  it('that crashes mid-call: the call fails at once as server_exited', async () => {
    const { result, ms } = await against('crash-mid-call.mjs');
    expect(result.error?.code).toBe('server_exited');
    expect(result.error?.stderr).toContain('crashing mid-call');
    expect(ms).toBeLessThan(5_000);
  });

  it('that never answers: the call times out at its deadline, and the model is told', async () => {
    const { result, ms } = await against('never-answer.mjs', {}, 500);
    expect(result.status).toBe('done');
    expect(result.output).toMatchObject({ ok: false, timedOut: true });
    expect((result.output as JsonObject).content).toMatch(/may or may not have taken effect/);
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(ms).toBeLessThan(5_000);
  });

  it('that answers garbage on stdout: the call ends at its deadline, or with a typed error', async () => {
    const { result, ms } = await against('garbage.mjs', {}, 500);
    if (result.status === 'done') expect(result.output).toMatchObject({ timedOut: true });
    else expect(result.error?.code).toMatch(/^(bad_response|transport_error)$/);
    expect(ms).toBeLessThan(5_000);
  });

  it('that answers 5 MB: the result arrives whole', async () => {
    const { result } = await against('big.mjs', {}, 10_000);
    expect(result.status).toBe('done');
    expect(((result.output as JsonObject).content as string).length).toBe(5 * 1024 * 1024);
  });

  it('that starts slowly: the run waits for it and goes on', async () => {
    const { result } = await against('slow-start.mjs', { DELAY_MS: '1500' });
    expect(result.status).toBe('done');
    expect((result.output as JsonObject).content).toBe('ready at last');
  });

  it('that floods notifications: the answer still comes through', async () => {
    const { result, ms } = await against('flood.mjs', {}, 10_000);
    expect(result.status).toBe('done');
    expect((result.output as JsonObject).content).toBe('after the flood');
    expect(ms).toBeLessThan(15_000);
  });

  it('whose structured content breaks its output schema: the model is told, as an error', async () => {
    const schema = { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] };
    const list = JSON.stringify({ tools: [{ ...TOOL, outputSchema: schema }] });
    const answer = async (result: JsonObject) =>
      (await against('scripted.mjs', { MCP_LIST: list, MCP_REPLY: JSON.stringify({ result }) }))
        .result;

    const fits = await answer({ content: [], structuredContent: { n: 7 } });
    expect(fits.output).toMatchObject({ ok: true, structured: { n: 7 } });
    const misfit = await answer({ content: [], structuredContent: { n: 'seven' } });
    expect(misfit.status).toBe('done');
    expect(misfit.output).toMatchObject({ ok: false, isError: true });
    expect((misfit.output as JsonObject).content).toMatch(
      /does not match the tool's output schema/,
    );
    const none = await answer({ content: [{ type: 'text', text: 'seven' }] });
    expect(none.output).toMatchObject({ ok: false, isError: true });
    expect((none.output as JsonObject).content).toMatch(
      /has an output schema but did not return structured content/,
    );
  });

  it('that ignores stdin closing and SIGTERM: it and its grandchild are gone after close', async () => {
    const { result } = await against('stubborn.mjs');
    expect(result.status).toBe('done');
    const [pid, grandchild] = JSON.parse((result.output as JsonObject).content as string) as [
      number,
      number,
    ];
    expect(gone(pid)).toBe(true);
    expect(gone(grandchild)).toBe(true);
  });
});
