import type { IncomingMessage, ServerResponse } from 'node:http';
import { pendingOf } from '../host/answers.js';
import type { RunStore } from '../store/store.js';

/** The statuses at which a run stops appending until someone acts. */
const STOPPED = new Set(['done', 'failed', 'interrupted', 'waiting']);

export interface StreamOptions {
  store: RunStore;
  runId: string;
  /** Whether this server is carrying the run on: a stopped status is final only if not. */
  carrying: (runId: string) => boolean;
  pollMs: number;
  /** Gives a function that ends the stream, for the server's shutdown. */
  track: (end: () => void) => () => void;
}

/**
 * A run's journal as Server-Sent Events: each entry as an `entry` event whose id is its
 * sequence number, as they are appended (the store is polled), then one `end` event with the
 * status and what a waiting run waits on. A client that reconnects with `Last-Event-ID`, or
 * asks `?after=SEQ`, gets only the entries after it.
 */
export function streamEntries(req: IncomingMessage, res: ServerResponse, o: StreamOptions) {
  const url = new URL(req.url ?? '/', 'http://x');
  const from = Number(req.headers['last-event-id'] ?? url.searchParams.get('after') ?? 0);
  let after = Number.isSafeInteger(from) && from > 0 ? from : 0;

  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    Connection: 'keep-alive',
    'X-Content-Type-Options': 'nosniff',
  });
  res.write(': mvm journal\n\n');

  let timer: NodeJS.Timeout | undefined;
  let beats = 0;
  const end = () => {
    clearTimeout(timer);
    untrack();
    if (!res.writableEnded) res.end();
  };
  const untrack = o.track(end);
  req.on('close', end);

  const tick = () => {
    if (res.writableEnded) return;
    // The status is read before the entries: a run seen stopped has appended all it will.
    const run = o.store.getRun(o.runId);
    const stopped = !run || (STOPPED.has(run.status) && !o.carrying(o.runId));
    const entries = o.store.entries(o.runId, after);
    for (const e of entries) {
      res.write(`id: ${e.seq}\nevent: entry\ndata: ${JSON.stringify(e)}\n\n`);
      after = e.seq;
    }
    if (stopped) {
      const status = run?.status ?? 'gone';
      const pending = status === 'waiting' ? pendingOf(o.store.entries(o.runId)) : [];
      res.write(`event: end\ndata: ${JSON.stringify({ status, pending, entries: after })}\n\n`);
      end();
      return;
    }
    // A comment now and then keeps proxies and idle timeouts from closing a quiet stream.
    beats = (beats + 1) % Math.max(1, Math.round(15_000 / o.pollMs));
    if (beats === 0) res.write(': still running\n\n');
    timer = setTimeout(tick, o.pollMs);
  };
  tick();
}
