import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../spec/errors.js';
import { McpProvider } from './mcp.js';
import type { McpClientHooks, McpEvent } from './mcp-hooks.js';

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const everything = {
  command: process.execPath,
  args: [join(modules, '@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
};

const SLOW = { timeout: 30_000 };
const providers: McpProvider[] = [];

async function connected(hooks: McpClientHooks = {}): Promise<McpProvider> {
  const p = new McpProvider('ev', everything, { hooks });
  providers.push(p);
  await p.connect();
  return p;
}

afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
});

describe('McpProvider hooks, against server-everything', () => {
  it('declares only the capabilities it has hooks for', SLOW, async () => {
    const bare = await connected();
    const tools = (await bare.list()).map((t) => t.name);
    // The server offers these only to a client that declared the capability.
    expect(tools).not.toContain('trigger-sampling-request');
    expect(tools).not.toContain('trigger-elicitation-request');
    expect(tools).not.toContain('get-roots-list');

    const full = await connected({
      sample: async () => ({ role: 'assistant', content: { type: 'text', text: '' }, model: 'm' }),
      elicit: async () => ({ action: 'decline' }),
      roots: [],
    });
    const offered = (await full.list()).map((t) => t.name);
    expect(offered).toEqual(
      expect.arrayContaining([
        'trigger-sampling-request',
        'trigger-elicitation-request',
        'get-roots-list',
      ]),
    );
  });

  it('passes sampling requests to the hook, and its refusal back to the server', SLOW, async () => {
    const asked: string[] = [];
    let refuse = false;
    const p = await connected({
      sample: async (params, ns) => {
        const first = params.messages[0]?.content;
        asked.push(`${ns}: ${first && 'text' in first ? first.text : '?'}`);
        if (refuse) throw new McpError(-1, 'sampling denied: no rule allows it');
        return { role: 'assistant', content: { type: 'text', text: 'sampled!' }, model: 'm1' };
      },
    });
    await p.list();
    const args = { prompt: 'hello', maxTokens: 10 };

    const ok = await p.call('trigger-sampling-request', args, { timeoutMs: 10_000 });
    expect(ok.isError).toBe(false);
    expect(ok.text).toContain('sampled!');
    expect(asked).toEqual(['ev: Resource trigger-sampling-request context: hello']);

    refuse = true;
    const denied = await p.call('trigger-sampling-request', args, { timeoutMs: 10_000 });
    expect(denied.isError).toBe(true);
    expect(denied.text).toContain('sampling denied');
  });

  it("applies the requested schema's defaults to an accepted elicitation", SLOW, async () => {
    const p = await connected({ elicit: async () => ({ action: 'accept', content: {} }) });
    await p.list();
    const r = await p.call('trigger-elicitation-request', {}, { timeoutMs: 10_000 });
    expect(r.isError).toBe(false);
    // Fields with a default come back filled; the server echoes what it received.
    expect(r.text).toContain('It was a dark and stormy night.');
    expect(r.text).toContain('Monica');
  });

  it('answers roots/list with the given roots, and reports log messages', SLOW, async () => {
    const events: McpEvent[] = [];
    const p = await connected({
      roots: [{ uri: 'file:///srv/data', name: 'data' }],
      events: (e) => events.push(e),
    });
    await p.list();
    const r = await p.call('get-roots-list', {}, { timeoutMs: 10_000 });
    expect(r.text).toContain('file:///srv/data');
    // The server logs the roots it received, once it has asked for them.
    await expect
      .poll(() => events.filter((e) => e.type === 'log').map((e) => String(e.data)))
      .toContainEqual(expect.stringContaining('1 root(s) received'));
  });

  it('hears that the tool list changed', SLOW, async () => {
    const events: McpEvent[] = [];
    // Declaring sampling makes the server register more tools once initialized.
    const p = await connected({
      sample: async () => ({ role: 'assistant', content: { type: 'text', text: '' }, model: 'm' }),
      events: (e) => events.push(e),
    });
    await expect
      .poll(() => events.some((e) => e.type === 'list_changed' && e.list === 'tools'))
      .toBe(true);
    expect(p.toolsChanged).toBe(true);
    await p.list();
    expect(p.toolsChanged).toBe(false);
  });

  it('restarts the deadline at each progress report, up to a cap', SLOW, async () => {
    const events: McpEvent[] = [];
    const p = await connected({ events: (e) => events.push(e) });
    await p.list();
    const args = { duration: 1.5, steps: 5 };

    // Each step takes 300 ms, the whole 1.5 s: twice the deadline, which each report restarts.
    const r = await p.call('trigger-long-running-operation', args, { timeoutMs: 750 });
    expect(r.text).toContain('Long running operation completed');
    const progress = events.filter((e) => e.type === 'progress');
    // The SDK hands notifications on a tick later than responses, so the last report may
    // come after the result and be dropped; the ones before it arrive in order.
    const steps = progress.map((e) => (e.type === 'progress' ? e.progress : 0));
    expect(steps.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(progress[0]).toMatchObject({ namespace: 'ev', tool: 'trigger-long-running-operation' });

    const capped = await p
      .call('trigger-long-running-operation', args, { timeoutMs: 750, maxTotalMs: 800 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(capped).toBeInstanceOf(ProviderError);
    expect((capped as ProviderError).code).toBe('timeout');

    // Without progress reports the deadline is what it always was.
    const hang = await p
      .call('trigger-long-running-operation', { duration: 2, steps: 1 }, { timeoutMs: 500 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((hang as ProviderError).code).toBe('timeout');
  });
});
