import { describe, expect, it } from 'vitest';
import type { Json } from '../spec/types.js';
import { appendMessages, checkSize, MAX_VALUE_CHARS, MAX_VALUE_DEPTH } from './values.js';

const trapCode = (f: () => void) => {
  try {
    f();
    return 'none';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('the size of a history grown by appending', () => {
  it('is held to the limits as a history measured afresh is', () => {
    let deep: Json = 'leaf';
    for (let i = 0; i < MAX_VALUE_DEPTH + 5; i++) deep = [deep];
    const history: Json = [{ role: 'system', content: 'hi' }];
    checkSize(history);

    const tooDeep = appendMessages(history, 'assistant', { text: '', toolCalls: [deep] });
    const tooLarge = appendMessages(history, 'user', 'x'.repeat(MAX_VALUE_CHARS));
    const fine = appendMessages(history, 'user', 'x'.repeat(MAX_VALUE_CHARS - 100));

    expect(trapCode(() => checkSize(tooDeep))).toBe('too_deep');
    expect(trapCode(() => checkSize(structuredClone(tooDeep)))).toBe('too_deep');
    expect(trapCode(() => checkSize(tooLarge))).toBe('too_large');
    expect(trapCode(() => checkSize(structuredClone(tooLarge)))).toBe('too_large');
    expect(trapCode(() => checkSize(fine))).toBe('none');
  });

  it('adds up across many appends to what one measurement finds', () => {
    let history: Json = [];
    checkSize(history);
    const chunk = 'y'.repeat(Math.floor(MAX_VALUE_CHARS / 40));
    let appended = 0;
    while (appended < 100 && trapCode(() => checkSize(history)) === 'none') {
      history = appendMessages(history, 'user', chunk);
      appended++;
    }
    // One message fewer fits when measured afresh, so the sums agree.
    const before = (history as Json[]).slice(0, -1);

    expect(appended).toBeGreaterThan(30);
    expect(appended).toBeLessThan(100);
    expect(trapCode(() => checkSize(structuredClone(history)))).toBe('too_large');
    expect(trapCode(() => checkSize(structuredClone(before)))).toBe('none');
  });
});
