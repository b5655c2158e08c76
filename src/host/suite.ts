import { basename, dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { ModelBinding } from '../models/driver.js';
import { ConfigError } from '../spec/errors.js';
import { schemaProblem } from '../spec/json-schema.js';
import { placeAt, readSource } from '../spec/source.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import { pointerToPath } from '../verifier/schema-check.js';
import { expandDeep, hostFileValidator, MODEL_BINDING_SCHEMA } from './config.js';

/**
 * An evaluation suite: tasks, each an image with its inputs and what its outcome must be,
 * that `mvm eval` runs once per model to compare them. YAML or JSON; paths are relative to
 * the suite's file.
 *
 * ```yaml
 * mvmSuite: 1
 * image: image.yaml
 * models:
 *   recorded: { driver: replay, file: replies/${task}.yaml }
 * tasks:
 *   - id: first-thing
 *     inputs: { question: What should I do first? }
 *     expect: { status: done, output: { contains: library card } }
 * ```
 */
export interface Suite {
  path: string;
  name: string;
  description?: string;
  /** Bindings of the suite's own, by name; a relative `file` is resolved against the suite. */
  models: Record<string, ModelBinding>;
  tasks: SuiteTask[];
}

export interface SuiteTask {
  id: string;
  description?: string;
  /** The image file, absolute. */
  image: string;
  /** The host configuration, absolute; null when the image has none beside it. */
  config: string | null;
  /** The slots a model under test fills; undefined: every slot the image declares. */
  slots?: string[];
  inputs: Record<string, Json>;
  expect: Expectation;
}

/** What a task's outcome must be; every check given must hold. */
export interface Expectation {
  /** The statuses the run may end in: default `done`, or `failed` when `error` is given. */
  status: Status[];
  /** The code of the error a failed run ended with. */
  error?: string;
  output?: {
    /** Equal as JSON values (key order aside). */
    equals?: Json;
    /** Each text occurs in the output's text. */
    contains?: string | string[];
    /** A JavaScript regular expression that must find a match in the output's text. */
    matches?: string;
    /** A JSON Schema the output must meet. */
    schema?: JsonSchema;
  };
  /** Tool calls the model asked for, as the journal records them. */
  tools?: {
    /** Each was called, at least once, whatever it answered. */
    called?: ToolMatch[];
    /** None was called: a call refused by the monitor or for its arguments was not made. */
    notCalled?: ToolMatch[];
    /** Each had a call denied by the monitor. */
    denied?: ToolMatch[];
  };
}

export type Status = 'done' | 'failed' | 'waiting';

/**
 * Which calls a tool check is about: a qualified tool name (`ns/name`, where `*` stands for
 * any characters), alone or with a JSON Schema the call's arguments must meet.
 */
export type ToolMatch = string | { name: string; args?: JsonSchema };

const names = { type: 'array', items: { type: 'string', minLength: 1 } };

const toolMatches = {
  type: 'array',
  items: {
    anyOf: [
      { type: 'string', minLength: 1 },
      {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          args: { type: ['object', 'boolean'] },
        },
      },
    ],
  },
};

const EXPECT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: {
      anyOf: [
        { enum: ['done', 'failed', 'waiting'] },
        { type: 'array', minItems: 1, items: { enum: ['done', 'failed', 'waiting'] } },
      ],
    },
    error: { type: 'string', minLength: 1 },
    output: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        equals: {},
        contains: {
          anyOf: [
            { type: 'string', minLength: 1 },
            { type: 'array', items: { type: 'string' } },
          ],
        },
        matches: { type: 'string', minLength: 1 },
        schema: { type: ['object', 'boolean'] },
      },
    },
    tools: {
      type: 'object',
      additionalProperties: false,
      properties: { called: toolMatches, notCalled: toolMatches, denied: toolMatches },
    },
  },
};

/** Task ids name files (`${task}` in a binding), so they keep to a file name's characters. */
const TASK_ID = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

const SUITE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['mvmSuite', 'tasks'],
  properties: {
    mvmSuite: { const: 1 },
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    image: { type: 'string', minLength: 1 },
    config: { type: 'string', minLength: 1 },
    slots: names,
    models: { type: 'object', additionalProperties: MODEL_BINDING_SCHEMA },
    tasks: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: TASK_ID },
          description: { type: 'string' },
          image: { type: 'string', minLength: 1 },
          config: { type: 'string', minLength: 1 },
          slots: names,
          inputs: { type: 'object' },
          expect: EXPECT_SCHEMA,
        },
      },
    },
  },
};

let compiled: ValidateFunction | undefined;

/** What an ajv error says, in the words the configuration's messages use. */
function detail(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'additionalProperties')
    return `unknown field '${String(p.additionalProperty)}'`;
  if (e.keyword === 'required') return `missing '${String(p.missingProperty)}'`;
  if (e.keyword === 'enum') return `expected one of ${(p.allowedValues as Json[]).join(', ')}`;
  if (e.keyword === 'const') return `expected ${JSON.stringify(p.allowedValue)}`;
  if (e.keyword === 'pattern' && e.instancePath.endsWith('/id')) {
    return 'expected letters, digits, dots, dashes and underscores, first a letter or digit';
  }
  return e.message ?? 'invalid';
}

