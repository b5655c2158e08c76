import { describe, expect, it } from 'vitest';
import type { MachineEvent } from '../interpreter/effects.js';
import type { ModelReply } from '../models/driver.js';
import type { Decision } from '../monitor/monitor.js';
import { progressLine } from './progress.js';

const CLEAR = '\r\x1b[2K';

/** A progress line on a fake clock, with what it wrote. */
function line(columns = 100) {
  let t = 0;
  const out: string[] = [];
  const progress = progressLine((s) => out.push(s), { now: () => t, columns: () => columns });
  return {
    out,
    at(ms: number, e: MachineEvent) {
      t = ms;
      progress(e);
    },
  };
}

const step = (op: string, steps: number): MachineEvent => ({ type: 'step', at: 'x', op, steps });
const reply = (usage: ModelReply['usage']): MachineEvent => ({
  type: 'model.reply',
  at: 'x',
  slot: 'main',
  reply: { text: '', toolCalls: [], stop: 'end', usage },
  ms: 1,
});

describe('progressLine', () => {
  it('shows the step, the instruction with its family, and tokens, cost and time so far', () => {
    const p = line();
    p.at(0, step('model.call', 3));
    p.at(1500, reply({ inputTokens: 1200, outputTokens: 34, cost: 0.0123 }));
    p.at(1600, step('halt', 4));
    expect(p.out).toEqual([
      `${CLEAR}mvm: step 3 · model.call · 0 tokens · 0.0s`,
      `${CLEAR}mvm: step 3 · model.call · 1,234 tokens · $0.0123 · 1.5s`,
      `${CLEAR}mvm: step 4 · control: halt · 1,234 tokens · $0.0123 · 1.6s`,
    ]);
  });

  it('redraws at most every 100 ms, but at once for a figure or an effect that waits', () => {
    const p = line();
    p.at(0, step('data.const', 1));
    p.at(50, step('data.const', 2));
    p.at(99, step('data.const', 3));
    p.at(100, step('data.const', 4));
    p.at(120, reply({ inputTokens: 1, outputTokens: 1 }));
    p.at(130, step('tool.call', 5));
    expect(p.out.map((s) => /step (\d+)/.exec(s)?.[1])).toEqual(['1', '4', '4', '5']);
  });

  it('writes streamed text on lines of its own, with no status line in it', () => {
    const p = line();
    p.at(0, step('model.call', 1));
    p.at(10, { type: 'model.text', at: 'x', slot: 'main', delta: 'Hel' });
    p.at(500, step('data.move', 2));
    p.at(20, { type: 'model.text', at: 'x', slot: 'main', delta: 'lo' });
    p.at(30, reply({ inputTokens: 2, outputTokens: 3 }));
    expect(p.out).toEqual([
      `${CLEAR}mvm: step 1 · model.call · 0 tokens · 0.0s`,
      CLEAR,
      'Hel',
      'lo',
      '\n',
      `${CLEAR}mvm: step 2 · data.move · 5 tokens · 0.0s`,
    ]);
  });

  it('clears its line before the run shows, asks or ends, and only when it is shown', () => {
    const p = line();
    const decision = (d: Decision): MachineEvent => ({ type: 'decision', at: 'x', decision: d });
    p.at(0, { type: 'user.show', at: 'x', value: { data: 'hi' } as never });
    p.at(0, step('tool.call', 1));
    p.at(1, decision({ verdict: 'allow', resource: 'tool:a/b', rule: null, reason: '' }));
    p.at(2, decision({ verdict: 'confirm', resource: 'tool:a/b', rule: null, reason: '' }));
    p.at(300, step('user.ask', 2));
    p.at(301, decision({ verdict: 'allow', resource: 'user', rule: null, reason: '' }));
    p.at(400, step('halt', 3));
    p.at(401, { type: 'run.end', status: 'done', error: undefined });
    expect(p.out.filter((s) => s === CLEAR)).toHaveLength(3);
    expect(p.out[p.out.length - 1]).toBe(CLEAR);
  });

  it('keeps to the width of the terminal, and counts only real figures', () => {
    const p = line(30);
    p.at(0, reply({ inputTokens: -5, outputTokens: Number.NaN, cost: Number.POSITIVE_INFINITY }));
    expect(p.out).toEqual([`${CLEAR}mvm: step 0 · starting · 0 to`]);
  });
});
