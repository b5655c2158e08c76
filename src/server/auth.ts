import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may do what on `mvm serve`. The token is made at start and shown once; a request that
 * changes anything must carry it as `Authorization: Bearer TOKEN`, and must not come from
 * another site's page (its Origin, when a browser sends one, is the server's own). Bound to
 * loopback, reading needs no token, but the Host header must name the loopback address, so
 * that a page on a rebound DNS name cannot read through a visitor's browser. Bound to any
 * other address, every request but the empty page needs the token.
 */

/** 32 random bytes as URL-safe text. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

export interface Gate {
  token: string;
  /** The address bound: loopback relaxes reading and pins the Host header. */
  host: string;
  port: number;
}

export type Refusal = { status: 401 | 403 | 421; message: string };

const digestOf = (s: string) => createHash('sha256').update(s).digest();

/** Compares in constant time, whatever the lengths. */
export function tokenMatches(given: string, token: string): boolean {
  return timingSafeEqual(digestOf(given), digestOf(token));
}

/** The `host:port` names a browser reaches this server by: loopback, and the address bound. */
function ownNames(gate: Gate): Set<string> {
  const hosts = [
    '127.0.0.1',
    'localhost',
    '[::1]',
    gate.host.includes(':') ? `[${gate.host}]` : gate.host,
  ];
  return new Set(hosts.map((h) => `${h.toLowerCase()}:${gate.port}`));
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/**
 * Whether the request may go on: null, or why not. `changes` is true for anything that
 * changes state; `open` for what holds no data (the page's empty shell).
 */
export function refusal(
  gate: Gate,
  req: IncomingMessage,
  kind: { changes: boolean; open?: boolean },
): Refusal | null {
  const loopback = isLoopback(gate.host);
  const names = ownNames(gate);
  const host = (req.headers.host ?? '').toLowerCase();
  if (loopback && !names.has(host)) {
    return { status: 421, message: `host '${host}' is not this server's loopback address` };
  }
  if (kind.changes) {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const own = origin !== undefined && names.has(origin.toLowerCase().replace(/^http:\/\//, ''));
    const sameHost = origin !== undefined && origin.toLowerCase() === `http://${host}`;
    if ((origin !== undefined && !own && !sameHost) || site === 'cross-site') {
      return { status: 403, message: `requests from origin '${origin ?? site}' are refused` };
    }
  }
  if (kind.open || (loopback && !kind.changes)) return null;
  const given = bearer(req);
  if (given === undefined) return { status: 401, message: 'a bearer token is required' };
  if (!tokenMatches(given, gate.token)) return { status: 401, message: 'the token is wrong' };
  return null;
}
