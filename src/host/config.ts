import { existsSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { Budgets } from '../interpreter/budget.js';
import type { EndorseKind } from '../labels/endorse.js';
import type { Integrity, Readers } from '../labels/label.js';
import { parseFieldPath } from '../labels/parts.js';
import type { ModelBinding } from '../models/driver.js';
import { DEFAULT_FLOW, type FlowPolicy } from '../monitor/flow.js';
import type { Rule } from '../monitor/monitor.js';
import { ConfigError } from '../spec/errors.js';
import { schemaProblem } from '../spec/json-schema.js';
import { closest, didYouMean } from '../spec/near.js';
import { placeAt, readSource } from '../spec/source.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type { Durability } from '../store/store.js';
import type { McpServerSpec } from '../tools/mcp.js';
import { LOG_LEVELS, type LoggingLevel } from '../tools/mcp-hooks.js';
import { pointerToPath } from '../verifier/schema-check.js';
import { resourceRules } from './resources.js';
import type { TelemetryConfig } from './telemetry.js';

/**
 * A record's own entry: names from an image or a configuration (`constructor`, `__proto__`)
 * must not reach what every object inherits.
 */
export function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** A label as a configuration writes it; what it leaves out comes from around it. */
export interface LabelSetting {
  integrity?: Integrity;
  readers?: 'public' | string[];
}

/**
 * Who learns a tool's arguments: anyone, or a list of principals, in which `{ arg: NAME }`
 * stands for the addresses the argument NAME holds (a string, or a list of strings).
 */
export type RecipientsSetting = 'public' | (string | { arg: string })[];

/** How one tool of a namespace is treated, where it differs from the namespace. */
export interface ToolBinding {
  /** How the tool's results are labelled; what it leaves out is the namespace's `label`. */
  label?: LabelSetting;
  /** Who learns the tool's arguments; default the namespace's `recipients`. */
  recipients?: RecipientsSetting;
  /**
   * Places in the tool's result that the provider writes, as field paths into its structured
   * content and its JSON text (`hotels[*].id`), each with the label the operator gives it;
   * what a field's label leaves out is the tool's. The result as a whole keeps its label.
   */
  fields?: Record<string, LabelSetting>;
  /**
   * Arguments that carry content the call delivers (a message's text, an event's place)
   * rather than choose what it does: untrusted data in them does not make the call one made
   * from an untrusted context, though their readers still count. An argument that names
   * recipients or a resource cannot be content.
   */
  content?: string[];
  /**
   * Which of the tool's arguments name files (`fs`) or URLs (`net`), over the namespace's
   * `resources`: `{}` says the tool's arguments name none.
   */
  resources?: Record<string, 'fs' | 'net'>;
}

/** A tool namespace: an MCP server as `mcpServers` entries are written, and how to treat it. */
export type NamespaceBinding = McpServerSpec & {
  /**
   * How results from this namespace are labelled. Default: readable by anyone, and
   * untrusted: what a server returns is data from outside unless the operator vouches for it.
   */
  label?: LabelSetting;
  /** Who learns the arguments of a call to this namespace's tools. Default: anyone. */
  recipients?: Readers;
  /** Settings of single tools, by name, over the namespace's. */
  tools?: Record<string, ToolBinding>;
  timeoutMs?: number;
  /** Which arguments name files (`fs`) or URLs (`net`); default for the filesystem server. */
  resources?: Record<string, 'fs' | 'net'>;
  /** The folder relative paths in arguments resolve against. */
  resourceBase?: string;
  /**
   * How each tool uses what it touches; a tool not named is taken to write, except the
   * reference filesystem and memory servers' read tools, known by name. The server's own
   * annotations only tighten that guess (a read tool it calls destructive is decided as a
   * write too); a read-only claim never makes a tool read.
   */
  modes?: Record<string, 'read' | 'write' | 'execute'>;
  /**
   * Results that reach the model as handles rather than content: every tool's (`true`) or
   * the named ones'. The namespace then offers `inspect_handle` to read one.
   */
  handles?: boolean | string[];
  /**
   * Tools whose calls may simply be made again (every tool's, `true`, or the named ones'):
   * when a run stopped mid-call, such a call is repeated on resume, journaled as such;
   * any other asks a person first.
   */
  idempotent?: boolean | string[];
  /** Folders the server is told are its roots; none when not named. */
  roots?: string[];
  /** The model slot that answers the server's sampling requests, once `sampling:NS` is allowed. */
  sampling?: { model: string };
  /**
   * The server's log messages at this level or above are journaled as `server.log` marks;
   * the server is asked for this level when it offers logging. None are journaled when unset.
   */
  logLevel?: LoggingLevel;
};

/**
 * The host configuration: what a machine binds an image to.
 *
 * ```yaml
 * models:
 *   main: { driver: replay, file: replies.yaml }
 * mcpServers:
 *   fs: { command: node, args: ['${package:@modelcontextprotocol/server-filesystem}/dist/index.js', data] }
 * rules:
 *   - allow: tool:fs/read_*
 * ```
 */
export interface HostConfig {
  /** The file it was read from, or null for a configuration given as an object. */
  path: string | null;
  /** Relative paths in the configuration resolve against this folder. */
  dir: string;
  models: Record<string, ModelBinding>;
  /**
   * Model bindings by name, bound to no slot: what `mvm eval --models NAME` puts in an
   * image's slots for a run, to compare models on the same tasks.
   */
  catalogue: Record<string, ModelBinding>;
  tools: Record<string, NamespaceBinding>;
  rules: Rule[];
  budgets: Partial<Budgets>;
  toolTimeoutMs: number;
  store: { dir?: string; durability: Durability };
  inputs: Record<string, Json>;
  /** Public keys, one of which must have signed an image before it loads; none: no check. */
  trustedImageKeys: string[];
  /** The private key that signs each run's manifest, if any. */
  manifestKey: string | null;
  /** The flow rules and which extracted answers are endorsed as trusted. */
  flow: FlowPolicy & { endorse?: EndorseKind[] };
  /** Who the run acts for: the user, and the recipient of what is shown or asked. */
  principal: string;
  /** OpenTelemetry spans: whether they carry content, and whether instructions get spans. */
  telemetry?: TelemetryConfig;
  /** The configuration as written, for its digest. */
  raw: JsonObject;
  /** `line:col` of a key path in the file (`mcpServers.fs.roots`), when read from one. */
  locate?: (at: string) => string | undefined;
  /** Each namespace's key as the file writes it: `mcpServers.NS` or `tools.NS`. */
  keys?: Record<string, string>;
}

/**
 * A place in a configuration for a message: its file, the line and column when known, and
 * the key path, as `mvm.yaml:12:5: mcpServers.fs.roots`.
 */
export function placeIn(config: HostConfig, at: string): string {
  return placeAt(config.path ?? 'configuration', at, config.locate?.(at));
}

/** A namespace's key as the configuration writes it; `mcpServers.NS` when it names none. */
export function namespaceKey(config: HostConfig, ns: string): string {
  return (
    (Object.hasOwn(config.keys ?? {}, ns) ? config.keys![ns] : undefined) ?? `mcpServers.${ns}`
  );
}

const readers = {
  anyOf: [{ const: 'public' }, { type: 'array', items: { type: 'string', minLength: 1 } }],
};

const verdict = { enum: ['allow', 'deny', 'confirm'] };

const labelSetting = {
  type: 'object',
  additionalProperties: false,
  properties: { integrity: { enum: ['trusted', 'untrusted'] }, readers },
};

const toolBinding = {
  type: 'object',
  additionalProperties: false,
  properties: {
    label: labelSetting,
    recipients: {
      anyOf: [
        { const: 'public' },
        {
          type: 'array',
          items: {
            anyOf: [
              { type: 'string', minLength: 1 },
              {
                type: 'object',
                additionalProperties: false,
                required: ['arg'],
                properties: { arg: { type: 'string', minLength: 1 } },
              },
            ],
          },
        },
      ],
    },
    fields: { type: 'object', additionalProperties: labelSetting },
    content: { type: 'array', uniqueItems: true, items: { type: 'string', minLength: 1 } },
    resources: { type: 'object', additionalProperties: { enum: ['fs', 'net'] } },
  },
};

const server = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: { enum: ['stdio', 'http', 'streamable-http', 'sse'] },
    command: { type: 'string', minLength: 1 },
    args: { type: 'array', items: { type: 'string' } },
    env: { type: 'object', additionalProperties: { type: 'string' } },
    cwd: { type: 'string' },
    url: { type: 'string', minLength: 1 },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 1 },
    resources: { type: 'object', additionalProperties: { enum: ['fs', 'net'] } },
    modes: { type: 'object', additionalProperties: { enum: ['read', 'write', 'execute'] } },
    resourceBase: { type: 'string' },
    sampling: {
      type: 'object',
      additionalProperties: false,
      required: ['model'],
      properties: { model: { type: 'string', minLength: 1 } },
    },
    recipients: readers,
    handles: { anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' } }] },
    idempotent: { anyOf: [{ type: 'boolean' }, { type: 'array', items: { type: 'string' } }] },
    roots: { type: 'array', items: { type: 'string', minLength: 1 } },
    logLevel: { enum: [...LOG_LEVELS] },
    label: labelSetting,
    tools: { type: 'object', additionalProperties: toolBinding },
    disabled: { type: 'boolean' },
    // Keys other MCP clients write in the same block; mvm reads none of them.
    autoApprove: {},
    alwaysAllow: {},
    timeout: {},
    envFile: {},
    transport: {},
    description: {},
  },
};

