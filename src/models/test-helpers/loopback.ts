import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DriverError } from '../../spec/errors.js';

/**
 * Loopback HTTP servers for driver tests: each listens on 127.0.0.1 on an ephemeral port,
 * records every request, and lets a handler answer as a provider would.
 */

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (seen: Seen, res: ServerResponse, index: number) => void;

export interface TestServer {
  /** `http://127.0.0.1:<port>` followed by the prefix given to `serve`. */
  baseUrl: string;
  seen: Seen[];
  /** The parsed JSON body of request `index`. */
  body(index: number): Record<string, unknown>;
  close(): Promise<void>;
}

const open: TestServer[] = [];

/** Closes every server `serve` opened; call from afterEach. */
export async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((server) => server.close()));
}

export async function serve(handler: Handler, prefix = '/v1'): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      handler(request, res, seen.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const handle: TestServer = {
    baseUrl: `http://127.0.0.1:${port}${prefix}`,
    seen,
    body: (index) => JSON.parse(seen[index]?.body ?? 'null') as Record<string, unknown>,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.push(handle);
  return handle;
}

export function send(res: ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(text);
}

export interface StreamEnd {
  /** How the stream stops after the records: normally, by closing cleanly, or by a reset. */
  end?: 'normal' | 'close' | 'reset';
}

/** One SSE frame: `event:` when named, and the data as JSON (or as given when a string). */
export function frame(data: unknown, event?: string): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${text}\n\n`;
}

/**
 * Writes text in pieces, a tick apart, so that the client reads more than one chunk, then
 * ends as asked. `reset` destroys the socket: the client sees the connection drop mid-body.
 */
export function stream(
  res: ServerResponse,
  contentType: string,
  pieces: string[],
  { end = 'normal' }: StreamEnd = {},
): void {
  res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
  res.flushHeaders();
  const queue = [...pieces];
  const next = () => {
    const piece = queue.shift();
    if (piece !== undefined) {
      res.write(piece);
      setImmediate(next);
    } else if (end === 'reset') {
      res.socket?.destroy();
    } else {
      res.end();
    }
  };
  setImmediate(next);
}

/** SSE frames, each split in two at its middle so that frames straddle chunks. */
export function sse(res: ServerResponse, frames: string[], options?: StreamEnd): void {
  const pieces = frames.flatMap((text) => {
    const middle = Math.floor(text.length / 2);
    return [text.slice(0, middle), text.slice(middle)];
  });
  stream(res, 'text/event-stream', pieces, options);
}

export function ndjson(res: ServerResponse, records: unknown[], options?: StreamEnd): void {
  const lines = records.map((record) => `${JSON.stringify(record)}\n`);
  stream(res, 'application/x-ndjson', lines, options);
}

export async function failure(promise: Promise<unknown>): Promise<DriverError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof DriverError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}
