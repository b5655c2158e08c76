import { afterEach, describe, expect, it } from 'vitest';
import { DriverError } from '../spec/errors.js';
import type { JsonObject, JsonSchema } from '../spec/types.js';
import { OpenAICompatibleDriver } from './openai-compatible.js';
import { closeObjects, inlineRefs, normalizeSchema, SchemaCache } from './schema.js';
import { closeAll, send, serve } from './test-helpers/loopback.js';

afterEach(closeAll);

function refusal(make: () => unknown): DriverError {
  try {
    make();
  } catch (error) {
    if (error instanceof DriverError) return error;
    throw error;
  }
  throw new Error('expected unsupported_schema');
}

describe('normalizeSchema', () => {
  it('inlines local refs into $defs and definitions and drops the containers', () => {
    const schema: JsonObject = {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        where: { $ref: '#/$defs/place' },
        when: { $ref: '#/definitions/time' },
        both: { type: 'array', items: { $ref: '#/$defs/place' } },
      },
      $defs: { place: { type: 'object', properties: { city: { $ref: '#/definitions/name' } } } },
      definitions: { time: { type: 'string', format: 'date-time' }, name: { type: 'string' } },
    };
    const place = { type: 'object', properties: { city: { type: 'string' } } };

    expect(normalizeSchema(schema, 'cal/add')).toEqual({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      properties: {
        where: place,
        when: { type: 'string', format: 'date-time' },
        both: { type: 'array', items: place },
      },
    });
  });

  it('follows escaped pointers and keeps keywords beside a $ref', () => {
    const schema: JsonObject = {
      type: 'object',
      properties: {
        a: { $ref: '#/$defs/a~1b', description: 'merged' },
        b: { $ref: '#/$defs/with%20space', type: 'integer' },
        c: { $ref: '#/$defs/til~0de' },
      },
      $defs: {
        'a/b': { type: 'string' },
        'with space': { type: 'number' },
        'til~de': true,
      },
    };

    expect(normalizeSchema(schema, 't/x').properties).toEqual({
      a: { type: 'string', description: 'merged' },
      b: { type: 'integer', allOf: [{ type: 'number' }] },
      c: true,
    });
  });

  it('leaves data alone: const, enum, default, and a property named $ref', () => {
    const schema: JsonObject = {
      type: 'object',
      properties: {
        $ref: { type: 'string', default: '#/nowhere' },
        mode: { const: { $ref: 'https://remote.invalid/x' } },
        kind: { enum: [{ $ref: '#/x' }] },
      },
    };

    expect(normalizeSchema(schema, 't/x')).toEqual(schema);
  });

  it('refuses a recursive schema, naming the tool', () => {
    const schema: JsonObject = {
      type: 'object',
      properties: { tree: { $ref: '#/$defs/node' } },
      $defs: {
        node: {
          type: 'object',
          properties: { kids: { type: 'array', items: { $ref: '#/$defs/node' } } },
        },
      },
    };

    const error = refusal(() => normalizeSchema(schema, 'fs/tree'));

    expect(error.code).toBe('unsupported_schema');
    expect(error.message).toContain("tool 'fs/tree'");
    expect(error.message).toContain('recursive');
    expect(error.data).toMatchObject({ tool: 'fs/tree' });
  });

  it('refuses remote and dangling refs, and roots that cannot be objects', () => {
    const remote = { type: 'object', properties: { a: { $ref: 'https://example.com/s.json' } } };
    const dangling = { type: 'object', properties: { a: { $ref: '#/$defs/none' } } };
    const cases: [JsonSchema, RegExp][] = [
      [remote, /remote reference/],
      [dangling, /points at nothing/],
      [{ type: 'string' }, /root must be type object/],
      [false, /accepts no arguments/],
      [{ $ref: '#' }, /recursive/],
    ];

    for (const [schema, message] of cases) {
      const error = refusal(() => normalizeSchema(schema, 'x/y'));
      expect(error.code).toBe('unsupported_schema');
      expect(error.message).toMatch(message);
    }
  });

  it('gives the root an object type when it has none', () => {
    expect(normalizeSchema(true, 'a/b')).toEqual({ type: 'object' });
    expect(normalizeSchema({ properties: { x: {} } }, 'a/b')).toEqual({
      properties: { x: {} },
      type: 'object',
    });
    expect(normalizeSchema({ type: ['object', 'null'] }, 'a/b')).toEqual({ type: 'object' });
  });

  it('stops a schema whose references fan out beyond reason', () => {
    const defs: JsonObject = { d0: { type: 'string' } };
    for (let i = 1; i <= 20; i++) {
      defs[`d${i}`] = { anyOf: [{ $ref: `#/$defs/d${i - 1}` }, { $ref: `#/$defs/d${i - 1}` }] };
    }

    const error = refusal(() =>
      normalizeSchema(
        { type: 'object', properties: { a: { $ref: '#/$defs/d20' } }, $defs: defs },
        'big/one',
      ),
    );

    expect(error.message).toMatch(/exceeds/);
  });

  it('flattens root combinators for anthropic only', () => {
    const schema: JsonObject = {
      type: 'object',
      allOf: [
        { properties: { a: { type: 'string' } }, required: ['a'] },
        { properties: { b: { type: 'number' } } },
      ],
      oneOf: [
        { required: ['c'], properties: { c: {} } },
        { required: ['d'], properties: { d: {} } },
      ],
    };

    expect(normalizeSchema(schema, 'a/b', 'openai')).toEqual(schema);
    expect(normalizeSchema(schema, 'a/b', 'anthropic')).toEqual({
      type: 'object',
      properties: { a: { type: 'string' }, b: { type: 'number' }, c: {}, d: {} },
      required: ['a'],
    });
  });
});

