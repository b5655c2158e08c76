import { describe, expect, it } from 'vitest';
import { ndjsonLines, retryAfterMs, type SseEvent, sseEvents } from './http.js';

async function* from(chunks: string[]): AsyncGenerator<string> {
  for (const chunk of chunks) yield chunk;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('sseEvents', () => {
  it('frames events across chunks, with names, comments and multi-line data', async () => {
    const events = await all(
      sseEvents(
        from([
          ': keep-alive\n\nevent: message_start\r',
          '\ndata: {"a":1}\r\n\r\ndata: line one\ndata:line two\n\n',
          'id: 7\nretry: 10\ndata\n\nevent: ping\n\ndata: [DONE]\n\n',
        ]),
      ),
    );

    expect(events).toEqual<SseEvent[]>([
      { event: 'message_start', data: '{"a":1}' },
      { event: 'message', data: 'line one\nline two' },
      { event: 'message', data: '' },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('drops an event that the end of the stream left open', async () => {
    const events = await all(sseEvents(from(['data: whole\n\n', 'data: {"half'])));

    expect(events).toEqual([{ event: 'message', data: 'whole' }]);
  });

  it('accepts lone CR line endings', async () => {
    const events = await all(sseEvents(from(['data: a\r\rdata: b\r', '\r'])));

    expect(events.map((event) => event.data)).toEqual(['a', 'b']);
  });
});

describe('ndjsonLines', () => {
  it('yields each non-blank line and keeps a whole unterminated last line', async () => {
    const lines = await all(ndjsonLines(from(['{"a":1}\n\n{"b"', ':2}\r\n{"c":3}'])));

    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('drops an unterminated last line that is not whole JSON', async () => {
    const lines = await all(ndjsonLines(from(['{"a":1}\n{"done":tr'])));

    expect(lines).toEqual(['{"a":1}']);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and http dates, capped, and ignores nonsense', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');

    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('0.5', now)).toBe(500);
    expect(retryAfterMs('86400', now)).toBe(30_000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:03 GMT', now)).toBe(3000);
    expect(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
