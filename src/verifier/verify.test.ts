import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeIssues, readImageFile } from '../host/image-file.js';
import type { Instruction } from '../spec/types.js';
import { verifyImage } from './verify.js';

const image = (body: unknown[], extra: Record<string, unknown> = {}) => ({
  mvm: 1,
  name: 't',
  procedures: { main: { body } },
  ...extra,
});

const codes = (input: unknown) => verifyImage(input).issues.map((i) => `${i.code} ${i.at}`);

describe('verifier', () => {
  it('names the field a misspelt one likely means, at the top and in an instruction', () => {
    const { issues } = verifyImage({
      ...image([
        { op: 'user.show', sorc: 'x' },
        { op: 'halt', src: 'x', zzz: 1 },
      ]),
      permisions: ['user'],
    });
    const unknown = issues.filter((i) => i.code === 'unknown_field').map((i) => i.message);
    expect(unknown).toEqual([
      "unknown field 'permisions' (did you mean 'permissions'?)",
      "unknown field 'sorc' (did you mean 'src'?)",
      "unknown field 'zzz'",
    ]);
  });

  it('accepts the bundled example and links the standard library chat loop', () => {
    const file = readImageFile(join(import.meta.dirname, '../../examples/notes/image.yaml'));
    const { issues, linked } = verifyImage(file.data);
    expect(issues).toEqual([]);
    const names = [...linked!.procedures.keys()];
    expect(names).toContain('main');
    expect(names.some((n) => n.startsWith('std.chat<'))).toBe(true);
    const chat = [...linked!.procedures.values()].find((p) => p.source === 'std.chat')!;
    const loop = chat.body[0] as Extract<Instruction, { op: 'loop' }>;
    expect(loop.max).toBe(8);
    expect((loop.body[0] as Extract<Instruction, { op: 'model.call' }>).slot).toBe('main');
    expect(loop.at).toBe('stdlib.std.chat.body[0]');
  });

  it('follows definite assignment through if, loop and foreach', () => {
    const set = (dst: string) => ({ op: 'data.const', value: 1, dst });
    expect(
      codes(
        image([
          set('c'),
          { op: 'if', cond: 'c', then: [set('both')], else: [set('both')] },
          { op: 'halt', src: 'both' },
        ]),
      ),
    ).toEqual([]);
    expect(
      codes(
        image([
          set('c'),
          { op: 'if', cond: 'c', then: [set('one')] },
          { op: 'loop', max: 3, body: [set('inloop')] },
          { op: 'data.const', value: [1], dst: 'xs' },
          { op: 'foreach', src: 'xs', as: 'x', body: [{ op: 'data.move', src: 'x', dst: 'y' }] },
          { op: 'data.object', fields: { a: 'one', b: 'inloop', c: 'x' }, dst: 'o' },
          { op: 'data.template', template: 'hi {{nobody.name}}', dst: 't' },
        ]),
      ),
    ).toEqual([
      'undefined_register procedures.main.body[5]',
      'undefined_register procedures.main.body[5]',
      'undefined_register procedures.main.body[5]',
      'undefined_register procedures.main.body[6]',
    ]);
  });

  it('checks statics, arguments and the entry parameters', () => {
    const proc = {
      static: ['slot'],
      params: ['h'],
      body: [
        { op: 'model.call', slot: '$slot', history: 'h', dst: 'r' },
        { op: 'return', src: 'r' },
      ],
    };
    const base = {
      models: { main: {} },
      permissions: ['model:*'],
      inputs: { q: { type: 'string' } },
    };
    const call = (extra: Record<string, unknown>) => ({ op: 'call', proc: 'ask', ...extra });
    expect(
      codes({
        ...image(
          [{ op: 'history.new', dst: 'h' }, call({ static: { slot: 'main' }, args: { h: 'h' } })],
          base,
        ),
        procedures: {
          main: {
            params: ['q', 'unknown'],
            body: [
              { op: 'history.new', dst: 'h' },
              call({ static: { slot: 'main' }, args: { h: 'h' } }),
              call({ static: { slot: 'other' }, args: { h: 'h' } }),
              call({ args: { h: 'h' } }),
              call({ static: { slot: 'main', extra: 1 }, args: { h: 'h' } }),
              call({ static: { slot: 'main' }, args: { x: 'h' } }),
            ],
          },
          ask: proc,
        },
      }),
    ).toEqual([
      'missing_static procedures.main.body[3]',
      'unknown_static procedures.main.body[4]',
      'missing_argument procedures.main.body[5]',
      'unknown_argument procedures.main.body[5]',
      'unknown_slot procedures.ask.body[0]',
      'unknown_input procedures.main.params',
    ]);
  });

  it('checks permissions for models, tools, memory and the user', () => {
    const body = [
      { op: 'history.new', dst: 'h' },
      { op: 'model.call', slot: 'main', history: 'h', dst: 'r' },
      { op: 'tool.load', ns: 'fs' },
      { op: 'data.const', value: {}, dst: 'a' },
      { op: 'tool.call', tool: 'fs/write_file', args: 'a', dst: 'w' },
      { op: 'mem.store', key: 'k', src: 'a' },
      { op: 'user.show', src: 'a' },
    ];
    const decl = { models: { main: {} }, tools: { fs: {} } };
    expect(codes(image(body, decl)).map((c) => c.split(' ')[0])).toEqual([
      'permission_not_requested',
      'permission_not_requested',
      'permission_not_requested',
      'permission_not_requested',
      'permission_not_requested',
    ]);
    const granted = { ...decl, permissions: ['model:main', 'tool:fs/*', 'mem:k', 'user'] };
    expect(codes(image(body, granted))).toEqual([]);
    const narrow = { ...decl, permissions: ['model:main', 'tool:fs/read_*', 'mem:k', 'user'] };
    expect(codes(image(body, narrow))).toEqual([
      'permission_not_requested procedures.main.body[4]',
    ]);
  });

  it('refuses a literal tool outside the declared namespaces', () => {
    const body = [
      { op: 'data.const', value: {}, dst: 'a' },
      { op: 'tool.call', tool: 'web/fetch', args: 'a', dst: 'w' },
      { op: 'tool.call', tool: 'nonamespace', args: 'a', dst: 'w' },
    ];
    expect(codes(image(body, { permissions: ['tool:**'] }))).toEqual([
      'unknown_namespace procedures.main.body[1]',
      'unknown_namespace procedures.main.body[2]',
    ]);
  });

  it('points at the line and column of each issue in a YAML image', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-verify-'));
    const path = join(dir, 'image.yaml');
    writeFileSync(
      path,
      [
        'mvm: 1',
        'name: located',
        'procedures:',
        '  main:',
        '    body:',
        '      - { op: data.const, value: 1, dst: a }',
        '      - { op: halt, src: b }',
        '',
      ].join('\n'),
    );
    const file = readImageFile(path);
    const lines = describeIssues(file, verifyImage(file.data).issues);
    expect(lines).toEqual([
      `${path}:7:9: procedures.main.body[1]: register 'b' may be used before it is set [undefined_register]`,
    ]);
  });

  it('reports every schema issue with its path', () => {
    const issues = verifyImage({
      mvm: 2,
      procedures: {
        main: {
          body: [
            { op: 'loop', body: [] },
            { op: 'data.len', src: 3, dst: 'n' },
          ],
        },
      },
    }).issues;
    expect(issues.map((i) => `${i.code} ${i.at}`)).toEqual([
      'missing_field (image)',
      'bad_value mvm',
      'missing_field procedures.main.body[0]',
      'bad_type procedures.main.body[1].src',
    ]);
  });

  it('answers malformed input with issues, never an exception', () => {
    const garbage: unknown[] = [
      null,
      [],
      'image',
      42,
      { mvm: 1, name: 'x', procedures: {} },
      { mvm: 1, name: 'x', procedures: { main: { body: [null, 1, 'op', { op: 5 }] } } },
      { mvm: 1, name: 'x', procedures: { main: { body: [{ op: 'if', cond: 'c', then: 'no' }] } } },
      { mvm: 1, name: 'x', procedures: { main: { body: [{ op: 'call', proc: 'std.nothing' }] } } },
      { mvm: 1, name: 'x', entry: 'nope', procedures: { main: { body: [] } } },
      { mvm: 1, name: 'x', procedures: { main: { static: ['s'], body: [] } } },
      { mvm: 1, name: 'x', procedures: { main: { body: [{ op: 'loop', max: '$n', body: [] }] } } },
    ];
    for (const input of garbage) {
      const { issues } = verifyImage(input);
      expect(issues.length, JSON.stringify(input)).toBeGreaterThan(0);
      for (const i of issues) expect(i.code).toMatch(/^[a-z_]+$/);
    }
  });

  it('checks operands substituted from static arguments against the schema', () => {
    const img = {
      mvm: 1,
      name: 's',
      procedures: {
        main: { body: [{ op: 'call', proc: 'p', static: { s: { a: 1 } } }] },
        p: { static: ['s'], body: [{ op: 'history.new', system: '$s', dst: 'h' }] },
      },
    };
    expect(codes(img)).toEqual(['bad_type procedures.p.body[0].system']);
  });

  it('bounds linking: recursion through statics, static size, nesting depth', () => {
    const grow = {
      mvm: 1,
      name: 'g',
      procedures: {
        main: { body: [{ op: 'call', proc: 'p', static: { k: 1 } }] },
        p: { static: ['k'], body: [{ op: 'call', proc: 'p', static: { k: ['$k'] } }] },
      },
    };
    expect(codes(grow)).toEqual(
      ['recursive_call stdlib.x'].map(() => 'recursive_call procedures.p.body[0]'),
    );

    const procedures: Record<string, unknown> = {
      main: { body: [{ op: 'call', proc: 'p0', static: { k: 1 } }] },
    };
    for (let i = 0; i < 30; i++) {
      procedures[`p${i}`] = {
        static: ['k'],
        body: i < 29 ? [{ op: 'call', proc: `p${i + 1}`, static: { k: ['$k', '$k'] } }] : [],
      };
    }
    expect(codes({ mvm: 1, name: 'big', procedures }).some((c) => c.startsWith('too_large'))).toBe(
      true,
    );

    let block: unknown[] = [{ op: 'break' }];
    for (let i = 0; i < 150; i++) block = [{ op: 'loop', max: 1, body: block }];
    expect(codes(image(block))).toEqual(['too_deep (image)']);
  });
});