describe('inlineRefs', () => {
  it('inlines a reply schema without forcing an object root', () => {
    const schema = { $ref: '#/$defs/n', $defs: { n: { type: 'number' } } };

    expect(inlineRefs(schema, 'the reply schema')).toEqual({ type: 'number' });
  });
});

describe('closeObjects', () => {
  it('closes every object the schema leaves open, and only those', () => {
    const schema: JsonObject = {
      type: 'object',
      properties: {
        a: { type: 'object', properties: { b: { type: 'string' } } },
        open: { type: 'object', additionalProperties: { type: 'number' } },
        list: { type: 'array', items: { properties: { c: {} } } },
        either: { anyOf: [{ type: ['object', 'null'] }, { type: 'string' }] },
        fixed: { const: { type: 'object' } },
      },
    };

    expect(closeObjects(schema)).toEqual({
      type: 'object',
      additionalProperties: false,
      properties: {
        a: { type: 'object', properties: { b: { type: 'string' } }, additionalProperties: false },
        open: { type: 'object', additionalProperties: { type: 'number' } },
        list: { type: 'array', items: { properties: { c: {} }, additionalProperties: false } },
        either: {
          anyOf: [{ type: ['object', 'null'], additionalProperties: false }, { type: 'string' }],
        },
        fixed: { const: { type: 'object' } },
      },
    });
  });
});

describe('SchemaCache', () => {
  it('normalises a tool schema once and reuses the result', () => {
    const cache = new SchemaCache('openai');
    const tool = { name: 'a/b', description: '', inputSchema: { properties: {} } };

    const first = cache.of(tool);

    expect(cache.of({ ...tool })).toBe(first);
    expect(first).toEqual({ properties: {}, type: 'object' });
  });
});

describe('drivers and tool schemas', () => {
  it('send inlined schemas and refuse an unsupported one before any request', async () => {
    const server = await serve((_, res) =>
      send(res, 200, { choices: [{ message: { content: 'ok' }, finish_reason: 'stop' }] }),
    );
    const driver = new OpenAICompatibleDriver({ baseUrl: server.baseUrl, model: 'm' });
    const good = {
      name: 'fs/read',
      description: '',
      inputSchema: {
        type: 'object',
        properties: { p: { $ref: '#/$defs/p' } },
        $defs: { p: { type: 'string' } },
      },
    };
    const cyclic = { name: 'fs/loop', description: '', inputSchema: { $ref: '#' } };
    const messages = [{ role: 'user' as const, content: 'x' }];

    await driver.call({ slot: 'main', messages, tools: [good] });
    const error = await driver
      .call({ slot: 'main', messages, tools: [good, cyclic] })
      .catch((e: unknown) => e);

    const sent = server.body(0).tools as { function: { parameters: unknown } }[];
    expect(sent[0]?.function.parameters).toEqual({
      type: 'object',
      properties: { p: { type: 'string' } },
    });
    expect(error).toMatchObject({ code: 'unsupported_schema', data: { tool: 'fs/loop' } });
    expect(server.seen).toHaveLength(1);
  });
});
