import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { JsonObject } from '../spec/types.js';

/**
 * Label propagation through every opcode that makes a value: each case starts from `x`, a
 * string returned by an untrusted tool readable by the user only, applies one instruction
 * and shows the result; the label journaled with the shown value must still name the tool.
 */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

const SOURCE = 'tool:src/get#call_1';

/** Instructions that set `x` (the tainted string) and `list` (a tainted list). */
const prelude = [
  { op: 'tool.load', ns: 'src', dst: 'tools' },
  { op: 'data.const', value: {}, dst: 'none' },
  { op: 'tool.call', tool: 'src/get', args: 'none', dst: 'r' },
  { op: 'data.get', src: 'r', path: 'content', dst: 'x' },
  { op: 'parse.json', src: 'x', dst: 'list' },
];

function machine(replies: unknown[] = []) {
  const config = parseConfig(
    {
      models: { main: { driver: 'replay', replies } },
      tools: { src: { label: { integrity: 'untrusted', readers: ['user'] } } },
      rules: [
        { allow: 'model:main' },
        { allow: 'tool:src/*' },
        { allow: 'user' },
        { allow: 'mem:**' },
      ],
    },
    { path: null, dir: process.cwd() },
  );
  const mvm = new Mvm({
    config,
    storeDir: mkdtempSync(join(tmpdir(), 'mvm-labels-')),
    functions: { src: { get: { description: 'gives data', run: () => '["a", "b"]' } } },
  });
  open.push(mvm);
  return mvm;
}

async function shownLabels(body: JsonObject[], replies: unknown[] = []) {
  const mvm = machine(replies);
  const image = {
    mvm: 1,
    name: 'labels',
    models: { main: {} },
    tools: { src: {} },
    permissions: ['model:main', 'tool:src/*', 'user', 'mem:**'],
    procedures: {
      main: { body: [...prelude, ...body] },
      same: { params: ['v'], body: [{ op: 'return', src: 'v' }] },
    },
  };
  const result = await mvm.run(imageFromObject(image));
  expect(result.error ?? null).toBeNull();
  return mvm.store
    .entries(result.runId)
    .filter((e) => e.type === 'user.show')
    .map((e) => (e.data as JsonObject).label as JsonObject);
}

const cases: [string, JsonObject[]][] = [
  ['data.move', [{ op: 'data.move', src: 'x', dst: 'y' }]],
  ['data.get', [{ op: 'data.get', src: 'list', path: '0', dst: 'y' }]],
  ['data.template', [{ op: 'data.template', template: 'said: {{x}}', dst: 'y' }]],
  ['data.object', [{ op: 'data.object', fields: { said: 'x' }, dst: 'y' }]],
  [
    'data.concat',
    [
      { op: 'data.const', value: ['c'], dst: 'mine' },
      { op: 'data.concat', srcs: ['mine', 'list'], dst: 'y' },
    ],
  ],
  ['data.len', [{ op: 'data.len', src: 'x', dst: 'y' }]],
  ['data.compare', [{ op: 'data.compare', a: 'x', cmp: 'eq', value: 'no', dst: 'y' }]],
  ['parse.json', [{ op: 'parse.json', src: 'x', dst: 'y' }]],
  [
    'if (a value written in a branch carries the condition)',
    [
      { op: 'data.compare', a: 'x', cmp: 'eq', value: 'no', dst: 'c' },
      {
        op: 'if',
        cond: 'c',
        then: [{ op: 'data.const', value: 'yes', dst: 'y' }],
        else: [{ op: 'data.const', value: 'no', dst: 'y' }],
      },
    ],
  ],
  [
    'foreach',
    [
      { op: 'data.const', value: null, dst: 'y' },
      { op: 'foreach', src: 'list', as: 'el', body: [{ op: 'data.move', src: 'el', dst: 'y' }] },
    ],
  ],
  ['call and return', [{ op: 'call', proc: 'same', args: { v: 'x' }, dst: 'y' }]],
  [
    'mem.store and mem.load',
    [
      { op: 'mem.store', key: 'k', src: 'x' },
      { op: 'mem.load', key: 'k', dst: 'y' },
    ],
  ],
  [
    'history.new and history.append',
    [
      { op: 'history.new', system: 'be brief', dst: 'y' },
      { op: 'history.append', history: 'y', role: 'user', src: 'x' },
    ],
  ],
];

describe('labels', () => {
  it.each(cases)('%s keeps the label of what it was made from', async (_name, body) => {
    const [label] = await shownLabels([...body, { op: 'user.show', src: 'y' }]);
    expect(label).toMatchObject({ integrity: 'untrusted', readers: ['user'] });
    expect(label!.sources).toContain(SOURCE);
  });

  it('a model reply, and the text and calls parsed from it, carry its whole context', async () => {
    const labels = await shownLabels(
      [
        { op: 'history.new', system: 'be brief', dst: 'h' },
        { op: 'history.append', history: 'h', role: 'user', src: 'x' },
        { op: 'model.call', slot: 'main', history: 'h', dst: 'reply' },
        { op: 'parse.text', src: 'reply', dst: 'text' },
        { op: 'parse.tool_calls', src: 'reply', dst: 'calls' },
        { op: 'user.show', src: 'text' },
        { op: 'user.show', src: 'calls' },
      ],
      [{ text: 'fine' }],
    );
    expect(labels).toHaveLength(2);
    for (const label of labels) {
      expect(label).toMatchObject({ integrity: 'untrusted', readers: ['user'] });
      expect(label.sources).toContain(SOURCE);
    }
  });

  it('a constant is public and trusted, whatever ran before it', async () => {
    const [label] = await shownLabels([
      { op: 'data.const', value: 'mine', dst: 'y' },
      { op: 'user.show', src: 'y' },
    ]);
    expect(label).toMatchObject({ integrity: 'trusted', readers: 'public', sources: [] });
  });
});
