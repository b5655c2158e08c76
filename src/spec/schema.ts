import { OPCODE_NAMES, OPCODES, type OperandSpec } from './opcodes.js';
import type { JsonObject } from './types.js';

const NAME = '^[A-Za-z_][A-Za-z0-9_]*$';
const STATIC_REF = '^\\$[A-Za-z_][A-Za-z0-9_]*$';
const PROC_NAME = '^[A-Za-z_][A-Za-z0-9_.]*$';

const nameOr = (pattern: string): JsonObject => ({
  anyOf: [
    { type: 'string', pattern },
    { type: 'string', pattern: STATIC_REF },
  ],
});

function operandSchema(spec: OperandSpec): JsonObject {
  switch (spec.type) {
    case 'reg':
    case 'dst':
    case 'slot':
    case 'ns':
      return nameOr(NAME);
    case 'proc':
      return { type: 'string', pattern: PROC_NAME };
    case 'regs':
      return { type: 'array', items: nameOr(NAME) };
    case 'json':
      return {};
    case 'schema':
      return { type: ['object', 'boolean'] };
    case 'template':
    case 'string':
      return { type: 'string' };
    case 'int':
      return {
        anyOf: [
          { type: 'integer', minimum: 0 },
          { type: 'string', pattern: STATIC_REF },
        ],
      };
    case 'enum':
      return {
        anyOf: [{ enum: [...(spec.values ?? [])] }, { type: 'string', pattern: STATIC_REF }],
      };
    case 'block':
      return { $ref: '#/definitions/block' };
    case 'args':
    case 'fields':
      return { type: 'object', additionalProperties: nameOr(NAME) };
    case 'static':
      return { type: 'object' };
  }
}

function instructionSchema(op: (typeof OPCODE_NAMES)[number]): JsonObject {
  const spec = OPCODES[op];
  const properties: JsonObject = { op: { const: op }, at: { type: 'string' } };
  const required = ['op'];
  for (const [name, operand] of Object.entries(spec.operands) as [string, OperandSpec][]) {
    properties[name] = operandSchema(operand);
    if (!operand.optional) required.push(name);
  }
  const schema: JsonObject = {
    type: 'object',
    properties,
    required,
    additionalProperties: false,
  };
  if ('oneOf' in spec) schema.anyOf = spec.oneOf.map((name) => ({ required: [name] }));
  return schema;
}

/**
 * The JSON Schema (draft-07) of an image, derived from the opcode table.
 *
 * ```ts
 * new Ajv().compile(imageSchema())(JSON.parse(text))
 * ```
 */
export function imageSchema(): JsonObject {
  const definitions: JsonObject = {
    block: { type: 'array', items: { $ref: '#/definitions/instruction' } },
    instruction: {
      type: 'object',
      required: ['op'],
      properties: { op: { enum: [...OPCODE_NAMES] } },
      allOf: OPCODE_NAMES.map((op) => ({
        if: { properties: { op: { const: op } }, required: ['op'] },
        then: { $ref: `#/definitions/op:${op}` },
      })),
    },
  };
  for (const op of OPCODE_NAMES) definitions[`op:${op}`] = instructionSchema(op);

  const names = (value: JsonObject): JsonObject => ({
    type: 'object',
    propertyNames: { pattern: NAME },
    additionalProperties: value,
  });

  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'mvm image',
    type: 'object',
    required: ['mvm', 'name', 'procedures'],
    additionalProperties: false,
    properties: {
      mvm: { const: 1 },
      name: { type: 'string', minLength: 1 },
      description: { type: 'string' },
      models: names({
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          needs: {
            type: 'array',
            items: { enum: ['tools', 'json_schema', 'streaming', 'parallel_tool_calls'] },
          },
        },
      }),
      tools: names({
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          expects: { type: 'array', items: { type: 'string' } },
        },
      }),
      permissions: { type: 'array', items: { type: 'string', minLength: 1 } },
      inputs: names({
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          type: { enum: ['string', 'number', 'boolean', 'object', 'array'] },
          default: {},
        },
      }),
      entry: { type: 'string', pattern: PROC_NAME },
      procedures: {
        type: 'object',
        propertyNames: { pattern: PROC_NAME },
        minProperties: 1,
        additionalProperties: {
          type: 'object',
          required: ['body'],
          additionalProperties: false,
          properties: {
            description: { type: 'string' },
            params: { type: 'array', items: { type: 'string', pattern: NAME } },
            static: { type: 'array', items: { type: 'string', pattern: NAME } },
            body: { $ref: '#/definitions/block' },
          },
        },
      },
    },
    definitions,
  };
}
