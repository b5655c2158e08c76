import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../host/config.js';
import { Mvm } from '../../host/host.js';
import { imageFromObject } from '../../host/image-file.js';
import type { JsonObject } from '../../spec/types.js';
import type { HostFunction } from '../../tools/host-functions.js';
import type { ServeEvent } from '../desk.js';
import { serve } from '../serve.js';

/** A mailer behind `mvm serve`, for the API tests and the browser's. */

const image = {
  mvm: 1,
  name: 'mailer',
  models: { main: {} },
  tools: { mail: {} },
  permissions: ['model:main', 'tool:mail/*', 'user'],
  inputs: { to: { type: 'string', default: 'ann' } },
  procedures: {
    main: {
      params: ['to'],
      body: [
        { op: 'tool.load', ns: 'mail', dst: 'tools' },
        { op: 'history.new', system: 'send mail', dst: 'h' },
        { op: 'history.append', history: 'h', role: 'user', src: 'to' },
        {
          op: 'call',
          proc: 'std.chat',
          static: { slot: 'main', max_turns: 5 },
          args: { history: 'h', tools: 'tools' },
          dst: 'answer',
        },
        { op: 'halt', src: 'answer' },
      ],
    },
  },
};

export interface Setup {
  /** The address `to` the model sends to. */
  to?: string;
  confirm?: boolean;
  /** Holds each send until it resolves. */
  hold?: Promise<void>;
  pollMs?: number;
  /** Settings of the mail namespace, over its label. */
  mail?: JsonObject;
}

/**
 * A server over a mailer whose recorded model sends one message, then says 'sent'; by
 * default a rule asks a person first. `calls` holds the sends that really ran.
 */
export async function mailerServer(scratch: string, o: Setup = {}) {
  const calls: JsonObject[] = [];
  const send: HostFunction = {
    description: 'sends a message',
    inputSchema: { type: 'object', properties: { to: { type: 'string' } } },
    run: async (args) => {
      await o.hold;
      calls.push(args);
      return `sent to ${String(args.to)}`;
    },
  };
  const call = { id: 'a', name: 'mail/send', arguments: JSON.stringify({ to: o.to ?? 'ann' }) };
  const raw = {
    models: { main: { driver: 'replay', replies: [{ toolCalls: [call] }, { text: 'sent' }] } },
    tools: { mail: { label: { integrity: 'trusted' }, ...o.mail } },
    rules: [
      { allow: 'model:main' },
      { allow: 'tool:mail/*' },
      { allow: 'user' },
      ...(o.confirm === false ? [] : [{ confirm: 'tool:mail/send', reason: 'mail leaves' }]),
      // The addresses a call names, where the namespace maps an argument to them.
      { allow: 'net:**' },
    ],
  } as unknown as JsonObject;
  const mvm = new Mvm({
    config: parseConfig(raw, { path: null, dir: process.cwd() }),
    storeDir: mkdtempSync(join(scratch, 'store-')),
    functions: { mail: { send } },
  });
  const events: ServeEvent[] = [];
  const server = await serve({
    mvm,
    targets: [{ name: 'mailer', image: imageFromObject(image) }],
    log: (e) => events.push(e),
    pollMs: o.pollMs ?? 50,
  });
  const api = (path: string, init: RequestInit & { token?: string | null } = {}) => {
    const headers = new Headers(init.headers);
    const token = init.token === undefined ? server.token : init.token;
    if (token !== null && init.method === 'POST') headers.set('Authorization', `Bearer ${token}`);
    if (init.body !== undefined && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
    return fetch(new URL(path, server.url), { ...init, headers });
  };
  const post = (path: string, body: unknown, init: RequestInit & { token?: string | null } = {}) =>
    api(path, { ...init, method: 'POST', body: JSON.stringify(body) });
  const get = async (path: string) => {
    const r = await api(path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status}`);
    return (await r.json()) as Record<string, unknown> & { status: string };
  };
  /** The run once it has stopped: waiting, done or failed. */
  const settled = async (runId: string) => {
    for (let i = 0; i < 200; i++) {
      const run = await get(`/api/runs/${runId}`);
      if (run.status !== 'running') return run;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`run ${runId} did not stop`);
  };
  const start = async (body: unknown = {}) => {
    const r = await post('/api/runs', body);
    if (r.status !== 202) throw new Error(`POST /api/runs: ${r.status} ${await r.text()}`);
    return (await r.json()) as { runId: string; status: string };
  };
  const close = async () => {
    await server.close();
    mvm.close();
  };
  return { server, mvm, calls, events, api, post, get, settled, start, close };
}