/** A suite error: `FILE:LINE:COL: PLACE: WHAT`, and the place as data. */
function suiteError(
  code: string,
  src: { path: string; locate(p: string): string | undefined },
  at: string,
  what: string,
): ConfigError {
  const pos = src.locate(at);
  return new ConfigError(code, `${placeAt(src.path, at, pos)}: ${what}`, {
    file: src.path,
    at,
    ...(pos ? { position: pos } : {}),
  });
}

/**
 * Reads and checks a suite file. Every error is a ConfigError naming the file, the line and
 * the place: `invalid_suite` for the format, `duplicate_task` for an id used twice,
 * `bad_pattern` and `bad_schema` for checks that cannot be applied, `no_image` for a task
 * with no image. Images and configurations are only named here; `evaluate` reads them.
 *
 * ```ts
 * const suite = loadSuite('examples/notes/suite.yaml'); // suite.tasks[0].expect.status
 * ```
 */
export function loadSuite(path: string, env: NodeJS.ProcessEnv = process.env): Suite {
  const abs = resolve(path);
  const src = readSource(abs, 'suite');
  const dir = dirname(abs);
  compiled ??= hostFileValidator(SUITE_SCHEMA);
  if (!compiled(src.data)) {
    const errors = compiled.errors ?? [];
    const e = errors.find((x) => x.keyword !== 'anyOf') ?? errors[0]!;
    const at = pointerToPath(e.instancePath, '(suite)');
    const field =
      e.keyword === 'additionalProperties'
        ? String((e.params as Record<string, unknown>).additionalProperty)
        : undefined;
    const place = field === undefined ? at : at.startsWith('(') ? field : `${at}.${field}`;
    throw suiteError('invalid_suite', src, place, detail(e));
  }
  const data = src.data as JsonObject;
  const within = (p: Json | undefined) => (typeof p === 'string' ? resolve(dir, p) : undefined);

  // fromEntries keeps a model named `__proto__` a model, where assigning it would not.
  const models: Record<string, ModelBinding> = Object.fromEntries(
    Object.entries((data.models ?? {}) as Record<string, JsonObject>).map(([name, raw]) => {
      let binding: ModelBinding;
      try {
        binding = expandDeep(raw, dir, env, `models.${name}`) as ModelBinding;
      } catch (e) {
        if (!(e instanceof ConfigError) || e.code !== 'unset_env') throw e;
        throw suiteError('unset_env', src, String(e.data.at), e.message);
      }
      // A replay file the suite names is the suite's, as a configuration's are its own.
      if (typeof binding.file === 'string' && !isAbsolute(binding.file)) {
        binding.file = resolve(dir, binding.file);
      }
      return [name, binding];
    }),
  );

  const seen = new Set<string>();
  const tasks = (data.tasks as JsonObject[]).map((t, i): SuiteTask => {
    const id = t.id as string;
    if (seen.has(id)) {
      throw suiteError('duplicate_task', src, `tasks[${i}].id`, `task '${id}' is named twice`);
    }
    seen.add(id);
    const image = within(t.image) ?? within(data.image);
    if (image === undefined) {
      throw suiteError(
        'no_image',
        src,
        `tasks[${i}]`,
        `task '${id}' names no image, nor does the suite`,
      );
    }
    const config = within(t.config) ?? within(data.config) ?? null;
    const slots = (t.slots ?? data.slots) as string[] | undefined;
    const expect = expectation((t.expect ?? {}) as JsonObject, src, `tasks[${i}].expect`);
    const task: SuiteTask = {
      id,
      image,
      config,
      inputs: (t.inputs ?? {}) as Record<string, Json>,
      expect,
    };
    if (typeof t.description === 'string') task.description = t.description;
    if (slots !== undefined) task.slots = slots;
    return task;
  });

  const suite: Suite = {
    path: abs,
    name: (data.name as string | undefined) ?? basename(abs).replace(/\.[^.]*$/, ''),
    models,
    tasks,
  };
  if (typeof data.description === 'string') suite.description = data.description;
  return suite;
}

function expectation(
  raw: JsonObject,
  src: { path: string; locate(p: string): string | undefined },
  at: string,
): Expectation {
  const e = raw as unknown as Omit<Partial<Expectation>, 'status'> & { status?: Status | Status[] };
  const given = e.status ?? (e.error === undefined ? 'done' : 'failed');
  const status = typeof given === 'string' ? [given] : given;
  if (e.error !== undefined && !status.includes('failed')) {
    throw suiteError(
      'invalid_suite',
      src,
      `${at}.error`,
      `an error is expected of a failed run, not of a ${status.join(' or ')} one`,
    );
  }
  const matches = e.output?.matches;
  if (matches !== undefined) {
    try {
      new RegExp(matches, 'u');
    } catch (x) {
      throw suiteError('bad_pattern', src, `${at}.output.matches`, (x as Error).message);
    }
  }
  const schemas: Array<[string, JsonSchema | undefined]> = [
    [`${at}.output.schema`, e.output?.schema],
  ];
  for (const kind of ['called', 'notCalled', 'denied'] as const) {
    (e.tools?.[kind] ?? []).forEach((m, i) => {
      if (typeof m !== 'string') schemas.push([`${at}.tools.${kind}[${i}].args`, m.args]);
    });
  }
  for (const [place, schema] of schemas) {
    const problem = schema === undefined ? undefined : schemaProblem(schema);
    if (problem !== undefined) {
      throw suiteError('bad_schema', src, place, `not a schema the validator reads: ${problem}`);
    }
  }
  return { ...e, status } as Expectation;
}
