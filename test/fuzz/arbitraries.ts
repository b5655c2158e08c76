import fc from 'fast-check';
import { MvmError } from '../../src/spec/errors.js';
import { OPCODE_NAMES, OPCODES, type Opcode, type OperandSpec } from '../../src/spec/opcodes.js';
import type { Json, JsonObject } from '../../src/spec/types.js';

/**
 * Generators shared by the fuzz tests. Each property runs `runs(n)` times: a few in CI, and
 * as many as MVM_FUZZ_RUNS says under `npm run fuzz`.
 */

export function runs(ciRuns: number): number {
  const n = Number(process.env.MVM_FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : ciRuns;
}

/** fast-check parameters: the budget, and a seed from MVM_FUZZ_SEED to reproduce a failure. */
export function params(ciRuns: number): fc.Parameters<unknown> {
  const seed = Number(process.env.MVM_FUZZ_SEED);
  return {
    numRuns: runs(ciRuns),
    ...(Number.isInteger(seed) ? { seed } : {}),
    // A long budget may take minutes; the CI budget stays within the test's own timeout.
    interruptAfterTimeLimit: process.env.MVM_FUZZ_RUNS ? undefined : 10_000,
  };
}

/** A test's timeout: its CI figure, or an hour under a large budget. */
export function timeout(ciMs: number): number {
  return process.env.MVM_FUZZ_RUNS ? 3_600_000 : ciMs;
}

/** Throws unless `e` is a typed error of mvm; returns it typed. */
export function typed(e: unknown): MvmError {
  if (e instanceof MvmError) return e;
  throw new Error(`expected an MvmError, got ${String(e)}`, { cause: e });
}

/** Strings that have broken parsers and lookups before, mixed with arbitrary ones. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      '\u0000',
      'a\u0000b',
      '\ud800',
      '\udfff',
      'x\udc00y',
      '\ud83d\ude00',
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      '{{a}}',
      '{{ a.b.0 }}',
      '$slot',
      '\r\n',
      'data: [DONE]',
      '../../etc',
      '*',
      'fn/echo',
      'fn/nope',
      'fn__echo',
    ),
  },
);

export const nastyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'x', 'text', 'id', 'name', 'type') },
  { weight: 1, arbitrary: nastyString },
);

/** JSON values whose keys and strings come from the nasty pools, including `__proto__`. */
export const jsonValue: fc.Arbitrary<Json> = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    nastyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc
      .array(fc.tuple(nastyKey, tie('value')), { maxLength: 4 })
      .map((pairs) => Object.fromEntries(pairs) as JsonObject),
  ),
})).value;

/** A JSON Schema as a tool or an image might hold: plausible, broken, or hostile. */
export const schemaArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    true,
    false,
    {},
    { type: 'object' },
    { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
    { type: 'string', minLength: 1 },
    { type: 'array', items: { type: 'number' } },
    { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } },
    { type: 'string', pattern: '^(a|a)*$' },
    { type: 'string', pattern: '(' },
    { type: 'string', format: 'no-such-format' },
    { type: 'nonsense' },
    { $ref: '#/$defs/missing' },
    { $ref: 'http://127.0.0.1:9/remote.json' },
    { properties: { __proto__: { type: 'string' } } },
    { type: 'object', additionalProperties: false, properties: { b: { const: 1 } } },
  ),
  jsonValue.filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v)),
);

// Images built from the opcode table ────────────────────────────────────────────────────

const REGS = ['a', 'b', 'c', 'h', 'l', '__proto__'] as const;
const reg = fc.constantFrom(...REGS);

/** Every register of REGS set before anything else runs, so most programs verify. */
function prelude(values: Json[]): JsonObject[] {
  return REGS.map((r, i) => ({ op: 'data.const', value: values[i] ?? null, dst: r }));
}

const template = fc.oneof(
  nastyString,
  fc
    .tuple(nastyString, reg, fc.constantFrom('', '.a', '.0', '.text'))
    .map(([s, r, path]) => `${s}{{${r}${path}}}${s}`),
);

function operand(op: Opcode, name: string, spec: OperandSpec, depth: number): fc.Arbitrary<Json> {
  switch (spec.type) {
    case 'reg':
    case 'dst':
      return reg;
    case 'regs':
      return fc.array(reg, { maxLength: 3 });
    case 'slot':
      return fc.constantFrom('main', 'main', 'main', 'other');
    case 'ns':
      return fc.constantFrom('fn', 'fn', 'fn', 'nope');
    case 'proc':
      return fc.constantFrom('helper', 'std.ask_once', 'std.chat', 'nope');
    case 'json':
      return jsonValue;
    case 'schema':
      return schemaArb;
    case 'template':
      return template;
    case 'string':
      if (op === 'tool.call') return fc.constantFrom('fn/echo', 'fn/fail', 'fn/nope', 'nope');
      if (op === 'data.get') return fc.constantFrom('', 'a', 'a.b', '0', 'text', '__proto__');
      return nastyString;
    case 'int':
      return fc.oneof(
        { weight: 8, arbitrary: fc.integer({ min: 1, max: 3 }) },
        { weight: 1, arbitrary: fc.constantFrom<Json>(0, -1, 1.5, 100_001, '$max') },
      );
    case 'enum':
      return fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(...(spec.values ?? ['x'])) },
        { weight: 1, arbitrary: nastyString },
      );
    case 'block':
      return depth >= 2
        ? fc.constant([])
        : fc.array(instruction(depth + 1), { maxLength: name === 'else' ? 2 : 3 });
    case 'args':
    case 'fields':
      return fc
        .array(fc.tuple(fc.constantFrom('a', 'history', 'tools', 'system', 'question'), reg), {
          maxLength: 3,
        })
        .map((pairs) => Object.fromEntries(pairs));
    case 'static':
      return fc.constantFrom<Json>({ slot: 'main' }, { slot: 'main', max_turns: 2 }, {});
  }
}

