import { describe, expect, it } from 'vitest';
import { digest } from '../audit/canonical.js';
import type { Message, ToolSpec } from '../models/driver.js';
import { RequestDigests } from './request-digest.js';

const tool = (name: string): ToolSpec => ({
  name,
  description: `${name} a thing`,
  inputSchema: { type: 'object', properties: { z: { type: 'string' }, a: { type: 'number' } } },
});

const full = (messages: Message[], tools: ToolSpec[], schema?: object) =>
  digest({ messages, tools, schema });

describe('RequestDigests', () => {
  it('gives the digest of the whole request as the conversation grows', () => {
    const digests = new RequestDigests();
    const tools = [tool('fs/read'), tool('fs/write')];
    let history: Message[] = [{ role: 'system', content: 'you help' }];

    for (let turn = 0; turn < 30; turn++) {
      expect(digests.of(history, tools, undefined)).toBe(full(history, tools));
      history = [
        ...history,
        { role: 'assistant', content: '', toolCalls: [{ id: `c${turn}`, name: 'fs/read' }] },
        { role: 'tool', callId: `c${turn}`, name: 'fs/read', content: `"${turn}"\u2028\ud800` },
      ] as Message[];
    }
  });

  it('tells apart two conversations that share a first message, and a schema', () => {
    const digests = new RequestDigests();
    const first: Message = { role: 'system', content: 'you help' };
    const a: Message[] = [first, { role: 'user', content: 'a' }];
    const b: Message[] = [first, { role: 'user', content: 'b' }];
    const schema = { type: 'object', required: ['x'] };

    expect(digests.of(a, [], undefined)).toBe(full(a, []));
    expect(digests.of(b, [], schema)).toBe(full(b, [], schema));
    expect(digests.of(a, [], schema)).toBe(full(a, [], schema));
    expect(digests.of(b, [], undefined)).not.toBe(digests.of(a, [], undefined));
  });

  it('follows a list grown in place and a tool list that changes', () => {
    const digests = new RequestDigests();
    const messages: Message[] = [{ role: 'user', content: 'plan this' }];
    const one = [tool('mail/send')];

    expect(digests.of(messages, one, undefined)).toBe(full(messages, one));
    messages.push({ role: 'assistant', content: 'a plan' }, { role: 'user', content: 'again' });
    const two = [tool('mail/send'), tool('mail/read')];
    expect(digests.of(messages, two, undefined)).toBe(full(messages, two));
    expect(digests.of(messages.slice(0, 1), two, undefined)).toBe(full(messages.slice(0, 1), two));
    expect(digests.of([], two, undefined)).toBe(full([], two));
  });
});
