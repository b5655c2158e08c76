import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/host/config.js';
import { Mvm } from '../../src/host/host.js';
import { imageFromObject } from '../../src/host/image-file.js';
import { normalizeSchema } from '../../src/models/schema.js';
import { ConfigError } from '../../src/spec/errors.js';
import { PATTERN_BUDGET_MS, validatorFor } from '../../src/spec/json-schema.js';
import type { Json, JsonObject } from '../../src/spec/types.js';
import { verifyImage } from '../../src/verifier/index.js';

/** One case for each bug the fuzz tests found, so that each stays fixed by name. */

const store = mkdtempSync(join(tmpdir(), 'mvm-fuzz-regress-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

function host(config: JsonObject = {}, functions = {}) {
  return new Mvm({
    config: parseConfig(
      { rules: [{ allow: 'model:main' }, { allow: 'tool:fn/*' }, { allow: 'user' }], ...config },
      { path: null, dir: store },
    ),
    storeDir: store,
    functions,
  });
}

const image = (body: Json[], extra: JsonObject = {}) =>
  imageFromObject({ mvm: 1, name: 'r', ...extra, procedures: { main: { body } } });

describe('fixed by the fuzz tests', () => {
  it('checks a backtracking pattern within its budget, and refuses the call', async () => {
    const v = validatorFor({ type: 'string', pattern: '^(a+)+$' });
    const started = Date.now();
    expect(v(`${'a'.repeat(40)}!`)).toBe(false);
    expect(Date.now() - started).toBeLessThan(PATTERN_BUDGET_MS * 4);
    expect(v.errors?.[0]?.message).toMatch(/took longer/);
    expect(v('aaa')).toBe(true);

    const mvm = host(
      { models: { main: { driver: 'replay', replies: [] } } },
      {
        fn: {
          slow: {
            description: 'has a bad pattern',
            inputSchema: {
              type: 'object',
              properties: { a: { type: 'string', pattern: '(a|a)*$' } },
            },
            run: () => 'ran',
          },
        },
      },
    );
    const r = await mvm.run(
      image(
        [
          { op: 'tool.load', ns: 'fn' },
          { op: 'data.const', value: { a: `${'a'.repeat(40)}!` }, dst: 'args' },
          { op: 'tool.call', tool: 'fn/slow', args: 'args', dst: 'r' },
          { op: 'halt', src: 'r' },
        ],
        { tools: { fn: {} }, permissions: ['tool:fn/*'] },
      ),
    );
    expect((r.output as JsonObject).ok).toBe(false);
    expect((r.output as JsonObject).content).toMatch(/invalid arguments/);
    mvm.close();
  });

  it('reports a schema operand the validator cannot compile as bad_schema', () => {
    for (const schema of [{ type: 'nonsense' }, { pattern: '(' }, { $ref: '#/nowhere' }]) {
      const { issues } = verifyImage({
        mvm: 1,
        name: 'r',
        procedures: {
          main: {
            body: [
              { op: 'data.const', value: '1', dst: 'a' },
              { op: 'parse.json', src: 'a', schema, dst: 'b' },
            ],
          },
        },
      });
      expect(issues.map((i) => i.code)).toEqual(['bad_schema']);
    }
  });

  it('traps a value that doubles without bound, and one that nests without bound', async () => {
    const mvm = host({ budgets: { steps: 100_000 } });
    const grow = (ins: Json, start: Json) =>
      image([
        { op: 'data.const', value: start, dst: 'x' },
        { op: 'loop', max: 2000, body: [ins] },
      ]);
    const doubled = await mvm.run(grow({ op: 'data.concat', srcs: ['x', 'x'], dst: 'x' }, [1]));
    expect(doubled.error?.code).toBe('too_large');
    const text = await mvm.run(
      grow({ op: 'data.template', template: '{{x}}{{x}}', dst: 'x' }, 'ab'),
    );
    expect(text.error?.code).toBe('too_large');
    const deep = await mvm.run(grow({ op: 'data.object', fields: { a: 'x' }, dst: 'x' }, 1));
    expect(deep.error?.code).toBe('too_deep');
    mvm.close();
  });

  it('concatenates a list longer than a call may spread', async () => {
    const mvm = host();
    const long = Array.from({ length: 300_000 }, () => 0);
    const r = await mvm.run(
      image([
        { op: 'data.const', value: long, dst: 'l' },
        { op: 'data.concat', srcs: ['l', 'l'], dst: 'm' },
        { op: 'data.len', src: 'm', dst: 'n' },
        { op: 'halt', src: 'n' },
      ]),
    );
    expect(r.output).toBe(600_000);
    mvm.close();
  });

  it('keeps `__proto__` keys of constants and objects', async () => {
    const mvm = host();
    const value = JSON.parse('{"__proto__":{"x":1},"k":2}') as Json;
    const r = await mvm.run(
      image([
        { op: 'data.const', value, dst: 'a' },
        { op: 'data.object', fields: JSON.parse('{"__proto__":"a"}'), dst: 'b' },
        { op: 'data.len', src: 'b', dst: 'n' },
        { op: 'data.object', fields: { a: 'a', n: 'n' }, dst: 'out' },
        { op: 'halt', src: 'out' },
      ]),
    );
    expect(JSON.stringify(r.output)).toBe('{"a":{"__proto__":{"x":1},"k":2},"n":1}');
    mvm.close();
  });

  it('replays the same text whatever order the image wrote its keys in', async () => {
    const mvm = host({ models: { main: { driver: 'replay', replies: [{ text: '{}' }] } } });
    const r = await mvm.run(
      image(
        [
          { op: 'data.const', value: { b: 1, a: 2 }, dst: 'x' },
          { op: 'data.template', template: '{{x}}', dst: 't' },
          {
            op: 'model.extract',
            slot: 'main',
            instruction: '{{t}}',
            input: 'x',
            schema: {
              type: 'object',
              required: [],
            },
            dst: 'y',
          },
          { op: 'halt', src: 't' },
        ],
        { models: { main: {} }, permissions: ['model:main'] },
      ),
    );
    expect(r.output).toBe('{"a":2,"b":1}');
    expect((await mvm.replay(r.runId)).ok).toBe(true);
    mvm.close();
  });

  it('journals an answer that fails its schema, so the run replays', async () => {
    const mvm = host();
    const r = await mvm.run(
      image([{ op: 'user.ask', prompt: 'n?', schema: { type: 'number' }, dst: 'n' }], {
        permissions: ['user'],
      }),
      { user: { ask: async () => 'not a number' } },
    );
    expect(r.error?.code).toBe('bad_answer');
    const replay = await mvm.replay(r.runId);
    expect(replay.divergence).toBeUndefined();
    expect(replay.ok).toBe(true);
    mvm.close();
  });

  it('traps a model call on something not a history, or with something not a tool', async () => {
    const mvm = host({ models: { main: { driver: 'replay', replies: [] } } });
    const call = (history: Json, tools: Json) =>
      mvm.run(
        image(
          [
            { op: 'data.const', value: history, dst: 'h' },
            { op: 'data.const', value: tools, dst: 't' },
            { op: 'model.call', slot: 'main', history: 'h', tools: ['t'], dst: 'r' },
          ],
          { models: { main: {} }, permissions: ['model:main'] },
        ),
      );
    expect((await call(null, [])).error?.code).toBe('not_a_history');
    expect((await call([1], [])).error?.code).toBe('not_a_history');
    expect((await call([], [null])).error?.code).toBe('not_a_tool_list');
    mvm.close();
  });

  it('keeps tool schema properties named like what objects inherit', () => {
    const props = JSON.parse('{"__proto__":{"type":"string"},"constructor":{"type":"number"}}');
    const schema = { anyOf: [{ type: 'object', properties: props }] };
    const flat = normalizeSchema(schema, 'fn/t', 'anthropic');
    expect(Object.keys(flat.properties as JsonObject).sort()).toEqual(['__proto__', 'constructor']);
    const plain = normalizeSchema({ type: 'object', properties: props }, 'fn/t');
    expect(Object.keys(plain.properties as JsonObject).sort()).toEqual([
      '__proto__',
      'constructor',
    ]);
  });

  it('takes a string that starts with a dollar sign as a string', () => {
    const { issues } = verifyImage({
      mvm: 1,
      name: 'r',
      procedures: { main: { body: [{ op: 'data.const', value: '$5.00', dst: 'a' }] } },
    });
    expect(issues).toEqual([]);
  });

  it('refuses driver and slot names that every object inherits, with a ConfigError', async () => {
    for (const [slot, driver, code] of <Array<[string, string, string]>>[
      ['main', 'constructor', 'unknown_driver'],
      ['main', '__proto__', 'unknown_driver'],
      ['toString', 'replay', 'unbound_slot'],
    ]) {
      const mvm = host({ models: { main: { driver } } });
      const err = await mvm
        .run(image([{ op: 'halt' }], { models: { [slot]: {} }, permissions: [`model:${slot}`] }))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toBe(code);
      mvm.close();
    }
  });
});