/** A model binding: a driver and its options, which each driver checks for itself. */
export const MODEL_BINDING_SCHEMA = {
  type: 'object',
  required: ['driver'],
  properties: {
    driver: { type: 'string', minLength: 1 },
    recipients: readers,
    pin: {
      type: 'object',
      additionalProperties: false,
      properties: {
        provider: { type: 'string', minLength: 1 },
        model: { type: 'string', minLength: 1 },
        fingerprint: { type: 'string', minLength: 1 },
        onMismatch: { enum: ['error', 'warn'] },
      },
    },
  },
};

const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    models: { type: 'object', additionalProperties: MODEL_BINDING_SCHEMA },
    catalogue: { type: 'object', additionalProperties: MODEL_BINDING_SCHEMA },
    tools: { type: 'object', additionalProperties: server },
    mcpServers: { type: 'object', additionalProperties: server },
    rules: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          allow: { type: 'string', minLength: 1 },
          deny: { type: 'string', minLength: 1 },
          confirm: { type: 'string', minLength: 1 },
          reason: { type: 'string' },
          until: { type: 'string', format: 'date-time' },
          mode: { enum: ['read', 'write', 'execute'] },
          args: { type: ['object', 'boolean'] },
        },
        oneOf: [{ required: ['allow'] }, { required: ['deny'] }, { required: ['confirm'] }],
      },
    },
    budgets: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(
        ['steps', 'modelCalls', 'tokens', 'wallMs', 'toolCalls'].map((k) => [
          k,
          { type: 'integer', minimum: 1 },
        ]),
      ),
    },
    toolTimeoutMs: { type: 'integer', minimum: 1 },
    store: {
      type: 'object',
      additionalProperties: false,
      properties: { dir: { type: 'string' }, durability: { enum: ['full', 'normal'] } },
    },
    inputs: { type: 'object' },
    principal: { type: 'string', minLength: 1 },
    flow: {
      type: 'object',
      additionalProperties: false,
      properties: {
        untrusted: verdict,
        readers: verdict,
        release: { enum: ['none', 'chosen'] },
        endorse: {
          type: 'array',
          uniqueItems: true,
          items: { enum: ['boolean', 'enum', 'number', 'date'] },
        },
      },
    },
    trust: {
      type: 'object',
      additionalProperties: false,
      properties: { images: { type: 'array', items: { type: 'string' } } },
    },
    manifest: {
      type: 'object',
      additionalProperties: false,
      properties: { signingKey: { type: 'string' } },
    },
    telemetry: {
      type: 'object',
      additionalProperties: false,
      properties: { captureContent: { type: 'boolean' }, instructions: { type: 'boolean' } },
    },
  },
};

