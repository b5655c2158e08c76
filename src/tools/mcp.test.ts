import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../spec/errors.js';
import { McpProvider, type McpServerSpec } from './mcp.js';

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const serverEntry = (name: string) => join(modules, '@modelcontextprotocol', name, 'dist/index.js');
const sdk = (path: string) =>
  pathToFileURL(join(modules, '@modelcontextprotocol/sdk/dist/esm', path));

const SPAWN_TIMEOUT = 30_000;

/** An SDK server that misbehaves on request; STUBBORN=1 makes it outlive stdin and SIGTERM. */
const misbehaving = `
import { spawn } from 'node:child_process';
import { McpServer } from '${sdk('server/mcp.js')}';
import { StdioServerTransport } from '${sdk('server/stdio.js')}';

const server = new McpServer({ name: 'misbehaving', version: '1.2.3' });
let grandchild;
console.error('misbehaving: up');
server.registerTool('ok', { description: 'answers' }, async () => ({
  content: [{ type: 'text', text: 'fine' }],
}));
server.registerTool('crash', {}, () => {
  setTimeout(() => process.exit(3), 50);
  return new Promise(() => {});
});
server.registerTool('hang', {}, (extra) => new Promise(() => {
  extra.signal.addEventListener('abort', () => console.error('hang: cancelled'));
}));
server.registerTool('pids', {}, async () => ({
  content: [{ type: 'text', text: JSON.stringify([process.pid, grandchild?.pid]) }],
}));
if (process.env.STUBBORN === '1') {
  process.on('SIGTERM', () => {});
  setInterval(() => {}, 1000);
  const forever = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);";
  grandchild = spawn(process.execPath, ['-e', forever], { stdio: 'ignore' });
}
await server.connect(new StdioServerTransport());
`;

/** A low-level SDK server whose tools/list pages as PAGING says. */
const paging = `
import { Server } from '${sdk('server/index.js')}';
import { StdioServerTransport } from '${sdk('server/stdio.js')}';
import {
  CallToolRequestSchema, ErrorCode, ListPromptsRequestSchema, ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema, ListToolsRequestSchema, McpError,
} from '${sdk('types.js')}';

const mode = process.env.PAGING;
const server = new Server(
  { name: 'paging', version: '1.0.0' },
  { capabilities: { tools: {}, resources: {}, prompts: {} } },
);
/** Pages of three out of total items; in mode 'same', a cursor that repeats. */
const pages = (key, total, make) => async (request) => {
  const at = Number(request.params?.cursor ?? 0);
  if (mode === 'same') return { [key]: [make(0)], nextCursor: 'same' };
  const page = [];
  for (let i = at; i < Math.min(at + 3, total); i++) page.push(make(i));
  return at + 3 < total ? { [key]: page, nextCursor: String(at + 3) } : { [key]: page };
};
server.setRequestHandler(ListResourcesRequestSchema, pages('resources', 5, (i) => ({
  uri: 'paged://r/' + i, name: 'r' + i,
})));
server.setRequestHandler(ListResourceTemplatesRequestSchema, pages('resourceTemplates', 4, (i) => ({
  uriTemplate: 'paged://t' + i + '/{id}', name: 't' + i,
})));
server.setRequestHandler(ListPromptsRequestSchema, pages('prompts', 7, (i) => ({
  name: 'p' + i, arguments: [{ name: 'a', required: i === 0 }],
})));
const tool = (name) => ({ name, inputSchema: { type: 'object' } });
server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  const at = Number(request.params?.cursor ?? 0);
  if (mode === 'same') return { tools: [tool('again')], nextCursor: 'same' };
  if (mode === 'endless') return { tools: [tool('t' + at)], nextCursor: String(at + 1) };
  if (mode === 'malformed') return { tools: 'not a list' };
  const page = [];
  for (let i = at; i < Math.min(at + 3, 7); i++) page.push(tool('tool_' + i));
  if (at === 0) Object.assign(page[0], { description: 'first', annotations: { readOnlyHint: true } });
  return at + 3 < 7 ? { tools: page, nextCursor: String(at + 3) } : { tools: page };
});
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  throw new McpError(ErrorCode.InvalidParams, 'no tool named ' + request.params.name);
});
await server.connect(new StdioServerTransport());
`;

let scratch: string;
let misbehavingPath: string;
let pagingPath: string;
const providers: McpProvider[] = [];
const children: ChildProcess[] = [];
const strays: number[] = [];

