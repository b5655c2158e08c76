// Streamable HTTP as mvm speaks it, against a loopback server built from the SDK's own server
// transport: the session the server hands out, a stream the server cuts and the client resumes,
// and OAuth through the SDK's provider interface, with the tokens kept out of the run store.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { JsonObject } from '../src/spec/types.js';
import { McpProvider } from '../src/tools/mcp.js';
import type { McpEvent } from '../src/tools/mcp-hooks.js';
import { type LoopbackMcp, loopbackMcp } from '../src/tools/test-helpers/http-mcp.js';
import { HeadlessOAuth } from '../src/tools/test-helpers/oauth.js';

const scratch = mkdtempSync(join(tmpdir(), 'mvm-mcp-http-'));
const open: { close(): unknown }[] = [];

afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function server(options: Parameters<typeof loopbackMcp>[0] = {}): Promise<LoopbackMcp> {
  const s = await loopbackMcp(options);
  open.push(s);
  return s;
}

function provider(url: string, events?: (e: McpEvent) => void): McpProvider {
  const p = new McpProvider('web', { url }, events ? { hooks: { events } } : {});
  open.push(p);
  return p;
}

describe('a Streamable HTTP server', () => {
  it('is spoken to in the session it hands out, which close ends', async () => {
    const s = await server();
    const p = provider(s.url);
    await p.connect();
    expect((await p.list()).map((t) => t.name)).toEqual(['echo', 'pause']);
    expect((await p.call('echo', { text: 'hi' }, { timeoutMs: 5000 })).text).toBe('hi');

    expect(s.sessions).toHaveLength(1);
    const [sid] = s.sessions;
    const posts = s.requests.filter((r) => r.path === '/mcp');
    expect(posts[0]).toMatchObject({ method: 'POST', rpc: 'initialize' });
    expect(posts[0]!.session).toBeUndefined();
    // Every request after initialize carries the session, the notification that ends it too.
    expect(posts.slice(1).map((r) => r.session)).toEqual(posts.slice(1).map(() => sid));
    expect(posts.map((r) => r.rpc ?? r.method)).toEqual(
      expect.arrayContaining(['notifications/initialized', 'tools/list', 'tools/call']),
    );

    await p.close();
    expect(s.ended).toEqual([sid]);
    expect(s.requests.at(-1)).toMatchObject({ method: 'DELETE', session: sid });
  });

  it('starts a new session when the server has forgotten its own, and repeats the request', async () => {
    const s = await server();
    const p = provider(s.url);
    await p.connect();
    await p.list();
    expect(p.toolsChanged).toBe(false);

    await s.forget();
    const echo = await p.call('echo', { text: 'again' }, { timeoutMs: 5000 });
    expect(echo).toMatchObject({ isError: false, text: 'again' });
    expect(s.sessions).toHaveLength(2);
    const [old, renewed] = s.sessions;
    // The call met 404 in the old session, was not answered there, and was made once anew.
    const calls = s.requests.filter((r) => r.rpc === 'tools/call');
    expect(calls.map((r) => r.session)).toEqual([old, renewed]);
    expect(s.requests.filter((r) => r.rpc === 'initialize')).toHaveLength(2);
    // The new session may offer other tools: they are to be listed again before the next call.
    expect(p.toolsChanged).toBe(true);
    expect((await p.list()).map((t) => t.name)).toEqual(['echo', 'pause']);
    expect((await p.call('echo', { text: 'on' }, { timeoutMs: 5000 })).text).toBe('on');
    expect(s.sessions).toHaveLength(2);
  });

  it("resumes a stream the server cut, after the server's retry, with Last-Event-ID", async () => {
    // Longer than the SDK's own first delay (1 s), so that waiting this long shows whose it is.
    const retryMs = 1500;
    const s = await server({ retryMs });
    const logs: string[] = [];
    const p = provider(s.url, (e) => {
      if (e.type === 'log') logs.push(String(e.data));
    });
    await p.connect();
    await p.list();

    const result = await p.call('pause', {}, { timeoutMs: 10_000 });
    expect(result.text).toBe('resumed');
    // What the server said while the client was away came on the resumed stream.
    await expect.poll(() => logs).toEqual(['before the cut', 'while away']);

    const call = s.requests.find((r) => r.rpc === 'tools/call')!;
    const resumed = s.requests.filter((r) => r.method === 'GET' && r.lastEventId !== undefined);
    expect(s.cut).toHaveLength(1);
    expect(resumed.map((r) => r.lastEventId)).toEqual(s.cut);
    expect(resumed[0]!.session).toBe(s.sessions[0]);
    expect(resumed[0]!.at - call.at).toBeGreaterThanOrEqual(retryMs - 20);
  });
});

