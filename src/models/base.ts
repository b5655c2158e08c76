import { bindingError, type Price } from './binding.js';
import type {
  ModelCapabilities,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  Usage,
} from './driver.js';
import { HttpClient } from './http.js';

/** The options every HTTP driver takes; each driver adds its own. */
export interface HttpDriverOptions {
  /** The API root; the driver appends its endpoint path. */
  baseUrl: string;
  model: string;
  apiKey?: string;
  headers?: Record<string, string>;
  /** The deadline of one call: retries, their waits and the whole stream. Default 120 000. */
  timeoutMs?: number;
  /** Attempts after the first when the server answers 429 or 5xx. Default 2. */
  maxRetries?: number;
  contextWindow?: number;
  capabilities?: Partial<ModelCapabilities>;
  /** Who serves the model, for the manifest. Default the driver's name. */
  provider?: string;
  /** Ask for the reply as a stream, and pass text to `request.onText` as it comes. */
  stream?: boolean;
  /** With a price, every reply's usage carries its cost in USD. */
  price?: Price;
  /** A cap on the reply's tokens, for the wire formats that take one. */
  maxTokens?: number;
  fetch?: typeof fetch;
}

/** What one wire format says about itself to the shared constructor. */
export interface WireIdentity {
  driver: string;
  /** Appended to the base URL, as `/messages`. */
  path: string;
  /** The headers that carry the key. */
  auth(apiKey: string): Record<string, string>;
  /** The `accept` header, which depends on whether the driver streams. */
  accept(stream: boolean): string;
  /** Whether the driver streams when the options do not say. */
  streamByDefault: boolean;
}

/**
 * The shared body of the HTTP drivers: options checked once, an HttpClient for the endpoint,
 * the description, and usage priced when the binding gave a price. A subclass writes only
 * its wire format.
 *
 * ```ts
 * class MyDriver extends HttpDriver {
 *   constructor(options: HttpDriverOptions) { super(identity, options); }
 *   call(request: ModelRequest) { return this.http.call(encode(request), request.signal, decode); }
 * }
 * ```
 */
export abstract class HttpDriver implements ModelDriver {
  protected readonly http: HttpClient;
  protected readonly model: string;
  protected readonly streaming: boolean;
  private readonly price: Price | undefined;
  private readonly description: ModelDescription;

  protected constructor(identity: WireIdentity, options: HttpDriverOptions) {
    const endpoint = endpointOf(options.baseUrl, identity.path);
    const timeoutMs = options.timeoutMs ?? 120_000;
    const maxRetries = options.maxRetries ?? 2;
    const streaming = options.stream ?? identity.streamByDefault;

    if (options.model === '') throw bindingError('model', 'a non-empty string', options.model);
    if (!(timeoutMs > 0)) throw bindingError('timeoutMs', 'a positive number', timeoutMs);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) {
      throw bindingError('maxRetries', 'a non-negative integer', maxRetries);
    }
    const window = options.contextWindow;
    if (window !== undefined && (!Number.isInteger(window) || window <= 0)) {
      throw bindingError('contextWindow', 'a positive integer', window);
    }
    checkPrice(options.price);
    const max = options.maxTokens;
    if (max !== undefined && (!Number.isInteger(max) || max <= 0)) {
      throw bindingError('maxTokens', 'a positive integer', max);
    }

    this.http = new HttpClient({
      endpoint,
      headers: {
        'content-type': 'application/json',
        accept: identity.accept(streaming),
        ...(options.apiKey ? identity.auth(options.apiKey) : {}),
        ...options.headers,
      },
      secrets: secretsOf(options.apiKey, options.headers ?? {}),
      timeoutMs,
      maxRetries,
      fetch: options.fetch,
    });
    this.model = options.model;
    this.streaming = streaming;
    this.price = options.price;
    this.description = {
      driver: identity.driver,
      provider: options.provider ?? identity.driver,
      model: options.model,
      ...(window === undefined ? {} : { contextWindow: window }),
      capabilities: {
        tools: true,
        parallelToolCalls: true,
        jsonSchema: true,
        streaming,
        ...options.capabilities,
      },
    };
  }

  describe(): ModelDescription {
    return { ...this.description, capabilities: { ...this.description.capabilities } };
  }

  abstract call(request: ModelRequest): Promise<ModelReply>;

  /** Token counts as Usage, with their cost when the binding gave a price. */
  protected usage(inputTokens: number, outputTokens: number): Usage {
    const price = this.price;
    if (price === undefined) return { inputTokens, outputTokens };
    const cost = (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
    return { inputTokens, outputTokens, cost };
  }
}

function checkPrice(price: Price | undefined): void {
  if (price === undefined) return;
  for (const field of ['inputPerMTok', 'outputPerMTok'] as const) {
    const rate = price[field];
    if (!Number.isFinite(rate) || rate < 0) {
      throw bindingError(`price.${field}`, 'a non-negative number of usd', rate);
    }
  }
}

/** The key, and any header that looks like a credential, as text to scrub from errors. */
function secretsOf(apiKey: string | undefined, headers: Record<string, string>): string[] {
  const fromHeaders = Object.entries(headers)
    .filter(([name]) => /auth|key|token|secret|cookie/i.test(name))
    .map(([, value]) => value);
  // Very short values would scrub ordinary words out of messages and protect nothing.
  return [apiKey ?? '', ...fromHeaders].filter((secret) => secret.length >= 4);
}

function endpointOf(baseUrl: string, path: string): URL {
  let url: URL;
  try {
    url = new URL(`${baseUrl.replace(/\/+$/, '')}${path}`);
  } catch {
    throw bindingError('baseUrl', 'an http or https url', baseUrl);
  }
  if (baseUrl === '' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw bindingError('baseUrl', 'an http or https url', baseUrl);
  }
  return url;
}
