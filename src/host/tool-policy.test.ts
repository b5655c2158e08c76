import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Json, JsonObject } from '../spec/types.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';

/**
 * Settings of single tools: who learns a tool's arguments (principals, and the addresses an
 * argument holds), and how its results are labelled, over what the namespace says.
 */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

const parse = (config: JsonObject) => parseConfig(config, { path: null, dir: process.cwd() });

function machine(mail: JsonObject, calls: Json[]) {
  const config = parse({
    models: {},
    tools: {
      // The user's own data, and a letter from Ann, which Ann may read too.
      vault: {
        label: { integrity: 'trusted', readers: ['user'] },
        tools: { letter: { label: { readers: ['user', 'ann@example.test'] } } },
      },
      mail: { modes: { search: 'read' }, ...mail },
    },
    rules: [{ allow: 'tool:**' }, { allow: 'user' }],
  });
  const record = (name: string) => ({
    description: name,
    run: (args: JsonObject) => {
      calls.push({ [name]: args });
      return 'done';
    },
  });
  const mvm = new Mvm({
    config,
    storeDir: mkdtempSync(join(tmpdir(), 'mvm-tool-policy-')),
    functions: {
      vault: {
        secret: { description: 'the secret', run: () => 'hunter2' },
        letter: { description: "Ann's letter", run: () => 'see you at noon' },
      },
      mail: { send: record('send'), search: record('search') },
    },
  });
  open.push(mvm);
  return mvm;
}

/** Reads `tool` of the vault, then calls `call` with its content as `body` and `extra`. */
async function run(mail: JsonObject, tool: string, call: string, extra: JsonObject) {
  const calls: Json[] = [];
  const mvm = machine(mail, calls);
  const image = imageFromObject({
    mvm: 1,
    name: 'tool-policy',
    tools: { vault: {}, mail: {} },
    permissions: ['tool:**', 'user'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'vault' },
          { op: 'tool.load', ns: 'mail' },
          { op: 'data.const', value: {}, dst: 'none' },
          { op: 'tool.call', tool: `vault/${tool}`, args: 'none', dst: 'r' },
          { op: 'data.get', src: 'r', path: 'content', dst: 'body' },
          { op: 'data.const', value: extra, dst: 'extra' },
          { op: 'data.object', fields: { body: 'body', extra: 'extra' }, dst: 'a' },
          { op: 'data.get', src: 'extra', path: 'to', dst: 'to' },
          { op: 'data.object', fields: { body: 'body', to: 'to' }, dst: 'args' },
          { op: 'tool.call', tool: `mail/${call}`, args: 'args', dst: 'out' },
          { op: 'halt', src: 'out' },
        ],
      },
    },
  });
  const result = await mvm.run(image);
  expect(result.error ?? null).toBeNull();
  const decision = mvm.store
    .entries(result.runId)
    .filter((e) => e.type === 'decision')
    .map((e) => e.data as JsonObject)
    .at(-1);
  return { calls, decision };
}

describe('per-tool recipients', () => {
  it("let a read that goes to the user's own provider carry the user's data", async () => {
    const mail = { recipients: 'public', tools: { search: { recipients: ['user'] } } };
    const read = await run(mail, 'secret', 'search', {});
    expect(read.calls).toEqual([{ search: { body: 'hunter2', to: null } }]);

    // The namespace's recipients still hold for its other tools.
    const sent = await run(mail, 'secret', 'send', {});
    expect(sent.calls).toEqual([]);
    expect(sent.decision).toMatchObject({ verdict: 'deny', rule: 'flow.readers: deny' });
  });

  it('draw recipients from an argument, and check the data against them', async () => {
    const mail = { tools: { send: { recipients: ['user', { arg: 'to' }] } } };
    // Ann may read her own letter; the user's secret is the user's alone.
    const toAnn = await run(mail, 'letter', 'send', { to: 'ann@example.test' });
    expect(toAnn.calls).toHaveLength(1);
    const secret = await run(mail, 'secret', 'send', { to: 'ann@example.test' });
    expect(secret.calls).toEqual([]);
    expect(String(secret.decision!.reason)).toMatch(
      /readable by \[user\] would reach 'tool:mail\/send', whose recipients are \[user, ann@example\.test\]/,
    );
    // A list of addresses: every one of them must be a reader.
    const both = await run(mail, 'letter', 'send', { to: ['ann@example.test', 'eve@evil.test'] });
    expect(both.calls).toEqual([]);
    // An address the data's readers do not name, however close.
    const spoof = await run(mail, 'letter', 'send', { to: 'Ann@example.test' });
    expect(spoof.calls).toEqual([]);
  });

  it('take a recipient argument that holds no address as anyone', async () => {
    const mail = { tools: { send: { recipients: [{ arg: 'to' }] } } };
    const odd = await run(mail, 'letter', 'send', { to: { name: 'ann@example.test' } });
    expect(odd.calls).toEqual([]);
    expect(String(odd.decision!.reason)).toMatch(/whose recipients are anyone/);
    // Left out, the argument names nobody: only the principals listed learn the call.
    const none = await run(
      { tools: { send: { recipients: ['user', { arg: 'cc' }] } } },
      'secret',
      'send',
      {},
    );
    expect(none.calls).toHaveLength(1);
  });

  it("label a tool's results by its own label over the namespace's", async () => {
    // The letter's readers are its own; its integrity is the namespace's (trusted).
    const mail = { tools: { send: { recipients: ['ann@example.test', 'user'] } } };
    const { calls } = await run(mail, 'letter', 'send', { to: 'x' });
    expect(calls).toHaveLength(1);
  });
});

