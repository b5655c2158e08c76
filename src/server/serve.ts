import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Mvm } from '../host/host.js';
import { ConfigError, MvmError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';
import { type Gate, newToken, refusal } from './auth.js';
import { answersFrom, RunDesk, type ServeLog, type ServeTarget } from './desk.js';
import { INBOX_CSP, inboxFragment, inboxPage } from './inbox.js';
import { streamEntries } from './sse.js';
import { listView, runView, type Touches } from './views.js';

export interface ServeOptions {
  mvm: Mvm;
  /** The images `POST /api/runs` may start; the first unless the body names another. */
  targets: ServeTarget[];
  /** Default `127.0.0.1`. Any other address makes every request but the page need the token. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default: 32 random bytes, made now. */
  token?: string;
  log?: ServeLog;
  /** How often an event stream looks for new journal entries; default 200 ms. */
  pollMs?: number;
}

export interface MvmServer {
  /** The page's address, without the token. */
  url: string;
  host: string;
  port: number;
  token: string;
  /** Cancels the runs under way, ends the event streams, and stops listening. */
  close(): Promise<void>;
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** A request body larger than this is refused. */
const BODY_LIMIT = 1 << 20;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The HTTP status a refusal of the host API maps to. */
function statusOf(e: MvmError): number {
  if (e.code === 'run_not_found' || e.code === 'unknown_target') return 404;
  const conflict = ['not_resumable', 'run_in_progress', 'config_changed', 'journal_invalid'];
  if (conflict.includes(e.code) || e.code === 'not_started') return 409;
  return e.kind === 'config' || e.kind === 'verify' || e.kind === 'store' ? 400 : 500;
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function send(res: ServerResponse, status: number, body: Json, extra = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}

function sendHtml(res: ServerResponse, text: string) {
  res.writeHead(200, {
    ...SECURITY_HEADERS,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Content-Security-Policy': INBOX_CSP,
    'X-Frame-Options': 'DENY',
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    const sent = type === '' ? 'no Content-Type' : `Content-Type: ${type.slice(0, 80)}`;
    throw new HttpError(
      415,
      'unsupported_media_type',
      `a POST body is JSON and must say so with the header Content-Type: application/json (this one came with ${sent}; curl -d sends a form unless told -H 'Content-Type: application/json')`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new HttpError(413, 'too_large', 'the body exceeds 1 MiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'bad_json', 'the body is not JSON');
  }
}

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, 'bad_path', `not a valid path segment: ${s}`);
  }
}

function inputsFrom(body: unknown): { target?: string; inputs: Record<string, Json> } {
  if (body === undefined) return { inputs: {} };
  const o = body as { target?: unknown; inputs?: unknown };
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'bad_body', 'expected { inputs?, target? }');
  }
  if (o.target !== undefined && typeof o.target !== 'string') {
    throw new HttpError(400, 'bad_body', "expected 'target' to be a string");
  }
  const inputs = o.inputs ?? {};
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw new HttpError(400, 'bad_body', "expected 'inputs' to be an object");
  }
  const out: { target?: string; inputs: Record<string, Json> } = {
    inputs: inputs as Record<string, Json>,
  };
  if (o.target !== undefined) out.target = o.target;
  return out;
}

/**
 * Serves the host API and a page on which people answer what runs wait for: runs started
 * here suspend at every confirmation and question (nobody is at a terminal), and an answer
 * resumes them in the background. Changing anything takes the bearer token; see auth.ts
 * for the rules.
 *
 * The server holds one configuration: a run in the store that was started under another
 * is listed, but answering it is refused (`config_changed`). Event streams and the page
 * poll the store rather than being told of new entries, so they lag by up to a poll.
 *
 * ```ts
 * const server = await serve({ mvm, targets: [{ name: 'notes', image }], log: console.log });
 * console.log(`${server.url}#token=${server.token}`);
 * ```
 */
