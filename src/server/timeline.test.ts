import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../audit/chain.js';
import type { Json } from '../spec/types.js';
import { decisionsOf, effectsOf } from './timeline.js';

/** A journal from [type, at, data] triples, a given number of milliseconds apart. */
function journal(rows: Array<[string, string | undefined, Json]>, stepMs = 10): JournalEntry[] {
  const t0 = Date.parse('2026-01-01T00:00:00.000Z');
  return rows.map(([type, at, data], i) => {
    const e: JournalEntry = {
      seq: i + 1,
      ts: new Date(t0 + i * stepMs).toISOString(),
      type,
      data,
      prev: '',
      hash: `h${i + 1}`,
    };
    if (at !== undefined) e.at = at;
    return e;
  });
}

const allow = (resource: string): Json => ({ resource, verdict: 'allow', rule: 'r', reason: '' });
const shape = (entries: JournalEntry[]) =>
  effectsOf(entries).map((e) => [e.family, e.head.type, e.entries.map((x) => x.seq)]);

describe('effectsOf', () => {
  it('gathers a tool call: its decisions, resources, intent and result', () => {
    const entries = journal([
      ['run.start', undefined, {}],
      ['decision', 'p.b[0]', allow('tool:fs/read')],
      ['tool.resources', 'p.b[0]', { callId: 'c1', resources: ['fs:/a'] }],
      ['decision', 'p.b[0]', allow('fs:/a')],
      ['tool.intent', 'p.b[0]', { callId: 'c1', name: 'fs/read', args: {} }],
      ['tool.result', 'p.b[0]', { callId: 'c1', ms: 4.5 }],
      ['run.end', undefined, { status: 'done' }],
    ]);
    expect(shape(entries)).toEqual([
      ['run', 'run.start', [1]],
      ['tool', 'tool.intent', [2, 3, 4, 5, 6]],
      ['run', 'run.end', [7]],
    ]);
    const [, call] = effectsOf(entries);
    expect(call!.outcome?.type).toBe('tool.result');
    expect(call!.measuredMs).toBe(4.5);
    expect(decisionsOf(call!).map((d) => d.resource)).toEqual(['tool:fs/read', 'fs:/a']);
    // From the entry before the call to its result.
    expect([call!.startMs, call!.endMs]).toEqual([0, 50]);
  });

  it('gathers a resource read and a prompt with their decisions', () => {
    const entries = journal([
      ['decision', 'a', allow('resource:ev/demo://x')],
      ['resource.intent', 'a', { ns: 'ev', op: 'read', id: 'r1', uri: 'demo://x' }],
      ['resource.result', 'a', { ns: 'ev', op: 'read', id: 'r1', ms: 3 }],
      ['prompt.intent', 'b', { ns: 'ev', op: 'list' }],
      ['prompt.error', 'b', { ns: 'ev', op: 'list' }],
    ]);
    expect(shape(entries)).toEqual([
      ['other', 'resource.intent', [1, 2, 3]],
      ['other', 'prompt.intent', [4, 5]],
    ]);
    expect(effectsOf(entries)[0]!.measuredMs).toBe(3);
  });

  it('matches a model reply to its intent by slot and number', () => {
    const entries = journal([
      ['decision', 'a', allow('model:main')],
      ['model.load', 'a', { slot: 'main' }],
      ['model.intent', 'a', { slot: 'main', n: 1 }],
      ['model.reply', 'a', { slot: 'main', n: 1, ms: 2 }],
      ['decision', 'a', allow('model:main')],
      ['model.intent', 'a', { slot: 'main', n: 2 }],
      ['model.error', 'a', { slot: 'main', n: 2 }],
    ]);
    expect(shape(entries)).toEqual([
      ['model', 'model.intent', [1, 2, 3, 4]],
      ['model', 'model.intent', [5, 6, 7]],
    ]);
  });

  it('keeps a decision that stopped the run as an effect of its own', () => {
    const entries = journal([
      ['run.start', undefined, {}],
      ['decision', 'a', { resource: 'model:main', verdict: 'deny', rule: 'r', reason: 'no' }],
      ['run.end', undefined, { status: 'failed' }],
    ]);
    expect(shape(entries)).toEqual([
      ['run', 'run.start', [1]],
      ['policy', 'decision', [2]],
      ['run', 'run.end', [3]],
    ]);
  });

  it('shows a confirmation a run waited on, its answer and the call after the resume', () => {
    const entries = journal([
      ['decision', 'a', { resource: 'tool:m/del', verdict: 'confirm', rule: 'r', reason: '' }],
      ['confirm.request', 'a', { id: 'c1', tool: 'm/del' }],
      ['run.suspend', undefined, { pending: [] }],
      ['confirm.answer', undefined, { id: 'c1', verdict: 'approve' }],
      ['run.resume', undefined, { answers: ['c1'] }],
      ['tool.intent', 'a', { callId: 'x', name: 'm/del', args: {} }],
      ['tool.result', 'a', { callId: 'x' }],
    ]);
    expect(shape(entries)).toEqual([
      ['policy', 'confirm.request', [1, 2]],
      ['run', 'run.suspend', [3]],
      ['policy', 'confirm.answer', [4]],
      ['run', 'run.resume', [5]],
      ['tool', 'tool.intent', [6, 7]],
    ]);
  });

  it('closes a call whose outcome is unknown, and opens its repeat anew', () => {
    const entries = journal([
      ['tool.intent', 'a', { callId: 'x', name: 't/w', args: {} }],
      ['run.resume', undefined, {}],
      ['tool.unknown', 'a', { callId: 'x', name: 't/w' }],
      ['confirm.request', 'a', { id: 'c1' }],
      ['confirm.answer', 'a', { id: 'c1', verdict: 'approve' }],
      ['tool.intent', 'a', { callId: 'x', name: 't/w', args: {}, attempt: 2 }],
      ['tool.result', 'a', { callId: 'x' }],
    ]);
    expect(shape(entries)).toEqual([
      ['tool', 'tool.intent', [1, 3]],
      ['run', 'run.resume', [2]],
      ['tool', 'tool.intent', [4, 5, 6, 7]],
    ]);
  });

  it('puts every entry in exactly one effect, whatever the journal holds', () => {
    const entries = journal([
      ['tool.result', 'a', { callId: 'nobody' }],
      ['mystery', undefined, [1, 2]],
      ['decision', 'b', null],
      ['model.reply', 'c', 'not an object'],
    ]);
    const seqs = effectsOf(entries).flatMap((e) => e.entries.map((x) => x.seq));
    expect(seqs).toEqual([1, 2, 3, 4]);
  });

  it('takes a clock that goes back, or does not parse, as standing still', () => {
    const entries = journal([
      ['run.start', undefined, {}],
      ['user.show', 'a', {}],
      ['user.show', 'b', {}],
    ]);
    entries[1]!.ts = 'yesterday';
    entries[2]!.ts = '2025-01-01T00:00:00.000Z';
    for (const e of effectsOf(entries)) expect([e.startMs, e.endMs]).toEqual([0, 0]);
  });
});
