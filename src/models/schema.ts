import { DriverError } from '../spec/errors.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type { ToolSpec } from './driver.js';
import { isRecord } from './wire.js';

/**
 * Tool schemas as providers take them. MCP servers publish JSON Schema with `$ref` into
 * `$defs`, which several providers do not follow; every provider wants an object at the
 * root. The machine still checks each call's arguments against the tool's own schema, so
 * where a provider needs a looser schema, loosening it costs the model guidance, never safety.
 */

/** Providers whose known refusals normalisation works around. */
export type SchemaProfile = 'openai' | 'anthropic' | 'ollama';

/** Keywords whose value is a map from names to subschemas. */
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'dependentSchemas']);
/** Keywords whose value is one subschema. */
const SCHEMA_ONE = new Set([
  'additionalProperties',
  'additionalItems',
  'contains',
  'not',
  'if',
  'then',
  'else',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
]);
/** Keywords whose value is a list of subschemas (`items` too, in its draft-07 tuple form). */
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Definitions are inlined where they are used, so the containers go. */
const DEFINITIONS = new Set(['$defs', 'definitions']);
/** Inlining a schema whose references fan out could grow it without limit. */
const MAX_NODES = 20_000;

/**
 * A tool's input schema with every local `$ref` inlined and `$defs` removed, an object at
 * the root, and the profile's adaptations applied. Throws DriverError `unsupported_schema`
 * naming the tool for a remote or unresolvable reference, a cycle, or a root that cannot be
 * an object.
 *
 * ```ts
 * normalizeSchema({ $ref: '#/$defs/A', $defs: { A: { type: 'object' } } }, 'fs/read');
 * // { type: 'object' }
 * ```
 */
export function normalizeSchema(
  schema: JsonSchema,
  toolName: string,
  profile: SchemaProfile = 'openai',
): JsonObject {
  const about: About = { subject: `tool '${toolName}'`, tool: toolName };
  const inlined = new Inliner(schema, about).walk(schema, '', []);

  if (inlined === false) throw unsupported(about, 'the schema accepts no arguments', '');
  const root: JsonObject = inlined === true ? {} : { ...inlined };
  // A root that may also be null is, for a call's arguments, an object.
  if (Array.isArray(root.type) && root.type.includes('object')) root.type = 'object';
  if (root.type === undefined) root.type = 'object';
  if (root.type !== 'object') {
    const found = JSON.stringify(root.type);
    throw unsupported(about, `the root must be type object, found ${found}`, '');
  }
  return profile === 'anthropic' ? flattenRoot(root) : root;
}

/**
 * A schema with every local `$ref` inlined, for a reply schema as much as a tool's. `subject`
 * names what the schema belongs to in errors, as `tool 'fs/read'`.
 *
 * ```ts
 * inlineRefs(schema, 'the answer schema');
 * ```
 */
export function inlineRefs(schema: JsonSchema, subject: string): JsonSchema {
  return new Inliner(schema, { subject }).walk(schema, '', []);
}

/**
 * A reply schema with every object closed (`additionalProperties: false` where it says
 * nothing), as structured outputs that compile schemas to grammars demand. Closing only
 * narrows what the model may write, so the answer still meets the schema the image gave.
 *
 * ```ts
 * closeObjects({ type: 'object', properties: { a: {} } });
 * // { type: 'object', properties: { a: {} }, additionalProperties: false }
 * ```
 */