export async function serve(options: ServeOptions): Promise<MvmServer> {
  const { mvm } = options;
  const log: ServeLog = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? newToken();
  const desk = new RunDesk(mvm, options.targets, log);
  // What a call touches is for the person's eyes; a view is not refused for want of it.
  const touches: Touches = (runId, tool, args) => {
    try {
      return mvm.touches(runId, tool, args);
    } catch {
      return [];
    }
  };
  const streams = new Set<() => void>();
  const gate: Gate = { token, host, port: 0 };
  const pollMs = options.pollMs ?? 200;

  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://server');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const changes = method !== 'GET' && method !== 'HEAD';
    const refused = refusal(gate, req, { changes, open: path === '/' && !changes });
    if (refused) {
      log({ type: 'refused', method, path, status: refused.status, message: refused.message });
      throw new HttpError(refused.status, 'refused', refused.message);
    }
    const only = (allowed: string) => {
      if (method !== allowed) {
        throw new HttpError(405, 'method_not_allowed', `${path} takes ${allowed}`);
      }
    };
    const parts = path.split('/').filter(Boolean).map(segment);

    if (path === '/') {
      only('GET');
      const readable = refusal(gate, req, { changes: false }) === null;
      return sendHtml(
        res,
        inboxPage({
          runs: readable ? listView(mvm.store, 30, touches) : null,
          targets: desk.targetNames(),
          store: mvm.store.dir,
          version: VERSION,
        }),
      );
    }
    if (path === '/inbox') {
      only('GET');
      return sendHtml(res, inboxFragment(listView(mvm.store, 30, touches)).text);
    }
    if (parts[0] !== 'api' || parts[1] !== 'runs' || parts.length > 4) {
      throw new HttpError(404, 'not_found', `no such path: ${path}`);
    }
    if (parts.length === 2 && method === 'POST') {
      const { target, inputs } = inputsFrom(await readJson(req));
      const runId = await desk.start(target, inputs);
      const status = mvm.store.getRun(runId)?.status ?? 'running';
      return send(res, 202, { runId, status }, { Location: `/api/runs/${runId}` });
    }
    if (parts.length === 2) {
      only('GET');
      const limit = Math.min(Math.max(Number(url.searchParams.get('limit') ?? 50) || 50, 1), 500);
      return send(res, 200, listView(mvm.store, limit, touches) as unknown as Json);
    }
    const id = mvm.store.findRun(parts[2]!).id;
    if (parts.length === 3) {
      only('GET');
      return send(res, 200, runView(mvm.store, id, touches) as unknown as Json);
    }
    if (parts[3] === 'events') {
      only('GET');
      return streamEntries(req, res, {
        store: mvm.store,
        runId: id,
        carrying: (r) => desk.carrying(r),
        pollMs,
        track: (end) => {
          streams.add(end);
          return () => streams.delete(end);
        },
      });
    }
    if (parts[3] === 'answers') {
      only('POST');
      const answers = answersFrom(await readJson(req));
      await desk.answer(id, answers);
      const status = mvm.store.getRun(id)?.status ?? 'running';
      return send(res, 202, { runId: id, status }, { Location: `/api/runs/${id}` });
    }
    throw new HttpError(404, 'not_found', `no such path: ${path}`);
  };

  const server = createServer((req, res) => {
    route(req, res).catch((e: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (e instanceof HttpError) {
        send(res, e.status, { error: { code: e.code, message: e.message } });
      } else if (e instanceof MvmError) {
        send(res, statusOf(e), { error: e.toJSON() as Json });
      } else {
        log({ type: 'internal', message: (e as Error).stack ?? String(e) });
        send(res, 500, { error: { code: 'internal', message: 'internal error' } });
      }
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    const failed = (e: NodeJS.ErrnoException) => {
      const where = `${host}:${options.port ?? 0}`;
      const why = e.code ?? e.message;
      reject(new ConfigError('listen_failed', `cannot listen on ${where} (${why})`, {}, e));
    };
    server.once('error', failed);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  gate.port = port;
  const shown = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}/`;
  log({ type: 'listening', url, host, port });

  return {
    url,
    host,
    port,
    token,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const end of [...streams]) end();
      await desk.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