let ajv: Ajv | undefined;

/**
 * A validator for the schema of one of the host's own files (a configuration, a suite), from
 * one validator library instance made on first use: a command that reads none pays nothing.
 */
export function hostFileValidator(schema: object): ValidateFunction {
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, strict: false, logger: false });
    addFormats.default(ajv);
  }
  return ajv.compile(schema);
}

let compiled: ValidateFunction | undefined;
/** The configuration's validator, compiled on first use. */
function configValidator(): ValidateFunction {
  compiled ??= hostFileValidator(CONFIG_SCHEMA);
  return compiled;
}

/** Filled when a run starts with the run's own folder, in server settings and rules alike. */
export const RUN_DIR = ['$', '{runDir}'].join('');

/** The kinds of resource a rule may name, as the monitor's requests name them. */
const SCHEMES = [
  'tool:',
  'resource:',
  'prompt:',
  'fs:',
  'net:',
  'mem:',
  'model:',
  'elicitation:',
  'sampling:',
];

/** Why a rule's pattern can never match what the machine asks about, if it cannot. */
function patternProblem(pattern: string): string | undefined {
  if (pattern === 'user' || pattern.startsWith('*')) return undefined;
  const scheme = SCHEMES.find((k) => pattern.startsWith(k));
  if (!scheme) {
    return `'${pattern}' names no kind of resource (${[...SCHEMES, 'user'].join(', ')})`;
  }
  const absolute = ['fs:/', 'fs:*', `fs:${RUN_DIR}`].some((p) => pattern.startsWith(p));
  if (scheme === 'fs:' && !absolute) {
    return `'${pattern}': a file pattern is an absolute path, as fs:/abs/path, fs:\${configDir}/... or fs:\${runDir}/...`;
  }
  return undefined;
}