export function closeObjects(schema: JsonSchema): JsonSchema {
  if (typeof schema === 'boolean') return schema;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SCHEMA_MAPS.has(key) && isRecord(value)) {
      out[key] = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, closeSub(sub as Json)]),
      );
    } else if ((SCHEMA_LISTS.has(key) || key === 'items') && Array.isArray(value)) {
      out[key] = value.map(closeSub);
    } else if (SCHEMA_ONE.has(key) || key === 'items') {
      out[key] = closeSub(value);
    } else out[key] = value;
  }

  const type = schema.type;
  const isObject =
    type === 'object' ||
    (Array.isArray(type) && type.includes('object')) ||
    isRecord(schema.properties);
  if (isObject && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

function closeSub(value: Json): Json {
  return typeof value === 'boolean' || isRecord(value) ? closeObjects(value as JsonSchema) : value;
}

/**
 * Normalises each tool's schema once, however many calls offer it: results are kept per
 * schema object, which the machine passes unchanged from call to call.
 *
 * ```ts
 * const schemas = new SchemaCache('anthropic');
 * const inputSchema = schemas.of(tool);
 * ```
 */
export class SchemaCache {
  private readonly done = new WeakMap<JsonObject, JsonObject>();

  constructor(private readonly profile: SchemaProfile) {}

  of(tool: ToolSpec): JsonObject {
    const known = this.done.get(tool.inputSchema);
    if (known !== undefined) return known;
    const normalized = normalizeSchema(tool.inputSchema, tool.name, this.profile);
    this.done.set(tool.inputSchema, normalized);
    return normalized;
  }
}

/** What a schema belongs to, for errors. */
interface About {
  subject: string;
  tool?: string;
}

class Inliner {
  private nodes = 0;

  constructor(
    private readonly root: JsonSchema,
    private readonly about: About,
  ) {}

  /** `stack` holds the references being expanded on the way here, to find cycles. */
  walk(node: JsonSchema, at: string, stack: string[]): JsonSchema {
    if (++this.nodes > MAX_NODES) {
      throw unsupported(this.about, `the schema exceeds ${MAX_NODES} nodes once inlined`, at);
    }
    if (typeof node === 'boolean') return node;

    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' || DEFINITIONS.has(key)) continue;
      out[key] = this.keyword(key, value, `${at}/${pointerToken(key)}`, stack);
    }
    if (node.$ref === undefined) return out;
    return withSiblings(this.follow(node.$ref, `${at}/$ref`, stack), out);
  }

  private keyword(key: string, value: Json, at: string, stack: string[]): Json {
    if (SCHEMA_MAPS.has(key) && isRecord(value)) {
      // fromEntries keeps a property named `__proto__`; assigning it would not.
      return Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [
          name,
          this.sub(sub, `${at}/${pointerToken(name)}`, stack),
        ]),
      );
    }
    if ((SCHEMA_LISTS.has(key) || key === 'items') && Array.isArray(value)) {
      return value.map((sub, index) => this.sub(sub, `${at}/${index}`, stack));
    }
    if (SCHEMA_ONE.has(key) || key === 'items') return this.sub(value, at, stack);
    // Everything else is data (const, enum, default, examples...) or a plain keyword.
    return value;
  }

  /** A subschema, or a value in a schema place that is not a schema, kept as found. */
  private sub(value: Json, at: string, stack: string[]): Json {
    return typeof value === 'boolean' || isRecord(value)
      ? this.walk(value as JsonSchema, at, stack)
      : value;
  }

  private follow(ref: Json, at: string, stack: string[]): JsonSchema {
    if (typeof ref !== 'string') throw unsupported(this.about, '$ref is not a string', at);
    if (!ref.startsWith('#')) {
      throw unsupported(this.about, `remote reference '${ref}' is not supported`, at);
    }
    if (stack.includes(ref)) {
      throw unsupported(this.about, `reference '${ref}' is recursive`, at);
    }
    const target = resolvePointer(this.root, ref);
    if (target === undefined) {
      throw unsupported(this.about, `reference '${ref}' points at nothing`, at);
    }
    return this.walk(target, at, [...stack, ref]);
  }
}

/**
 * A reference's target with the keywords written beside the `$ref`: merged when they do not
 * overlap, else both kept under `allOf`, which means the same.
 */
function withSiblings(target: JsonSchema, siblings: JsonObject): JsonSchema {
  if (Object.keys(siblings).length === 0) return target;
  if (typeof target !== 'boolean' && Object.keys(target).every((key) => !(key in siblings))) {
    return { ...target, ...siblings };
  }
  const allOf = Array.isArray(siblings.allOf) ? siblings.allOf : [];
  return { ...siblings, allOf: [...allOf, target] };
}

/** The subschema a `#...` JSON pointer names, or undefined. */
function resolvePointer(root: JsonSchema, ref: string): JsonSchema | undefined {
  let pointer: string;
  try {
    pointer = decodeURIComponent(ref.slice(1));
  } catch {
    return undefined;
  }
  if (pointer !== '' && !pointer.startsWith('/')) return undefined;

  let node: Json = root;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const token = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(node)) node = node[Number(token)] ?? null;
    else if (isRecord(node) && Object.hasOwn(node, token))
      node = (node as JsonObject)[token] ?? null;
    else return undefined;
  }
  return typeof node === 'boolean' || isRecord(node) ? (node as JsonSchema) : undefined;
}

/**
 * Anthropic refuses `oneOf`, `anyOf` and `allOf` at the root of an input schema. The root
 * becomes one object: properties of every branch, required where the combinator demands it
 * (all of allOf's, those every branch of anyOf or oneOf shares).
 */
function flattenRoot(root: JsonObject): JsonObject {
  const combinators = ['allOf', 'anyOf', 'oneOf'] as const;
  if (combinators.every((key) => root[key] === undefined)) return root;

  const out: JsonObject = {};
  const properties: JsonObject = isRecord(root.properties) ? { ...root.properties } : {};
  let required = new Set(stringsOf(root.required));
  for (const [key, value] of Object.entries(root)) {
    if (!(combinators as readonly string[]).includes(key)) out[key] = value;
  }

  for (const key of combinators) {
    const list = root[key];
    const branches = (Array.isArray(list) ? list : []).filter((b): b is JsonObject => isRecord(b));
    for (const branch of branches) {
      if (!isRecord(branch.properties)) continue;
      for (const [name, sub] of Object.entries(branch.properties)) {
        if (Object.hasOwn(properties, name)) continue;
        // Defined, not assigned: a property named `__proto__` stays a property.
        Object.defineProperty(properties, name, {
          value: sub,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    const lists = branches.map((branch) => stringsOf(branch.required));
    if (key === 'allOf') required = new Set([...required, ...lists.flat()]);
    else if (lists.length > 0) {
      const shared = lists.reduce((a, b) => a.filter((name) => b.includes(name)));
      required = new Set([...required, ...shared]);
    }
  }

  out.properties = properties;
  if (required.size > 0) out.required = [...required];
  else delete out.required;
  return out;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function pointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unsupported(about: About, why: string, at: string): DriverError {
  const where = at === '' ? '' : ` at '${at}'`;
  return new DriverError('unsupported_schema', `${about.subject}: ${why}${where}`, {
    ...about,
    reason: why,
    at: at === '' ? '/' : at,
  });
}
