import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { type Gate, isLoopback, newToken, refusal, tokenMatches } from './auth.js';

const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('the gate of mvm serve', () => {
  const token = newToken();
  const loop: Gate = { token, host: '127.0.0.1', port: 7411 };

  it('makes long random tokens and compares them whole', () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(token);
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(token.slice(0, -1), token)).toBe(false);
    expect(tokenMatches('', token)).toBe(false);
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) {
      expect(isLoopback(h)).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '192.0.2.1', '127.0.0.1.example']) {
      expect(isLoopback(h)).toBe(false);
    }
  });

  it('on loopback: reads freely under its own Host, changes need the token and its origin', () => {
    const read = { changes: false };
    const change = { changes: true };
    const auth = { authorization: `Bearer ${token}` };
    expect(refusal(loop, req({ host: '127.0.0.1:7411' }), read)).toBeNull();
    expect(refusal(loop, req({ host: 'localhost:7411' }), read)).toBeNull();
    expect(refusal(loop, req({ host: 'evil.example:7411' }), read)?.status).toBe(421);
    expect(refusal(loop, req({ host: '127.0.0.1:7411' }), change)?.status).toBe(401);
    expect(refusal(loop, req({ host: '127.0.0.1:7411', ...auth }), change)).toBeNull();
    const from = (origin: string) =>
      refusal(loop, req({ host: '127.0.0.1:7411', origin, ...auth }), change)?.status;
    expect(from('http://127.0.0.1:7411')).toBeUndefined();
    expect(from('http://localhost:7411')).toBeUndefined();
    expect(from('http://localhost:7412')).toBe(403);
    expect(from('https://127.0.0.1:7411')).toBe(403);
    expect(from('null')).toBe(403);
  });

  it('elsewhere: every request but the empty page needs the token', () => {
    const wide: Gate = { token, host: '192.0.2.1', port: 7411 };
    const host = { host: 'mvm.example:7411' };
    expect(refusal(wide, req(host), { changes: false })?.status).toBe(401);
    expect(refusal(wide, req(host), { changes: false, open: true })).toBeNull();
    const auth = { ...host, authorization: `Bearer ${token}` };
    expect(refusal(wide, req(auth), { changes: false })).toBeNull();
    expect(
      refusal(wide, req({ ...auth, origin: 'http://mvm.example:7411' }), { changes: true }),
    ).toBeNull();
    const foreign = { ...auth, origin: 'http://evil.example' };
    expect(refusal(wide, req(foreign), { changes: true })?.status).toBe(403);
  });
});