/**
 * Fills `${configDir}`, `${env:NAME}` and `${package:NAME}` in a string. A variable that is
 * not set is an error, unless the reference gives a default: `${env:NAME:-fallback}`.
 */
export function expandString(s: string, dir: string, env: NodeJS.ProcessEnv): string {
  return s.replace(/\$\{([^}]+)\}/g, (whole, ref: string) => {
    if (ref === 'configDir') return dir;
    if (ref.includes('$' + '{')) {
      throw new ConfigError(
        'bad_reference',
        `'${s}': a reference cannot hold another one; a default is plain text`,
        { reference: s },
      );
    }
    if (ref.startsWith('env:')) {
      const [name = '', ...fallback] = ref.slice(4).split(':-');
      const value = env[name];
      if (value !== undefined) return value;
      if (fallback.length > 0) return fallback.join(':-');
      throw new ConfigError(
        'unset_env',
        `environment variable '${name}' is not set (write \${env:${name}:-} for an empty default)`,
        { variable: name },
      );
    }
    if (ref.startsWith('package:')) return packageDir(ref.slice(8), dir);
    // Left alone: `${runDir}` is filled when a run starts.
    return whole;
  });
}

/** The folder of an installed npm package: looked up from `from` upwards, then from mvm's own. */
export function packageDir(name: string, from: string): string {
  const own = fileURLToPath(new URL('.', import.meta.url));
  for (const start of [resolve(from), own]) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new ConfigError(
    'package_not_found',
    `package '${name}' is not installed (looked from ${from})`,
    {
      package: name,
    },
  );
}

/**
 * `expandString` over every string of a value; `${runDir}` and unknown names are left. An
 * error names the key it was found at, as `at`.
 */
export function expandDeep(node: unknown, dir: string, env: NodeJS.ProcessEnv, at = ''): unknown {
  if (typeof node === 'string') {
    try {
      return expandString(node, dir, env);
    } catch (e) {
      if (e instanceof ConfigError) e.data.at = at;
      throw e;
    }
  }
  const key = (k: string | number) =>
    typeof k === 'number' ? `${at}[${k}]` : at ? `${at}.${k}` : k;
  if (Array.isArray(node)) return node.map((n, i) => expandDeep(n, dir, env, key(i)));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, expandDeep(v, dir, env, key(k))]),
    );
  }
  return node;
}

