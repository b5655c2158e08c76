import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { Json, JsonObject } from '../spec/types.js';

/**
 * Control flow that untrusted data decides must not hand a trusted value on: each program
 * picks between values of its own (trusted constants) by a condition an untrusted tool
 * chose, then tries to send what it picked. Whichever way the condition goes, the send
 * must be judged as made from untrusted data, or not happen; never go out as trusted.
 */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

function machine(page: string, sent: Json[]) {
  const config = parseConfig(
    {
      models: {},
      tools: { web: { label: { integrity: 'untrusted' } }, mail: {} },
      rules: [{ allow: 'tool:**' }, { allow: 'user' }],
    },
    { path: null, dir: process.cwd() },
  );
  const mvm = new Mvm({
    config,
    storeDir: mkdtempSync(join(tmpdir(), 'mvm-control-')),
    functions: {
      web: { page: { description: 'a page', run: () => page } },
      mail: {
        send: {
          description: 'sends mail',
          run: (args) => {
            sent.push(args);
            return 'sent';
          },
        },
      },
    },
  });
  open.push(mvm);
  return mvm;
}

/** `u` ← whether the untrusted page says yes; `A`, `B` ← constants; `list` ← [A, B, C]. */
const prelude: JsonObject[] = [
  { op: 'tool.load', ns: 'web' },
  { op: 'tool.load', ns: 'mail' },
  { op: 'data.const', value: {}, dst: 'none' },
  { op: 'tool.call', tool: 'web/page', args: 'none', dst: 'r' },
  { op: 'data.get', src: 'r', path: 'content', dst: 'text' },
  { op: 'data.compare', a: 'text', cmp: 'eq', value: 'yes', dst: 'u' },
  { op: 'data.const', value: 'A', dst: 'A' },
  { op: 'data.const', value: 'B', dst: 'B' },
  { op: 'data.const', value: ['A', 'B', 'C'], dst: 'list' },
];

/** Sends the register `src`, then halts with the result. */
const send = (src: string): JsonObject[] => [
  { op: 'data.object', fields: { body: src }, dst: 'mail_args' },
  { op: 'tool.call', tool: 'mail/send', args: 'mail_args', dst: 'out' },
  { op: 'halt', src: 'out' },
];

async function run(page: string, body: JsonObject[], procs: JsonObject = {}) {
  const sent: Json[] = [];
  const mvm = machine(page, sent);
  const image = imageFromObject({
    mvm: 1,
    name: 'control',
    tools: { web: {}, mail: {} },
    permissions: ['tool:**', 'user'],
    procedures: { main: { body: [...prelude, ...body] }, ...procs },
  });
  const result = await mvm.run(image);
  expect(result.error ?? null).toBeNull();
  const decision = mvm.store
    .entries(result.runId)
    .filter((e) => e.type === 'decision')
    .map((e) => e.data as JsonObject)
    .find((d) => d.resource === 'tool:mail/send');
  return { sent, decision };
}

/** Runs `body` with the page saying yes and saying no; neither may send a trusted value. */
async function neverTrusted(body: JsonObject[], procs: JsonObject = {}) {
  for (const page of ['yes', 'no']) {
    const { sent, decision } = await run(page, body, procs);
    expect(sent, `the page said ${page}`).toEqual([]);
    if (decision) {
      expect(decision).toMatchObject({ verdict: 'deny', rule: 'flow.untrusted: deny' });
      expect((decision.context as JsonObject).sources).toContain('tool:web/page#call_1');
    }
  }
}