function provider(namespace: string, spec: McpServerSpec, stderr?: (line: string) => void) {
  const p = new McpProvider(namespace, spec, stderr ? { stderr } : {});
  providers.push(p);
  return p;
}

function nodeServer(args: string[], env: Record<string, string> = {}): McpServerSpec {
  return { command: process.execPath, args, env };
}

async function failure(work: Promise<unknown>): Promise<ProviderError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof ProviderError)) throw new Error(`expected a ProviderError, got ${error}`);
  return error;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Alive and not a zombie. An orphan's zombie waits for PID 1 to collect it, which in some
 * containers happens late; it has ended all the same.
 */
function running(pid: number): boolean {
  if (!alive(pid)) return false;
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function names(tools: { name: string }[]): string[] {
  return tools.map((t) => t.name).sort();
}

beforeAll(async () => {
  scratch = await realpath(await mkdtemp(join(tmpdir(), 'mvm-mcp-')));
  misbehavingPath = join(scratch, 'misbehaving.mjs');
  pagingPath = join(scratch, 'paging.mjs');
  await writeFile(misbehavingPath, misbehaving);
  await writeFile(pagingPath, paging);
});

afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.close()));
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const pid of strays.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('McpProvider against the filesystem server', () => {
  it('lists, reads a file, and returns a denied read as a value', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const root = await mkdtemp(join(scratch, 'root-'));
    const outside = await mkdtemp(join(scratch, 'outside-'));
    await writeFile(join(root, 'hello.txt'), 'hello from the allowed dir\n');
    await writeFile(join(outside, 'secret.txt'), 'not for you');
    const fs = provider('fs', nodeServer([serverEntry('server-filesystem'), root]));
    await fs.connect();

    const tools = await fs.list();
    expect(names(tools)).toEqual([
      'create_directory',
      'directory_tree',
      'edit_file',
      'get_file_info',
      'list_allowed_directories',
      'list_directory',
      'list_directory_with_sizes',
      'move_file',
      'read_file',
      'read_media_file',
      'read_multiple_files',
      'read_text_file',
      'search_files',
      'write_file',
    ]);
    const read = tools.find((t) => t.name === 'read_text_file')!;
    expect(read.description).toContain('Read the complete contents');
    expect(read.annotations).toMatchObject({ readOnlyHint: true });
    expect(read.inputSchema).toMatchObject({ type: 'object', required: ['path'] });

    const ok = await fs.call(
      'read_text_file',
      { path: join(root, 'hello.txt') },
      { timeoutMs: 10_000 },
    );
    expect(ok.isError).toBe(false);
    expect(ok.text).toBe('hello from the allowed dir\n');
    expect(ok.structured).toEqual({ content: 'hello from the allowed dir\n' });

    const denied = await fs.call(
      'read_text_file',
      { path: join(outside, 'secret.txt') },
      {
        timeoutMs: 10_000,
      },
    );
    expect(denied.isError).toBe(true);
    expect(denied.text).toMatch(/access denied|outside allowed/i);
    expect(denied.text).not.toContain('not for you');

    expect(fs.describe()).toEqual({
      kind: 'stdio',
      command: process.execPath,
      args: [serverEntry('server-filesystem'), root],
      serverName: 'secure-filesystem-server',
      serverVersion: expect.any(String),
    });
  });
});

describe('McpProvider against the memory server', () => {
  it('writes a created entity to MEMORY_FILE_PATH', { timeout: SPAWN_TIMEOUT }, async () => {
    const file = join(await mkdtemp(join(scratch, 'memory-')), 'memory.jsonl');
    const memory = provider(
      'memory',
      nodeServer([serverEntry('server-memory')], { MEMORY_FILE_PATH: file }),
    );
    await memory.connect();

    expect(names(await memory.list())).toEqual([
      'add_observations',
      'create_entities',
      'create_relations',
      'delete_entities',
      'delete_observations',
      'delete_relations',
      'open_nodes',
      'read_graph',
      'search_nodes',
    ]);
    const entity = {
      name: 'Ada Lovelace',
      entityType: 'person',
      observations: ['wrote a program'],
    };
    const created = await memory.call(
      'create_entities',
      { entities: [entity] },
      { timeoutMs: 10_000 },
    );
    expect(created.isError).toBe(false);
    expect(created.structured).toEqual({ entities: [entity] });

    const saved = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(saved).toContainEqual({ type: 'entity', ...entity });
  });
});