/** Every key the configuration's schema names, at any depth, to suggest for a misspelt one. */
let schemaKeys: string[] | undefined;
function knownKeys(): string[] {
  if (schemaKeys) return schemaKeys;
  const keys = new Set<string>(MODEL_BINDING_KEYS);
  const walk = (node: unknown) => {
    if (node === null || typeof node !== 'object') return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    for (const [k, v] of Object.entries(props ?? {})) {
      keys.add(k);
      walk(v);
    }
    for (const v of Object.values(node)) if (v !== props) walk(v);
  };
  walk(CONFIG_SCHEMA);
  schemaKeys = [...keys];
  return schemaKeys;
}

function unknownField(key: string): string {
  return `unknown field '${key}'${didYouMean(closest(key, knownKeys()))}`;
}

/**
 * The options the bundled drivers read from a model binding. A driver the host application
 * registers may read others, so only a near miss of one of these is refused.
 */
const MODEL_BINDING_KEYS = [
  'driver',
  'model',
  'provider',
  'baseUrl',
  'apiKeyEnv',
  'headers',
  'timeoutMs',
  'maxRetries',
  'stream',
  'streamUsage',
  'contextWindow',
  'capabilities',
  'price',
  'pin',
  'recipients',
  'file',
  'replies',
  'keepAlive',
  'options',
  'parallelToolCalls',
  'maxTokens',
  'maxTokensField',
  'schemaMode',
  'strictSchema',
  'toolChoice',
  'anthropicVersion',
] as const;

/** A binding's key that is not one the drivers read but is a near miss of one. */
function misspeltBindingKey(binding: JsonObject): { key: string; near: string } | undefined {
  for (const key of Object.keys(binding)) {
    if ((MODEL_BINDING_KEYS as readonly string[]).includes(key)) continue;
    const near = closest(key, MODEL_BINDING_KEYS);
    if (near) return { key, near };
  }
  return undefined;
}