/** One instruction of any opcode: operands typed by the table, sometimes one missing or odd. */
export function instruction(depth = 0): fc.Arbitrary<JsonObject> {
  return fc.constantFrom(...OPCODE_NAMES).chain((op) => {
    const entries = Object.entries(OPCODES[op].operands) as [string, OperandSpec][];
    const fields: Record<string, fc.Arbitrary<Json>> = {};
    for (const [name, spec] of entries) fields[name] = operand(op, name, spec, depth);
    const required = entries.filter(([, s]) => !s.optional).map(([n]) => n);
    return fc.record(fields, { requiredKeys: required }).chain((ins) =>
      fc.oneof(
        { weight: 20, arbitrary: fc.constant({ op, ...ins } as JsonObject) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(...[...required, 'op']).map((drop) => {
            const out: JsonObject = { op, ...ins };
            delete out[drop];
            return out;
          }),
        },
        { weight: 1, arbitrary: fc.constant({ op, ...ins, extra: 1 } as JsonObject) },
      ),
    );
  });
}

/** A structurally plausible image: declared slot and namespace, a prelude, random bodies. */
export const plausibleImage: fc.Arbitrary<JsonObject> = fc
  .record({
    values: fc.array(jsonValue, { minLength: REGS.length, maxLength: REGS.length }),
    main: fc.array(instruction(), { minLength: 1, maxLength: 8 }),
    helper: fc.array(instruction(1), { maxLength: 4 }),
    permissions: fc.constantFrom<Json[]>(
      ['model:main', 'tool:fn/*', 'mem:**', 'user'],
      ['model:main', 'tool:fn/*', 'mem:**', 'user'],
      ['model:main', 'tool:fn/echo'],
    ),
  })
  .map(({ values, main, helper, permissions }) => ({
    mvm: 1,
    name: 'fuzz',
    models: { main: {} },
    tools: { fn: {} },
    permissions,
    procedures: {
      main: { body: [...prelude(values), ...main] },
      helper: { params: ['a'], body: [...prelude(values).slice(1), ...helper] },
    },
  }));

/** Instructions that make a value grow each time they run, by doubling or by nesting. */
const GROWERS: JsonObject[] = [
  { op: 'data.concat', srcs: ['l', 'l'], dst: 'l' },
  { op: 'data.object', fields: { a: 'c', b: 'c' }, dst: 'c' },
  { op: 'data.object', fields: { x: 'c' }, dst: 'c' },
  { op: 'data.template', template: '{{a}}{{a}}{{a}}', dst: 'a' },
  { op: 'history.append', history: 'h', role: 'user', src: 'h' },
  { op: 'data.move', src: 'c', dst: 'b' },
];

/** What then reads the grown value: a sink, a model, the journal, or the output. */
const CONSUMERS: JsonObject[] = [
  { op: 'user.show', src: 'b' },
  { op: 'mem.store', key: 'k', src: 'l' },
  { op: 'parse.text', src: 'c', dst: 'a' },
  { op: 'data.template', template: '{{a}}{{b}}{{c}}{{l}}', dst: 'a' },
  { op: 'model.extract', slot: 'main', instruction: '{{a}}', input: 'c', schema: {}, dst: 'b' },
  { op: 'halt', src: 'l' },
];

/** An image whose loops grow values without bound, as a careless or hostile author writes. */
export const growingImage: fc.Arbitrary<JsonObject> = fc
  .record({
    outer: fc.integer({ min: 1, max: 40 }),
    inner: fc.integer({ min: 1, max: 40 }),
    body: fc.array(fc.constantFrom(...GROWERS), { minLength: 1, maxLength: 3 }),
    after: fc.array(fc.constantFrom(...CONSUMERS), { maxLength: 2 }),
  })
  .map(
    ({ outer, inner, body, after }): JsonObject => ({
      mvm: 1,
      name: 'grow',
      models: { main: {} },
      permissions: ['model:main', 'mem:**', 'user'],
      procedures: {
        main: {
          body: <JsonObject[]>[
            { op: 'data.const', value: 'ab', dst: 'a' },
            { op: 'data.const', value: {}, dst: 'b' },
            { op: 'data.const', value: { z: 1 }, dst: 'c' },
            { op: 'history.new', dst: 'h' },
            { op: 'data.const', value: [1], dst: 'l' },
            {
              op: 'loop',
              max: outer,
              onLimit: 'stop',
              body: [{ op: 'loop', max: inner, onLimit: 'stop', body }],
            },
            ...after,
          ],
        },
      },
    }),
  );