describe('OAuth through the host', () => {
  /** Calls web/echo once per text, and halts with the results. */
  function echoes(...texts: string[]) {
    const body: JsonObject[] = [{ op: 'tool.load', ns: 'web' }];
    texts.forEach((text, i) => {
      body.push({ op: 'data.const', value: { text }, dst: `a${i}` });
      body.push({ op: 'tool.call', tool: 'web/echo', args: `a${i}`, dst: `r${i}` });
    });
    const fields = Object.fromEntries(texts.map((_, i) => [`r${i}`, `r${i}`]));
    body.push({ op: 'data.object', fields, dst: 'out' }, { op: 'halt', src: 'out' });
    return imageFromObject({
      mvm: 1,
      name: 'echoes',
      tools: { web: {} },
      permissions: ['tool:web/*'],
      procedures: { main: { body } },
    });
  }

  function host(url: string, auth?: HeadlessOAuth, maxAttempts?: number) {
    const dir = mkdtempSync(join(scratch, 'run-'));
    const config = parseConfig(
      { mcpServers: { web: { url } }, rules: [{ allow: 'tool:web/*' }] },
      { path: null, dir },
    );
    const mcpAuth = auth ? { web: auth.auth(maxAttempts) } : undefined;
    const mvm = new Mvm({ config, storeDir: join(dir, '.mvm'), ...(mcpAuth ? { mcpAuth } : {}) });
    open.push(mvm);
    return { mvm, dir };
  }

  /** Every file under a folder, the SQLite database and its write-ahead log included. */
  function everything(dir: string): string {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((name) => join(dir, name))
      .filter((path) => statSync(path).isFile())
      .map((path) => readFileSync(path).toString('latin1'))
      .join('\n');
  }

  const texts = (output: unknown) =>
    Object.values(output as Record<string, JsonObject>).map((r) => r.content);

  it('authorizes when the server answers 401, and keeps the token out of the store', async () => {
    const s = await server({ oauth: {} });
    const oauth = new HeadlessOAuth();
    const { mvm, dir } = host(s.url, oauth);

    const result = await mvm.run(echoes('hello'));
    expect(result.error).toBeNull();
    expect(texts(result.output)).toEqual(['hello']);

    const mcp = s.requests.filter((r) => r.path === '/mcp');
    expect(mcp[0]).toMatchObject({ rpc: 'initialize', authorized: false });
    expect(mcp.slice(1).every((r) => r.authorized)).toBe(true);
    expect(oauth.authorizations).toBe(1);
    expect(s.tokens).toHaveLength(1);
    expect(oauth.issued).toEqual(s.tokens);

    // Nothing the run wrote holds the token: journal, manifest, database, log.
    mvm.close();
    const written = everything(dir);
    expect(written).toContain(result.runId);
    for (const token of s.tokens) expect(written).not.toContain(token);
  });

  it('authorizes again when its token stops being accepted, and repeats the call', async () => {
    const s = await server({ oauth: { revokeAfterCalls: 1 } });
    const oauth = new HeadlessOAuth();
    const { mvm, dir } = host(s.url, oauth);

    const result = await mvm.run(echoes('one', 'two'));
    expect(result.error).toBeNull();
    expect(texts(result.output)).toEqual(['one', 'two']);
    expect(oauth.authorizations).toBe(2);
    expect(s.tokens).toHaveLength(2);
    // The second call was refused once, then made once with the new token.
    const calls = s.requests.filter((r) => r.rpc === 'tools/call');
    expect(calls.map((r) => r.authorized)).toEqual([true, false, true]);
    const steps = mvm.store.entries(result.runId).filter((e) => e.type === 'tool.result');
    expect(steps).toHaveLength(2);

    mvm.close();
    const written = everything(dir);
    for (const token of s.tokens) expect(written).not.toContain(token);
  });

  it('fails typed when no provider is given, or the server never accepts', async () => {
    const s = await server({ oauth: {} });
    const bare = host(s.url);
    const refused = await bare.mvm.run(echoes('x'));
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'start_failed' });
    expect(String((refused.error as JsonObject).message)).toContain(s.url);

    const stubborn = await server({ oauth: { neverAccept: true } });
    const oauth = new HeadlessOAuth();
    const { mvm } = host(stubborn.url, oauth, 2);
    const result = await mvm.run(echoes('x'));
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'start_failed' });
    expect(oauth.authorizations).toBe(2);
  });
});