/** Validates and normalises a configuration object; `where` names its file in messages. */
export function parseConfig(
  data: unknown,
  options: {
    path: string | null;
    dir: string;
    env?: NodeJS.ProcessEnv;
    locate?: (p: string) => string | undefined;
  },
): HostConfig {
  const where = options.path ?? 'configuration';
  const raw = (data ?? {}) as JsonObject;
  const validate = configValidator();
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).filter(
      (e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf',
    );
    // The deepest place is the most precise; where alternatives fail there, each says why.
    const depth = (x: { instancePath: string }) => x.instancePath.split('/').length;
    const deepest = Math.max(...problems.map(depth));
    const here = problems.filter((x) => depth(x) === deepest);
    const e =
      here.find((x) => x.keyword === 'additionalProperties') ?? here[0] ?? validate.errors![0]!;
    const at = pointerToPath(e.instancePath, '(config)');
    const p = e.params as Record<string, unknown>;
    const field = e.keyword === 'additionalProperties' ? String(p.additionalProperty) : undefined;
    const place = field === undefined ? at : at.startsWith('(') ? field : `${at}.${field}`;
    const pos = options.locate?.(place) ?? options.locate?.(at);
    const say = (x: (typeof problems)[number]) => {
      const q = x.params as Record<string, unknown>;
      if (x.keyword === 'additionalProperties') return unknownField(String(q.additionalProperty));
      if (x.keyword === 'required') return `missing '${String(q.missingProperty)}'`;
      if (x.keyword === 'const') return `must be ${JSON.stringify(q.allowedValue)}`;
      if (x.keyword === 'enum') {
        const values = (q.allowedValues as unknown[]).map((v) => JSON.stringify(v));
        return `expected one of ${values.join(', ')}`;
      }
      return x.message ?? 'invalid';
    };
    const detail = [...new Set((here.length > 0 ? here : [e]).map(say))].join(', or ');
    throw new ConfigError('invalid_config', `${placeAt(where, at, pos)}: ${detail}`, {
      file: options.path,
      at,
      position: pos,
      issues: (validate.errors ?? []).map(
        (x) => `${pointerToPath(x.instancePath, '(config)')} ${x.message}`,
      ),
    });
  }

  for (const block of ['models', 'catalogue'] as const) {
    for (const [slot, binding] of Object.entries(
      (raw[block] ?? {}) as Record<string, JsonObject>,
    )) {
      const miss = misspeltBindingKey(binding);
      if (!miss) continue;
      const at = `${block}.${slot}`;
      const pos = options.locate?.(`${at}.${miss.key}`) ?? options.locate?.(at);
      throw new ConfigError(
        'invalid_config',
        `${placeAt(where, at, pos)}: unknown field '${miss.key}'${didYouMean(miss.near)}`,
        { file: options.path, at },
      );
    }
  }

  ((raw.rules ?? []) as JsonObject[]).forEach((rule, i) => {
    const problem = rule.args === undefined ? undefined : schemaProblem(rule.args as JsonSchema);
    if (problem !== undefined) {
      const pos = options.locate?.(`rules[${i}].args`);
      throw new ConfigError(
        'invalid_config',
        `${placeAt(where, `rules[${i}].args`, pos)}: not a schema the validator reads: ${problem}`,
        { file: options.path, at: `rules[${i}].args` },
      );
    }
    if (typeof rule.until === 'string' && Number.isNaN(Date.parse(rule.until))) {
      const pos = options.locate?.(`rules[${i}].until`);
      throw new ConfigError(
        'invalid_config',
        `${placeAt(where, `rules[${i}].until`, pos)}: not a time this machine reads: '${rule.until}'`,
        {
          file: options.path,
          at: `rules[${i}].until`,
        },
      );
    }
  });
  checkFieldPaths(raw, where, options);
  const env = options.env ?? process.env;
  let expanded: JsonObject;
  try {
    expanded = expandDeep(raw, options.dir, env) as JsonObject;
  } catch (e) {
    const named = ['unset_env', 'bad_reference', 'package_not_found'];
    if (!(e instanceof ConfigError) || !named.includes(e.code)) throw e;
    const at = String(e.data.at);
    const pos = options.locate?.(at);
    throw new ConfigError(e.code, `${placeAt(where, at, pos)}: ${e.message}`, {
      ...e.data,
      file: options.path,
      at,
    });
  }
  ((expanded.rules ?? []) as JsonObject[]).forEach((rule, i) => {
    const pattern = (rule.allow ?? rule.deny ?? rule.confirm) as string;
    const problem = patternProblem(pattern);
    if (problem === undefined) return;
    const pos = options.locate?.(`rules[${i}]`);
    throw new ConfigError('invalid_config', `${placeAt(where, `rules[${i}]`, pos)}: ${problem}`, {
      file: options.path,
      at: `rules[${i}]`,
    });
  });
  const tools: Record<string, NamespaceBinding> = {};
  const keys: Record<string, string> = {};
  for (const block of ['mcpServers', 'tools'] as const) {
    const servers = (expanded[block] ?? {}) as unknown as Record<
      string,
      NamespaceBinding & { disabled?: boolean }
    >;
    for (const [ns, spec] of Object.entries(servers)) {
      if (spec.disabled) continue;
      if (Object.hasOwn(tools, ns)) {
        const pos = options.locate?.(`${block}.${ns}`);
        throw new ConfigError(
          'duplicate_namespace',
          `${placeAt(where, `${block}.${ns}`, pos)}: namespace '${ns}' is mounted twice, under ${keys[ns]} too`,
          { file: options.path, at: `${block}.${ns}` },
        );
      }
      const s = { ...spec };
      if ('cwd' in s && typeof s.cwd === 'string') s.cwd = resolve(options.dir, s.cwd);
      checkContent(s, `${block}.${ns}`, where, options);
      tools[ns] = s;
      keys[ns] = `${block}.${ns}`;
    }
  }
  const store = (expanded.store ?? {}) as { dir?: string; durability?: Durability };
  return {
    path: options.path,
    dir: options.dir,
    models: (expanded.models ?? {}) as Record<string, ModelBinding>,
    catalogue: (expanded.catalogue ?? {}) as Record<string, ModelBinding>,
    tools,
    rules: (expanded.rules ?? []) as unknown as Rule[],
    budgets: (expanded.budgets ?? {}) as Partial<Budgets>,
    toolTimeoutMs: (expanded.toolTimeoutMs as number | undefined) ?? 30_000,
    store: {
      dir: store.dir === undefined ? undefined : resolve(options.dir, store.dir),
      durability: store.durability ?? 'normal',
    },
    inputs: (expanded.inputs ?? {}) as Record<string, Json>,
    trustedImageKeys: (((expanded.trust as JsonObject | undefined)?.images ?? []) as string[]).map(
      (p) => resolve(options.dir, p),
    ),
    manifestKey: (() => {
      const k = (expanded.manifest as JsonObject | undefined)?.signingKey;
      return typeof k === 'string' ? resolve(options.dir, k) : null;
    })(),
    flow: {
      ...DEFAULT_FLOW,
      ...((expanded.flow ?? {}) as Partial<FlowPolicy & { endorse: EndorseKind[] }>),
    },
    principal: (expanded.principal as string | undefined) ?? 'user',
    telemetry: {
      captureContent: (expanded.telemetry as JsonObject | undefined)?.captureContent === true,
      instructions: (expanded.telemetry as JsonObject | undefined)?.instructions !== false,
    },
    raw,
    keys,
    ...(options.locate ? { locate: options.locate } : {}),
  };
}