describe('labels of control flow', () => {
  it('a register the other branch would have written carries the condition', async () => {
    await neverTrusted([
      { op: 'data.move', src: 'A', dst: 'pick' },
      { op: 'if', cond: 'u', then: [{ op: 'data.move', src: 'B', dst: 'pick' }] },
      ...send('pick'),
    ]);
  });

  it('a flag cleared in a branch cannot vouch for the branch it then opens', async () => {
    await neverTrusted([
      { op: 'data.const', value: true, dst: 'flag' },
      { op: 'if', cond: 'u', then: [{ op: 'data.const', value: false, dst: 'flag' }] },
      { op: 'data.move', src: 'A', dst: 'pick' },
      { op: 'if', cond: 'flag', then: [{ op: 'data.move', src: 'B', dst: 'pick' }] },
      ...send('pick'),
    ]);
  });

  it('a value returned from a branch, or after it, carries the condition', async () => {
    const procs: JsonObject = {
      choose: {
        params: ['u', 'A', 'B'],
        body: [
          { op: 'if', cond: 'u', then: [{ op: 'return', src: 'A' }] },
          { op: 'return', src: 'B' },
        ],
      },
    };
    await neverTrusted(
      [
        { op: 'call', proc: 'choose', args: { u: 'u', A: 'A', B: 'B' }, dst: 'pick' },
        ...send('pick'),
      ],
      procs,
    );
  });

  it('a loop left early by the data decides what was written last', async () => {
    await neverTrusted([
      { op: 'data.move', src: 'A', dst: 'pick' },
      {
        op: 'foreach',
        src: 'list',
        as: 'item',
        body: [
          { op: 'if', cond: 'u', then: [{ op: 'break' }] },
          { op: 'data.move', src: 'item', dst: 'pick' },
        ],
      },
      ...send('pick'),
    ]);
  });

  it('a loop the data may end sends nothing after its first chance to end', async () => {
    // Without the guard, an untrusted condition would choose how many of the sends happen.
    const { sent } = await run('no', [
      {
        op: 'foreach',
        src: 'list',
        as: 'item',
        body: [
          { op: 'if', cond: 'u', then: [{ op: 'continue' }] },
          { op: 'data.object', fields: { body: 'item' }, dst: 'mail_args' },
          { op: 'tool.call', tool: 'mail/send', args: 'mail_args', dst: 'out' },
        ],
      },
      { op: 'halt' },
    ]);
    expect(sent).toEqual([]);
  });

  it('a loop over an untrusted list that never ran still decided what is left', async () => {
    await neverTrusted([
      { op: 'data.move', src: 'A', dst: 'pick' },
      // An empty list the page's data decided.
      { op: 'data.const', value: [], dst: 'empty' },
      { op: 'data.compare', a: 'text', cmp: 'ne', value: '', dst: 'any' },
      { op: 'if', cond: 'any', then: [{ op: 'data.move', src: 'empty', dst: 'empty' }] },
      {
        op: 'foreach',
        src: 'empty',
        as: 'item',
        body: [{ op: 'data.move', src: 'B', dst: 'pick' }],
      },
      ...send('pick'),
    ]);
  });

  it('a while loop the data stops decides what its body wrote', async () => {
    await neverTrusted([
      { op: 'data.move', src: 'A', dst: 'pick' },
      {
        op: 'loop',
        max: 3,
        onLimit: 'stop',
        while: 'u',
        body: [
          { op: 'data.move', src: 'B', dst: 'pick' },
          { op: 'data.const', value: false, dst: 'u' },
        ],
      },
      ...send('pick'),
    ]);
  });

  it('a trusted choice stays trusted', async () => {
    const { sent } = await run('yes', [
      { op: 'data.const', value: true, dst: 'mine' },
      { op: 'data.move', src: 'A', dst: 'pick' },
      { op: 'if', cond: 'mine', then: [{ op: 'data.move', src: 'B', dst: 'pick' }] },
      {
        op: 'foreach',
        src: 'list',
        as: 'item',
        body: [
          { op: 'data.compare', a: 'item', cmp: 'eq', value: 'C', dst: 'last' },
          { op: 'if', cond: 'last', then: [{ op: 'break' }] },
        ],
      },
      ...send('pick'),
    ]);
    expect(sent).toEqual([{ body: 'B' }]);
  });
});