describe('McpProvider against the everything server', () => {
  const EVERYTHING_TOOLS = [
    'echo',
    'get-annotated-message',
    'get-env',
    'get-resource-links',
    'get-resource-reference',
    'get-structured-content',
    'get-sum',
    'get-tiny-image',
    'gzip-file-as-resource',
    'simulate-research-query',
    'toggle-simulated-logging',
    'toggle-subscriber-updates',
    'trigger-long-running-operation',
  ];

  it('times out a long call, cancels another, and keeps working', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const everything = provider('every', nodeServer([serverEntry('server-everything'), 'stdio']));
    await everything.connect();
    expect(names(await everything.list())).toEqual(EVERYTHING_TOOLS);

    const long = { duration: 10, steps: 2 };
    const started = Date.now();
    const timedOut = await failure(
      everything.call('trigger-long-running-operation', long, { timeoutMs: 300 }),
    );
    expect(Date.now() - started).toBeLessThan(8000);
    expect(timedOut.code).toBe('timeout');
    expect(timedOut.message).toContain('every');
    expect(timedOut.message).toContain('trigger-long-running-operation');
    expect(timedOut.message).toContain('300 ms');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const cancelled = await failure(
      everything.call('trigger-long-running-operation', long, {
        timeoutMs: 10_000,
        signal: controller.signal,
      }),
    );
    expect(cancelled.code).toBe('cancelled');

    const echo = await everything.call('echo', { message: 'still here' }, { timeoutMs: 5000 });
    expect(echo).toEqual({
      isError: false,
      content: [{ type: 'text', text: 'Echo: still here' }],
      text: 'Echo: still here',
    });

    const image = await everything.call('get-tiny-image', {}, { timeoutMs: 5000 });
    expect(image.text).toContain('[image image/png]');
    expect(image.content).toContainEqual(expect.objectContaining({ type: 'image' }));

    const weather = await everything.call(
      'get-structured-content',
      { location: 'Chicago' },
      {
        timeoutMs: 5000,
      },
    );
    expect(weather.structured).toMatchObject({ temperature: expect.any(Number) });

    const invalid = await everything.call('echo', { message: 42 }, { timeoutMs: 5000 });
    expect(invalid.isError).toBe(true);
    expect(invalid.text).toMatch(/message/);
  });

  it('works over Streamable HTTP on loopback', { timeout: SPAWN_TIMEOUT }, async () => {
    const port = await freePort();
    // The server listens on every interface unless told otherwise; pin it to loopback.
    const loopback = join(scratch, 'loopback.mjs');
    await writeFile(loopback, LOOPBACK_PRELOAD);
    const child = spawn(
      process.execPath,
      [
        '--import',
        pathToFileURL(loopback).href,
        serverEntry('server-everything'),
        'streamableHttp',
      ],
      { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    await listening(child, `listening on port ${port}`);

    const url = `http://127.0.0.1:${port}/mcp`;
    const web = provider('web', { type: 'streamable-http', url });
    await web.connect();
    expect(names(await web.list())).toEqual(EVERYTHING_TOOLS);
    const echo = await web.call('echo', { message: 'over http' }, { timeoutMs: 5000 });
    expect(echo.text).toBe('Echo: over http');
    expect(web.describe()).toEqual({
      kind: 'http',
      url,
      serverName: 'mcp-servers/everything',
      serverVersion: '2.0.0',
    });

    await web.close();
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });
});

describe('McpProvider resources and prompts of the everything server', () => {
  const everything = () => provider('ev', nodeServer([serverEntry('server-everything'), 'stdio']));
  const docs = join(modules, '@modelcontextprotocol/server-everything/dist/docs');

  it('lists resources and templates, and reads both kinds', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const ev = everything();
    await ev.connect();
    expect(ev.offers('resources')).toBe(true);
    const { resources, templates } = await ev.listResources();
    const doc = resources.find((r) => r.name === 'architecture.md')!;
    expect(doc).toMatchObject({
      uri: 'demo://resource/static/document/architecture.md',
      mimeType: 'text/markdown',
    });
    expect(templates.map((t) => t.uriTemplate).sort()).toEqual([
      'demo://resource/dynamic/blob/{resourceId}',
      'demo://resource/dynamic/text/{resourceId}',
    ]);

    const [content] = await ev.readResource(doc.uri, { timeoutMs: 10_000 });
    expect(content).toEqual({
      uri: doc.uri,
      mimeType: 'text/markdown',
      text: readFileSync(join(docs, 'architecture.md'), 'utf8'),
    });
    const [text] = await ev.readResource('demo://resource/dynamic/text/3', { timeoutMs: 10_000 });
    expect(text!.text).toMatch(/^Resource 3: This is a plaintext resource/);
    const [blob] = await ev.readResource('demo://resource/dynamic/blob/4', { timeoutMs: 10_000 });
    expect(Buffer.from(blob!.blob!, 'base64').toString()).toMatch(/^Resource 4: /);
    expect(blob!.text).toBeUndefined();

    const unknown = await failure(ev.readResource('demo://nowhere/9', { timeoutMs: 10_000 }));
    expect(unknown.code).toBe('rpc_error');
    expect(unknown.data).toMatchObject({ namespace: 'ev', rpcCode: -32602 });
    expect(unknown.message).toContain('demo://nowhere/9');
    expect(unknown.message.match(/MCP error -32602/g)).toHaveLength(1);
  });

  it('lists prompts with their arguments and fetches one', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const ev = everything();
    await ev.connect();
    expect(ev.offers('prompts')).toBe(true);
    const prompts = await ev.listPrompts();
    expect(prompts.find((p) => p.name === 'args-prompt')).toMatchObject({
      title: 'Arguments Prompt',
      arguments: [
        { name: 'city', required: true },
        { name: 'state', required: false },
      ],
    });

    const weather = await ev.getPrompt('args-prompt', { city: 'Lyon' }, { timeoutMs: 10_000 });
    expect(weather.messages).toEqual([
      {
        role: 'user',
        content: "What's weather in Lyon?",
        block: { type: 'text', text: "What's weather in Lyon?" },
      },
    ]);
    const embedded = await ev.getPrompt(
      'resource-prompt',
      { resourceType: 'Text', resourceId: '2' },
      { timeoutMs: 10_000 },
    );
    // The embedded resource reads as its text; the block keeps its shape.
    const texts = embedded.messages.map((m) => m.content);
    expect(texts.some((t) => t.startsWith('Resource 2: This is a plaintext resource'))).toBe(true);

    const missing = await failure(ev.getPrompt('args-prompt', {}, { timeoutMs: 10_000 }));
    expect(missing.code).toBe('rpc_error');
    expect(missing.data).toMatchObject({ rpcCode: -32602 });
  });

  it('says a server offers no resources or prompts when it declared none', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const root = await mkdtemp(join(scratch, 'bare-'));
    const fs = provider('fs', nodeServer([serverEntry('server-filesystem'), root]));
    await fs.connect();
    expect(fs.offers('resources')).toBe(false);
    expect(fs.offers('prompts')).toBe(false);
  });
});

