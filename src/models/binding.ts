import { ConfigError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';
import type { ModelBinding, ModelCapabilities } from './driver.js';
import { isRecord } from './wire.js';

/**
 * Reading a model binding from the host configuration. Every error is a ConfigError with
 * code `bad_model_binding` that names the field, says what was expected and what was found;
 * a value that may be a misplaced credential is described by its kind only.
 */

/** USD per million tokens; a driver with a price reports `usage.cost`. */
export interface Price {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** The options every HTTP driver reads from its binding, before its own. */
export interface CommonBinding {
  baseUrl: string;
  model: string;
  apiKey?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxRetries?: number;
  contextWindow?: number;
  capabilities?: Partial<ModelCapabilities>;
  provider?: string;
  stream?: boolean;
  price?: Price;
}

/**
 * The shared part of every HTTP driver's binding: `baseUrl` (required unless the driver has
 * a default), `model`, `apiKeyEnv` (the environment variable holding the key, so the key
 * never sits in the configuration), `headers`, `timeoutMs`, `maxRetries`, `contextWindow`,
 * `capabilities`, `provider`, `stream` and `price`.
 *
 * ```ts
 * const common = commonFromBinding(binding, process.env, 'anthropic', 'https://api.example/v1');
 * ```
 */
export function commonFromBinding(
  binding: ModelBinding,
  env: NodeJS.ProcessEnv,
  driver: string,
  defaultBaseUrl?: string,
): CommonBinding {
  if (binding.driver !== driver) throw bindingError('driver', `'${driver}'`, binding.driver);
  const baseUrl =
    defaultBaseUrl !== undefined && binding.baseUrl === undefined
      ? defaultBaseUrl
      : requiredString(binding, 'baseUrl');
  const apiKeyEnv = optionalString(binding, 'apiKeyEnv');

  return {
    baseUrl,
    model: requiredString(binding, 'model'),
    apiKey: apiKeyEnv === undefined ? undefined : apiKeyFrom(env, apiKeyEnv),
    headers: headersField(binding.headers),
    timeoutMs: numberField(binding, 'timeoutMs'),
    maxRetries: numberField(binding, 'maxRetries'),
    contextWindow: numberField(binding, 'contextWindow'),
    capabilities: capabilitiesField(binding.capabilities),
    provider: optionalString(binding, 'provider'),
    stream: booleanField(binding, 'stream'),
    price: priceField(binding.price),
  };
}

function apiKeyFrom(env: NodeJS.ProcessEnv, variable: string): string {
  const key = env[variable];
  if (!key) {
    throw new ConfigError(
      'missing_api_key',
      `environment variable '${variable}' holding the api key is not set`,
      { variable },
    );
  }
  return key;
}

/** With `hide`, only the kind of the value found is said: it may be a misplaced credential. */
export function bindingError(
  field: string,
  expected: string,
  found: unknown,
  hide = false,
): ConfigError {
  const shown = hide ? kindOf(found) : show(found);
  return new ConfigError(
    'bad_model_binding',
    `model binding '${field}': expected ${expected}, found ${shown}`,
    { field, expected, found: shown },
  );
}

function show(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  return kindOf(value);
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function requiredString(binding: ModelBinding, field: string): string {
  const value = binding[field];
  if (typeof value !== 'string' || value === '') {
    throw bindingError(field, 'a non-empty string', value);
  }
  return value;
}

export function optionalString(binding: ModelBinding, field: string): string | undefined {
  return binding[field] === undefined ? undefined : requiredString(binding, field);
}

export function numberField(binding: ModelBinding, field: string): number | undefined {
  const value = binding[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw bindingError(field, 'a number', value);
  return value;
}

export function booleanField(binding: ModelBinding, field: string): boolean | undefined {
  const value = binding[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw bindingError(field, 'true or false', value);
  return value;
}

/** One of a fixed set of strings. */
export function enumField<T extends string>(
  binding: ModelBinding,
  field: string,
  values: readonly T[],
): T | undefined {
  const value = binding[field];
  if (value === undefined) return undefined;
  const known = values.find((candidate) => candidate === value);
  if (known === undefined) {
    throw bindingError(field, `one of ${values.map((v) => `'${v}'`).join(', ')}`, value);
  }
  return known;
}

export function objectField(
  binding: ModelBinding,
  field: string,
): { [key: string]: Json } | undefined {
  const value = binding[field];
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError(field, 'an object', value);
  return value as { [key: string]: Json };
}

function headersField(value: Json | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError('headers', 'an object of strings', value, true);

  const headers: Record<string, string> = {};
  for (const [name, header] of Object.entries(value)) {
    if (typeof header !== 'string') throw bindingError(`headers.${name}`, 'a string', header, true);
    headers[name] = header;
  }
  return headers;
}

const CAPABILITIES: readonly (keyof ModelCapabilities)[] = [
  'tools',
  'parallelToolCalls',
  'jsonSchema',
  'streaming',
];

function capabilitiesField(value: Json | undefined): Partial<ModelCapabilities> | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError('capabilities', 'an object of booleans', value);

  const capabilities: Partial<ModelCapabilities> = {};
  for (const [name, flag] of Object.entries(value)) {
    const known = CAPABILITIES.find((capability) => capability === name);
    if (known === undefined) {
      throw bindingError(`capabilities.${name}`, `one of ${CAPABILITIES.join(', ')}`, name);
    }
    if (typeof flag !== 'boolean') throw bindingError(`capabilities.${name}`, 'a boolean', flag);
    capabilities[known] = flag;
  }
  return capabilities;
}

/** A binding's `price`, when it has one: two non-negative rates in USD per million tokens. */
export function priceField(value: Json | undefined): Price | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bindingError('price', 'an object', value);

  const rate = (field: keyof Price): number => {
    const found = value[field];
    if (typeof found !== 'number' || !Number.isFinite(found) || found < 0) {
      throw bindingError(`price.${field}`, 'a non-negative number of usd', found);
    }
    return found;
  };
  return { inputPerMTok: rate('inputPerMTok'), outputPerMTok: rate('outputPerMTok') };
}