/** Refuses a vouched field whose path is not one, naming the place and the piece at fault. */
function checkFieldPaths(
  raw: JsonObject,
  where: string,
  options: { path: string | null; locate?: (p: string) => string | undefined },
): void {
  for (const block of ['mcpServers', 'tools'] as const) {
    const servers = (raw[block] ?? {}) as Record<string, JsonObject>;
    for (const [ns, spec] of Object.entries(servers)) {
      const tools = (spec.tools ?? {}) as Record<string, JsonObject>;
      for (const [tool, binding] of Object.entries(tools)) {
        for (const path of Object.keys((binding.fields ?? {}) as JsonObject)) {
          const steps = parseFieldPath(path);
          if (typeof steps !== 'string') continue;
          const at = `${block}.${ns}.tools.${tool}.fields`;
          const pos = options.locate?.(`${at}.${path}`) ?? options.locate?.(at);
          throw new ConfigError(
            'invalid_config',
            `${placeAt(where, at, pos)}: '${path}' is not a field path (${steps}); write keys joined by '.', each followed by any [*], as hotels[*].id`,
            { file: options.path, at, path },
          );
        }
      }
    }
  }
}

/**
 * Refuses an argument called content that also names recipients or a resource: it chooses
 * who learns the call, or which file or address it acts on. Checked on the configuration
 * as expanded, with the resource map that applies to the tool.
 */
function checkContent(
  binding: NamespaceBinding,
  at: string,
  where: string,
  options: { path: string | null; locate?: (p: string) => string | undefined },
): void {
  for (const [tool, own] of Object.entries(binding.tools ?? {})) {
    const content = own.content ?? [];
    if (content.length === 0) continue;
    const recipients = Array.isArray(own.recipients) ? own.recipients : [];
    const named = new Set(
      recipients.flatMap((r) => (typeof r === 'string' ? [] : [r.arg])).filter((a) => a),
    );
    const map = resourceRules(binding, tool)?.map ?? {};
    for (const arg of content) {
      const role = named.has(arg)
        ? "names the call's recipients, so it chooses who learns the call"
        : Object.hasOwn(map, arg)
          ? `names ${map[arg] === 'fs' ? 'a file' : 'an address'} the call acts on`
          : undefined;
      if (!role) continue;
      const place = `${at}.tools.${tool}.content`;
      const pos = options.locate?.(place);
      throw new ConfigError(
        'invalid_config',
        `${placeAt(where, place, pos)}: '${arg}' ${role}, and cannot be content`,
        { file: options.path, at: place, arg },
      );
    }
  }
}

/** Reads a host configuration file (YAML or JSON). */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const abs = resolve(path);
  const src = readSource(abs, 'host configuration');
  // The folder as the file system names it, symlinks resolved, so rules over paths under
  // ${'$'}{configDir} match the paths calls resolve to.
  const dir = realpathSync(dirname(abs));
  return parseConfig(src.data, { path: abs, dir, env, locate: src.locate });
}