describe('McpProvider failures', () => {
  it('names the namespace and command when the command does not exist', async () => {
    const missing = provider('ghost', { command: 'mvm-no-such-command-here' });
    const error = await failure(missing.connect());
    expect(error.code).toBe('start_failed');
    expect(error.message).toContain('ghost');
    expect(error.message).toContain('mvm-no-such-command-here');
    expect((await failure(missing.list())).code).toBe('not_connected');

    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const nobody = provider('nobody', { url });
    const refused = await failure(nobody.connect());
    expect(refused.code).toBe('start_failed');
    expect(refused.message).toContain(url);

    const spec = { type: 'sse', url } as unknown as McpServerSpec;
    expect(() => new McpProvider('old', spec)).toThrow(
      expect.objectContaining({ code: 'invalid_spec' }),
    );
  });

  it('fails to start when the server exits or never initializes', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const exits = provider('quits', nodeServer(['-e', 'process.exit(2)']));
    expect((await failure(exits.connect())).code).toBe('start_failed');

    // The cause is the first line that reads as an error, not the runtime's version after it.
    const missing = provider('missing', nodeServer(['/nonexistent/mvm-server.js']));
    const why = await failure(missing.connect());
    expect(why.code).toBe('start_failed');
    expect(why.message).toMatch(
      /\(it said: Error: Cannot find module '\/nonexistent\/mvm-server\.js' … Node\.js v[\d.]+\)$/,
    );

    const mute = new McpProvider('mute', nodeServer(['-e', 'setInterval(() => {}, 1000)']), {
      connectTimeoutMs: 500,
    });
    providers.push(mute);
    const error = await failure(mute.connect());
    expect(error.code).toBe('start_failed');
    expect(error.message).toContain('mute');
    expect(error.message).toContain('500 ms');
  });

  it('rejects promptly when the server exits during a call', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const lines: string[] = [];
    const server = provider('crashy', nodeServer([misbehavingPath]), (line) => lines.push(line));
    await server.connect();
    expect(lines).toContain('misbehaving: up');

    const started = Date.now();
    const error = await failure(server.call('crash', {}, { timeoutMs: 20_000 }));
    expect(error.code).toBe('server_exited');
    expect(error.message).toContain('crashy');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await failure(server.call('ok', {}, { timeoutMs: 1000 }))).code).toBe('server_exited');
  });

  it('times out a call the server never answers, and cancels it', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const lines: string[] = [];
    const server = provider('hangs', nodeServer([misbehavingPath]), (line) => lines.push(line));
    await server.connect();
    const error = await failure(server.call('hang', {}, { timeoutMs: 250 }));
    expect(error.code).toBe('timeout');
    expect(error.data).toMatchObject({ namespace: 'hangs', tool: 'hang', timeoutMs: 250 });
    expect((await server.call('ok', {}, { timeoutMs: 5000 })).text).toBe('fine');
    // The server aborts its handler when notifications/cancelled arrives, and says so on stderr.
    await expect.poll(() => lines, { timeout: 2000 }).toContain('hang: cancelled');
  });

  it('leaves no process behind a server that ignores stdin and SIGTERM', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const server = provider('stubborn', nodeServer([misbehavingPath], { STUBBORN: '1' }));
    await server.connect();
    const pids: number[] = JSON.parse((await server.call('pids', {}, { timeoutMs: 5000 })).text);
    strays.push(...pids);
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);

    const started = Date.now();
    await server.close();
    const [pid, grandchild] = pids as [number, number];
    expect(alive(pid)).toBe(false);
    expect(running(grandchild)).toBe(false);
    expect(Date.now() - started).toBeLessThan(8000);
    await server.close();
  });
});