describe('per-tool settings in the configuration', () => {
  const server = (tools: Json): JsonObject => ({
    mcpServers: { mail: { command: 'node', tools } },
  });

  it('are read with their defaults', () => {
    const c = parse(
      server({
        send: { recipients: ['user', { arg: 'to' }], label: { integrity: 'trusted' } },
        search: { fields: { 'emails[*].id': { integrity: 'trusted' }, '[*].x[*]': {} } },
      }),
    );
    expect(c.tools.mail!.tools!.send!.recipients).toEqual(['user', { arg: 'to' }]);
  });

  it.each([
    [{ send: { recipient: ['user'] } }, /mcpServers\.mail\.tools\.send: unknown field 'recipient'/],
    [{ send: { recipients: [{ arg: '' }] } }, /mcpServers\.mail\.tools\.send\.recipients\[0\]/],
    [{ send: { recipients: [{ field: 'to' }] } }, /recipients\[0\]/],
    [{ send: { recipients: 'everyone' } }, /mcpServers\.mail\.tools\.send\.recipients/],
    [{ send: { label: { integrity: 'maybe' } } }, /tools\.send\.label\.integrity/],
    [
      { search: { fields: { 'emails[].id': { integrity: 'trusted' } } } },
      /mcpServers\.mail\.tools\.search\.fields: 'emails\[\]\.id' is not a field path \('emails\[\]' is not a key followed by \[\*\]s\)/,
    ],
    [{ search: { fields: { 'a..b': {} } } }, /'a\.\.b' is not a field path/],
    [{ search: { fields: { 'a.[*]': {} } } }, /'a\.\[\*\]' is not a field path/],
    [{ search: { fields: { 'a.b': { readers: 'me' } } } }, /fields\.a\.b\.readers/],
  ])('refuse %j, saying where', (tools, message) => {
    expect(() => parse(server(tools))).toThrow(message);
  });
});

describe("a server's hints on host functions", () => {
  /** Fetches from `web`, then posts what it fetched: trusted only if the fetch was. */
  async function fetchThenPost(fetchHints: JsonObject, confirm?: JsonObject[]) {
    const asked: JsonObject[] = [];
    const posted: Json[] = [];
    const mvm = new Mvm({
      config: parse({
        models: {},
        tools: { web: { label: { integrity: 'trusted' } } },
        rules: [{ allow: 'tool:**' }, ...(confirm ?? [])],
      }),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-tool-hints-')),
      functions: {
        web: {
          fetch: { description: 'fetches', annotations: fetchHints, run: () => 'a page' },
          post: {
            description: 'posts',
            // Claims to change nothing: the host takes it to write all the same.
            annotations: { readOnlyHint: true, destructiveHint: false, openWorldHint: true },
            run: (args) => {
              posted.push(args);
              return 'posted';
            },
          },
        },
      },
    });
    open.push(mvm);
    const image = imageFromObject({
      mvm: 1,
      name: 'fetch-post',
      tools: { web: {} },
      permissions: ['tool:**'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'web' },
            { op: 'data.const', value: {}, dst: 'none' },
            { op: 'tool.call', tool: 'web/fetch', args: 'none', dst: 'r' },
            { op: 'data.get', src: 'r', path: 'content', dst: 'body' },
            { op: 'data.object', fields: { body: 'body' }, dst: 'args' },
            { op: 'tool.call', tool: 'web/post', args: 'args', dst: 'out' },
            { op: 'halt', src: 'out' },
          ],
        },
      },
    });
    const result = await mvm.run(image, {
      user: {
        confirm: async (request) => {
          asked.push(request as unknown as JsonObject);
          return { verdict: 'approve' };
        },
      },
    });
    return { output: result.output as JsonObject, posted, asked };
  }

  it('make an open-world tool untrusted, and a read-only claim does not make a tool read', async () => {
    const closed = await fetchThenPost({ openWorldHint: false });
    expect(closed.output).toMatchObject({ ok: true });
    expect(closed.posted).toHaveLength(1);

    const open_ = await fetchThenPost({ openWorldHint: true });
    expect(open_.output).toMatchObject({ ok: false });
    expect(String(open_.output.content)).toContain('untrusted');
    expect(open_.posted).toEqual([]);
  });

  it('are shown to a person asked to confirm, and decide nothing', async () => {
    const { asked, posted } = await fetchThenPost({ openWorldHint: false }, [
      { confirm: 'tool:web/post' },
    ]);
    expect(asked).toMatchObject([
      { tool: 'web/post', hints: { readOnly: true, destructive: false, openWorld: true } },
    ]);
    expect(posted).toHaveLength(1);
  });
});
