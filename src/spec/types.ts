import type { OPCODES, OperandType } from './opcodes.js';

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type JsonObject = { [key: string]: Json };

export type JsonSchema = JsonObject | boolean;

type OperandTs<T extends OperandType, V> = T extends 'regs'
  ? string[]
  : T extends 'json'
    ? Json
    : T extends 'schema'
      ? JsonSchema
      : T extends 'int'
        ? number
        : T extends 'enum'
          ? V extends readonly string[]
            ? V[number]
            : string
          : T extends 'block'
            ? Instruction[]
            : T extends 'args' | 'fields'
              ? Record<string, string>
              : T extends 'static'
                ? Record<string, Json>
                : string;

type Operands<O> = {
  -readonly [K in keyof O as O[K] extends { optional: true } ? never : K]: O[K] extends {
    type: infer T extends OperandType;
  }
    ? OperandTs<T, O[K] extends { values: infer V } ? V : never>
    : never;
} & {
  -readonly [K in keyof O as O[K] extends { optional: true } ? K : never]?: O[K] extends {
    type: infer T extends OperandType;
  }
    ? OperandTs<T, O[K] extends { values: infer V } ? V : never>
    : never;
};

type Ops = typeof OPCODES;

/** One instruction of an image, typed by its opcode from the table in opcodes.ts. */
export type InstructionOf<K extends keyof Ops> = { op: K } & Operands<Ops[K]['operands']> & {
    /** Where the instruction stands in its image, as `procedures.main.body[3]`. Set on load. */
    at?: string;
  };

export type Instruction = { [K in keyof Ops]: InstructionOf<K> }[keyof Ops];

export interface Procedure {
  params?: string[];
  /** Parameters bound at the call site to literal values; `"$name"` in an operand is replaced. */
  static?: string[];
  description?: string;
  body: Instruction[];
}

export interface ModelSlotDecl {
  description?: string;
  /** Capabilities the image needs from the model bound to this slot. */
  needs?: Array<'tools' | 'json_schema' | 'streaming' | 'parallel_tool_calls'>;
}

export interface ToolNamespaceDecl {
  description?: string;
  /** Tool names the image expects in this namespace; checked when it loads. */
  expects?: string[];
}

export interface InputDecl {
  description?: string;
  type?: 'string' | 'number' | 'boolean' | 'object' | 'array';
  default?: Json;
}

/** A portable agent program. YAML images mean the same JSON. */
export interface Image {
  mvm: 1;
  name: string;
  description?: string;
  models?: Record<string, ModelSlotDecl>;
  tools?: Record<string, ToolNamespaceDecl>;
  /** The resources the image asks to use, as patterns: `tool:fs/*`, `model:main`, `user`. */
  permissions?: string[];
  inputs?: Record<string, InputDecl>;
  /** The procedure that runs first; default `main`. */
  entry?: string;
  procedures: Record<string, Procedure>;
}
