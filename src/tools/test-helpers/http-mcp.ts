import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  type EventStore,
  StreamableHTTPServerTransport,
} from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** One HTTP request the server received, as the tests look at it. */
export interface SeenRequest {
  method: string;
  path: string;
  /** The JSON-RPC method of a POST to the endpoint, or of the first message of a batch. */
  rpc?: string;
  session?: string;
  lastEventId?: string;
  authorized: boolean;
  at: number;
}

export interface LoopbackMcpOptions {
  /** The `retry` the server asks of a client whose stream it closes (resumption). */
  retryMs?: number;
  /** Guard the endpoint with OAuth: a bearer token from the server's own authorization server. */
  oauth?: {
    /** Forget every token once this many tools/call requests were served with one. */
    revokeAfterCalls?: number;
    /** Issue tokens the endpoint never accepts. */
    neverAccept?: boolean;
  };
}

export interface LoopbackMcp {
  url: string;
  requests: SeenRequest[];
  /** Session ids the server handed out, in order. */
  sessions: string[];
  /** Sessions a client ended with DELETE. */
  ended: string[];
  /** Event ids sent on streams the server closed before they were done, in order. */
  cut: string[];
  /** Access tokens issued by the authorization server. */
  tokens: string[];
  /** Forgets every session, as a server that restarted would: their requests meet 404. */
  forget(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A Streamable HTTP MCP server on a loopback port, built from the SDK's server transport with
 * sessions and an event store, so that streams may be resumed. With `oauth` it is also its own
 * authorization server (metadata, dynamic registration, a code grant with PKCE) and answers
 * 401 to a request without a token it issued.
 *
 * Tools: `echo { text }`, and `pause`, which sends a log message, closes its response stream
 * (the client is to come back with `GET` and `Last-Event-ID` after `retryMs`), sends a second
 * message while the client is away, and answers.
 */
export async function loopbackMcp(options: LoopbackMcpOptions = {}): Promise<LoopbackMcp> {
  const requests: SeenRequest[] = [];
  const sessions: string[] = [];
  const ended: string[] = [];
  const cut: string[] = [];
  const tokens: string[] = [];
  const accepted = new Set<string>();
  const codes = new Map<string, string>();
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const events = new Map<string, { stream: string; message: JSONRPCMessage }>();
  let calls = 0;
  let base = '';

  const store: EventStore = {
    async storeEvent(stream, message) {
      const id = `${stream}:${events.size + 1}`;
      events.set(id, { stream, message });
      return id;
    },
    async getStreamIdForEventId(id) {
      return events.get(id)?.stream;
    },
    async replayEventsAfter(last, { send }) {
      const stream = events.get(last)?.stream ?? '';
      let after = false;
      for (const [id, event] of events) {
        if (id === last) after = true;
        else if (after && event.stream === stream) await send(id, event.message);
      }
      return stream;
    },
  };

  function mcpServer(): McpServer {
    const server = new McpServer(
      { name: 'loopback', version: '1.0.0' },
      { capabilities: { logging: {} } },
    );
    server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    server.registerTool('pause', {}, async (extra) => {
      const log = (data: string) =>
        extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', data },
        });
      await log('before the cut');
      cut.push([...events.keys()].at(-1) ?? '');
      extra.closeSSEStream?.();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await log('while away');
      return { content: [{ type: 'text', text: 'resumed' }] };
    });
    return server;
  }

  async function endpoint(req: IncomingMessage, res: ServerResponse, body: unknown) {
    const id = req.headers['mcp-session-id'];
    const session = typeof id === 'string' ? transports.get(id) : undefined;
    if (session) return session.handleRequest(req, res, body);
    if (req.method !== 'POST' || typeof id === 'string') {
      res.writeHead(typeof id === 'string' ? 404 : 400).end();
      return;
    }
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: store,
      ...(options.retryMs === undefined ? {} : { retryInterval: options.retryMs }),
      onsessioninitialized: (sid) => {
        sessions.push(sid);
        transports.set(sid, transport);
      },
      onsessionclosed: (sid) => {
        ended.push(sid);
        transports.delete(sid);
      },
    });
    await mcpServer().connect(transport);
    await transport.handleRequest(req, res, body);
  }

  const json = (res: ServerResponse, status: number, value: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));

  /** The authorization server's endpoints; false when the path is not one of them. */
  function authorization(req: IncomingMessage, res: ServerResponse, path: string, body: string) {
    const url = new URL(req.url ?? '/', base);
    if (path.startsWith('/.well-known/oauth-protected-resource')) {
      json(res, 200, { resource: `${base}/mcp`, authorization_servers: [base] });
    } else if (path === '/.well-known/oauth-authorization-server') {
      json(res, 200, {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
      });
    } else if (path === '/register' && req.method === 'POST') {
      const metadata = JSON.parse(body) as Record<string, unknown>;
      json(res, 201, {
        ...metadata,
        client_id: `client-${randomUUID()}`,
        token_endpoint_auth_method: 'none',
      });
    } else if (path === '/authorize') {
      const code = randomUUID();
      codes.set(code, url.searchParams.get('code_challenge') ?? '');
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      const state = url.searchParams.get('state');
      if (state) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.href }).end();
    } else if (path === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(body);
      const challenge = codes.get(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const proof = createHash('sha256').update(verifier).digest('base64url');
      if (form.get('grant_type') !== 'authorization_code' || challenge !== proof) {
        json(res, 400, { error: 'invalid_grant' });
        return true;
      }
      codes.delete(form.get('code') ?? '');
      const token = `tok-${randomUUID()}`;
      tokens.push(token);
      if (!options.oauth?.neverAccept) accepted.add(token);
      json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
    } else {
      return false;
    }
    return true;
  }

  const http = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const text = Buffer.concat(chunks).toString();
        const path = new URL(req.url ?? '/', base).pathname;
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const body: unknown = path === '/mcp' && text !== '' ? JSON.parse(text) : undefined;
        const first = Array.isArray(body) ? body[0] : body;
        const rpc = (first as { method?: unknown } | undefined)?.method;
        const lastEventId = req.headers['last-event-id'];
        const session = req.headers['mcp-session-id'];
        requests.push({
          method: req.method ?? '',
          path,
          ...(typeof rpc === 'string' ? { rpc } : {}),
          ...(typeof session === 'string' ? { session } : {}),
          ...(typeof lastEventId === 'string' ? { lastEventId } : {}),
          authorized: bearer !== undefined && accepted.has(bearer),
          at: Date.now(),
        });
        if (options.oauth && authorization(req, res, path, text)) return;
        if (path !== '/mcp') return res.writeHead(404).end();
        if (options.oauth && !(bearer && accepted.has(bearer))) {
          const metadata = `${base}/.well-known/oauth-protected-resource/mcp`;
          res.writeHead(401, { 'www-authenticate': `Bearer resource_metadata="${metadata}"` });
          return res.end();
        }
        if (rpc === 'tools/call' && ++calls === options.oauth?.revokeAfterCalls) {
          // This call is let in; the next request finds its token forgotten.
          accepted.clear();
        }
        await endpoint(req, res, body);
      })().catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  return {
    url: `${base}/mcp`,
    requests,
    sessions,
    ended,
    cut,
    tokens,
    async forget() {
      const open = [...transports.values()];
      transports.clear();
      // Closed without a word to the client, which learns of it at its next request.
      for (const t of open) t.onclose = undefined;
      await Promise.all(open.map((t) => t.close()));
    },
    async close() {
      await Promise.all([...transports.values()].map((t) => t.close()));
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}
