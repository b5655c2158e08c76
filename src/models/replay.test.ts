import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DriverError } from '../spec/errors.js';
import type { ModelRequest } from './driver.js';
import { ReplayDriver } from './replay.js';

const req = (tools: string[] = []): ModelRequest => ({
  slot: 'main',
  messages: [{ role: 'user', content: 'hi' }],
  tools: tools.map((name) => ({ name, description: '', inputSchema: { type: 'object' } })),
});

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mvm-replay-')), 'replies.yaml');
  writeFileSync(path, text);
  return path;
}

describe('the replay driver', () => {
  it('plays replies in order, with arguments kept as raw text', async () => {
    const d = ReplayDriver.fromFile(
      file(
        [
          'mvmReplay: 1',
          'replies:',
          '  - toolCalls: [{ name: fs/read, arguments: { path: a.md } }]',
          '  - { text: done, usage: { inputTokens: 3, outputTokens: 1 } }',
        ].join('\n'),
      ),
    );
    const first = await d.call(req());
    expect(first.toolCalls).toEqual([
      { id: 'call_1_0', name: 'fs/read', arguments: '{"path":"a.md"}' },
    ]);
    expect(first.stop).toBe('tool_calls');
    const second = await d.call(req());
    expect(second).toMatchObject({
      text: 'done',
      stop: 'end',
      usage: { inputTokens: 3, outputTokens: 1 },
    });
  });

  it('fails clearly when asked for more replies than were recorded', async () => {
    const d = ReplayDriver.fromFile(file('mvmReplay: 1\nreplies: [{ text: one }]\n'));
    await d.call(req());
    const err = await d.call(req()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriverError);
    expect(err).toMatchObject({ code: 'replay_exhausted', data: { asked: 2, recorded: 1 } });
  });

  it('refuses a reply recorded with a different tool set, naming the difference', async () => {
    const d = ReplayDriver.fromFile(
      file('mvmReplay: 1\nreplies: [{ tools: [a/x, a/y], text: t }]\n'),
    );
    const err = await d.call(req(['a/x', 'a/z'])).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'replay_tool_set_mismatch',
      data: { missing: ['a/y'], extra: ['a/z'] },
    });
    expect(await d.call(req(['a/y', 'a/x']))).toMatchObject({ text: 't' });
  });

  it('prices recorded tokens when its binding has a price, keeping a recorded cost', async () => {
    const d = ReplayDriver.fromBinding(
      {
        driver: 'replay',
        price: { inputPerMTok: 3, outputPerMTok: 15 },
        replies: [
          { text: 'a', usage: { inputTokens: 1000, outputTokens: 200 } },
          { text: 'b', usage: { inputTokens: 1000, outputTokens: 200, cost: 0.5 } },
        ],
      },
      tmpdir(),
    );
    expect((await d.call(req())).usage).toEqual({
      inputTokens: 1000,
      outputTokens: 200,
      cost: (1000 * 3 + 200 * 15) / 1e6,
    });
    expect((await d.call(req())).usage.cost).toBe(0.5);
    const unpriced = ReplayDriver.fromBinding({ driver: 'replay', replies: [{ text: 'c' }] }, '.');
    expect((await unpriced.call(req())).usage).toEqual({ inputTokens: 0, outputTokens: 0 });
    const bad = { driver: 'replay', price: { inputPerMTok: -1, outputPerMTok: 1 }, replies: [] };
    expect(() => ReplayDriver.fromBinding(bad, '.')).toThrow(/price\.inputPerMTok/);
  });

  it('rejects a malformed replay file with the place of the problem', () => {
    const bad = (text: string) => () => ReplayDriver.fromFile(file(text));
    expect(bad('mvmReplay: 2\nreplies: []\n')).toThrow(ConfigError);
    expect(bad('mvmReplay: 1\nreplies: [{ toolCalls: [{ id: x }] }]\n')).toThrow(
      /replies\[0\]\.toolCalls\[0\]/,
    );
    expect(bad('mvmReplay: 1\nreplies: [\n')).toThrow(/:\d+:\d+: not valid YAML/);
    expect(bad('mvmReplay: 1\nreplies: [{ usage: { inputTokens: "7" } }]\n')).toThrow(
      /replies\[0\]\.usage\.inputTokens/,
    );
  });
});