describe('McpProvider pagination', () => {
  const paged = (mode: string) =>
    provider(`paged-${mode}`, nodeServer([pagingPath], { PAGING: mode }));

  it('collects every page', { timeout: SPAWN_TIMEOUT }, async () => {
    const server = paged('pages');
    await server.connect();
    const tools = await server.list();
    expect(tools.map((t) => t.name)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `tool_${i}`));
    expect(tools[0]).toEqual({
      name: 'tool_0',
      description: 'first',
      inputSchema: { type: 'object' },
      annotations: { readOnlyHint: true },
    });
    expect(tools[1]!.description).toBe('');

    const refused = await server.call('tool_9', {}, { timeoutMs: 5000 });
    expect(refused.isError).toBe(true);
    expect(refused.text).toContain('no tool named tool_9');
  });

  it('stops a repeated cursor and an endless one', { timeout: SPAWN_TIMEOUT }, async () => {
    const same = paged('same');
    const endless = paged('endless');
    await Promise.all([same.connect(), endless.connect()]);
    const repeated = await failure(same.list());
    expect(repeated.code).toBe('pagination_loop');
    expect(repeated.data).toMatchObject({ pages: 2, cursor: 'same' });
    const error = await failure(endless.list());
    expect(error.code).toBe('pagination_loop');
    expect(error.data).toMatchObject({ pages: 1000 });
  });

  it('collects every page of resources, templates and prompts', {
    timeout: SPAWN_TIMEOUT,
  }, async () => {
    const server = paged('pages');
    await server.connect();
    const { resources, templates } = await server.listResources();
    expect(resources.map((r) => r.uri)).toEqual([0, 1, 2, 3, 4].map((i) => `paged://r/${i}`));
    expect(templates.map((t) => t.uriTemplate)).toEqual(
      [0, 1, 2, 3].map((i) => `paged://t${i}/{id}`),
    );
    const prompts = await server.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `p${i}`));
    expect(prompts[0]!.arguments).toEqual([{ name: 'a', required: true }]);

    const same = paged('same');
    await same.connect();
    const loop = await failure(same.listResources());
    expect(loop.code).toBe('pagination_loop');
    expect(loop.message).toContain('resources/list still paging');
  });

  it('reports a malformed page', { timeout: SPAWN_TIMEOUT }, async () => {
    const server = paged('malformed');
    await server.connect();
    expect((await failure(server.list())).code).toBe('bad_response');
  });
});

/** Makes a bare `listen(port)` bind 127.0.0.1 instead of every interface. */
const LOOPBACK_PRELOAD = `
import net from 'node:net';
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const port = args[0];
  const bare = typeof port === 'number' || (typeof port === 'string' && /^\\d+$/.test(port));
  if (bare && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};
`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function listening(child: ChildProcess, banner: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(banner)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${seen}`)));
  });
}
