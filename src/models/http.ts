import { setTimeout as sleep } from 'node:timers/promises';
import { DriverError } from '../spec/errors.js';

/**
 * What every HTTP driver shares: one POST with retries on 429 and 5xx, a deadline over all
 * attempts, cancellation, transport errors as `unreachable`, credentials scrubbed from every
 * error, and readers for the two streaming framings providers use (Server-Sent Events and
 * newline-delimited JSON). Wire formats live in the drivers; nothing here knows one.
 */

const RETRY_BASE_MS = 200;
const RETRY_CAP_MS = 10_000;
const RETRY_AFTER_CAP_MS = 30_000;
const EXCERPT_CHARS = 500;
// Node fires a timer at once when its delay exceeds 2^31 - 1 ms, so longer deadlines clamp.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface HttpClientOptions {
  /** The full endpoint, as `http://127.0.0.1:1234/v1/chat/completions`. */
  endpoint: URL;
  headers: Record<string, string>;
  /** Text that must never appear in an error: keys, tokens. */
  secrets: string[];
  /** The deadline of one call, retries and their waits included. */
  timeoutMs: number;
  /** Attempts after the first when the server answers 429 or 5xx. */
  maxRetries: number;
  fetch?: typeof fetch;
}

/**
 * POSTs JSON to one endpoint. `call` hands a 2xx response, body unread, to a decoder; any
 * other status is retried or thrown as a DriverError before the decoder sees it.
 *
 * ```ts
 * const http = new HttpClient({ endpoint, headers, secrets, timeoutMs: 60_000, maxRetries: 2 });
 * const text = await http.call(body, signal, (response, scope) => http.text(response, scope));
 * ```
 */
export class HttpClient {
  /** The endpoint as errors show it: no user info, no query. */
  readonly shownUrl: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly secrets: string[];
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly fetchFn: typeof fetch;

  constructor(options: HttpClientOptions) {
    this.url = options.endpoint.href;
    this.shownUrl = `${options.endpoint.origin}${options.endpoint.pathname}`;
    this.headers = options.headers;
    this.secrets = options.secrets;
    this.timeoutMs = options.timeoutMs;
    this.maxRetries = options.maxRetries;
    this.fetchFn = options.fetch ?? fetch;
  }

  /** One call: its scope spans every attempt and the decoding, so the deadline covers both. */
  async call<T>(
    body: string,
    signal: AbortSignal | undefined,
    decode: (response: Response, scope: CallScope) => Promise<T>,
  ): Promise<T> {
    const scope = new CallScope(this.timeoutMs, signal, this.shownUrl);

    try {
      const response = await this.exchange(body, scope);
      return await decode(response, scope);
    } finally {
      scope.dispose();
    }
  }

  /** The whole body as text; a connection lost while reading it is `unreachable`. */
  async text(response: Response, scope: CallScope): Promise<string> {
    try {
      return await response.text();
    } catch (error) {
      throw this.transportError(error, scope);
    }
  }

  /**
   * The body as decoded text, chunk by chunk. A connection lost mid-body is `stream_cut`;
   * stopping early releases the connection.
   */
  async *chunks(response: Response, scope: CallScope): AsyncGenerator<string> {
    const body = response.body;
    if (body === null) return;
    const reader = body.getReader();
    const decoder = new TextDecoder();

    try {
      for (;;) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        try {
          next = await reader.read();
        } catch (error) {
          if (scope.signal.aborted) throw scope.reason();
          throw this.streamCut(transportCause(error));
        }
        if (next.done) break;
        const text = decoder.decode(next.value, { stream: true });
        if (text !== '') yield text;
      }
      const tail = decoder.decode();
      if (tail !== '') yield tail;
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  /** The stream ended, cleanly or not, before the provider said the reply was complete. */
  streamCut(why = 'the stream ended before the reply was complete'): DriverError {
    return new DriverError('stream_cut', `${this.shownUrl}: ${why}`, { url: this.shownUrl });
  }

  badReply(status: number, text: string, why: string): DriverError {
    return new DriverError('bad_reply', `${this.shownUrl}: ${why}`, {
      url: this.shownUrl,
      status,
      body: this.redact(text).slice(0, EXCERPT_CHARS),
    });
  }

  /** The provider reported a failure inside a successful reply: a stream event, a status. */
  providerError(said: string, data: Record<string, unknown> = {}): DriverError {
    const message = this.redact(said).slice(0, EXCERPT_CHARS);
    return new DriverError('provider_error', `${this.shownUrl} reported an error: ${message}`, {
      url: this.shownUrl,
      message,
      ...data,
    });
  }

  /** Servers sometimes echo a rejected key; it must never reach a message, a log or a journal. */
  redact(text: string): string {
    return this.secrets.reduce((out, secret) => out.replaceAll(secret, '[redacted]'), text);
  }

  private async exchange(body: string, scope: CallScope): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.post(body, scope);
      if (response.status >= 200 && response.status < 300) return response;

      const text = await this.text(response, scope);
      const failure = this.failure(response.status, text, attempt);
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt > this.maxRetries) throw failure;

      const header = response.headers.get('retry-after');
      const waitMs = retryAfterMs(header, Date.now()) ?? backoffMs(attempt);
      // Waiting past the deadline would only turn a clear rate limit into a vague timeout.
      if (Date.now() + waitMs >= scope.expiresAt) throw failure;
      try {
        await sleep(waitMs, undefined, { signal: scope.signal });
      } catch {
        throw scope.reason();
      }
    }
  }

  private async post(body: string, scope: CallScope): Promise<Response> {
    const fetchFn = this.fetchFn;

    try {
      const init = { method: 'POST', headers: this.headers, body, signal: scope.signal };
      return await fetchFn(this.url, init);
    } catch (error) {
      throw this.transportError(error, scope);
    }
  }

  private transportError(error: unknown, scope: CallScope): DriverError {
    if (scope.signal.aborted) return scope.reason();
    const why = transportCause(error);
    return new DriverError(
      'unreachable',
      `cannot reach ${this.shownUrl}: ${why}`,
      { url: this.shownUrl, cause: why },
      error,
    );
  }

  private failure(status: number, text: string, attempts: number): DriverError {
    const said = errorMessageOf(text);
    const message = said === undefined ? undefined : this.redact(said).slice(0, EXCERPT_CHARS);
    const data = { url: this.shownUrl, status, attempts, ...(message ? { message } : {}) };
    const tail = message ? `: ${message}` : '';
    const url = this.shownUrl;

    if (status === 401 || status === 403) {
      return new DriverError('auth', `${url} refused the credentials${tail}`, data);
    }
    if (status === 429) {
      const why = `rate limited by ${url} after ${attempts} attempts${tail}`;
      return new DriverError('rate_limited', why, data);
    }
    if (status >= 500) {
      const why = `${url} failed with http ${status} after ${attempts} attempts${tail}`;
      return new DriverError('server_error', why, data);
    }
    return new DriverError(`http_${status}`, `${url} answered http ${status}${tail}`, data);
  }
}

/** One call's abort signal: fired by its deadline or by the caller, whichever comes first. */
export class CallScope {
  readonly expiresAt: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly outer: AbortSignal | undefined;
  private readonly cancel: () => void;

  constructor(timeoutMs: number, outer: AbortSignal | undefined, url: string) {
    this.expiresAt = Date.now() + timeoutMs;
    this.outer = outer;
    this.cancel = () =>
      this.controller.abort(new DriverError('cancelled', 'model call cancelled', { url }));

    if (Number.isFinite(timeoutMs)) {
      const timeout = new DriverError('timeout', `no reply from ${url} within ${timeoutMs} ms`, {
        url,
        timeoutMs,
      });
      this.timer = setTimeout(
        () => this.controller.abort(timeout),
        Math.min(timeoutMs, MAX_TIMER_MS),
      );
    }
    if (outer?.aborted) this.cancel();
    else outer?.addEventListener('abort', this.cancel, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the signal fired; call only once it has. */
  reason(): DriverError {
    const reason: unknown = this.signal.reason;
    return reason instanceof DriverError
      ? reason
      : new DriverError('cancelled', 'model call cancelled', {});
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.cancel);
  }
}

/** One Server-Sent Event. `event` is `message` when the server named none. */
export interface SseEvent {
  event: string;
  data: string;
}

/** The data OpenAI-style servers send as their last event; it is not JSON. */
export const SSE_DONE = '[DONE]';

/**
 * Server-Sent Events from decoded text, as the HTML living standard frames them: lines end
 * in CR, LF or CRLF; `data:` lines join with LF; a blank line dispatches; `:` starts a
 * comment. An event not closed by a blank line when the text ends is dropped, as the
 * standard says: it is the tail of a stream that was cut.
 *
 * ```ts
 * for await (const { event, data } of sseEvents(http.chunks(response, scope))) { ... }
 * ```
 */
export async function* sseEvents(chunks: AsyncIterable<string>): AsyncGenerator<SseEvent> {
  let event = '';
  let data: string[] = [];

  for await (const line of lines(chunks)) {
    if (line.text === '') {
      if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      continue;
    }
    if (line.text.startsWith(':')) continue;

    const colon = line.text.indexOf(':');
    const field = colon < 0 ? line.text : line.text.slice(0, colon);
    let value = colon < 0 ? '' : line.text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
}

/**
 * Newline-delimited JSON: each non-blank line, as text. An unterminated last line is kept
 * only when it is whole JSON (some servers omit the final newline); otherwise it is the tail
 * of a cut stream and is dropped, so the caller sees the stream end without its last record.
 *
 * ```ts
 * for await (const line of ndjsonLines(http.chunks(response, scope))) JSON.parse(line);
 * ```
 */
export async function* ndjsonLines(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const line of lines(chunks)) {
    if (line.text.trim() === '') continue;
    if (line.terminated || isJson(line.text)) yield line.text;
  }
}

interface Line {
  text: string;
  /** False only for text after the last line break, when the input ended. */
  terminated: boolean;
}

/** Lines split at CR, LF or CRLF, even when a CRLF straddles two chunks. */
async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<Line> {
  let buffer = '';

  for await (const chunk of chunks) {
    buffer += chunk;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const char = buffer[i];
      if (char !== '\n' && char !== '\r') continue;
      // A CR at the end of the buffer may be the first half of a CRLF still to come.
      if (char === '\r' && i === buffer.length - 1) break;
      yield { text: buffer.slice(start, i), terminated: true };
      if (char === '\r' && buffer[i + 1] === '\n') i++;
      start = i + 1;
    }
    buffer = buffer.slice(start);
  }

  if (buffer.endsWith('\r')) {
    yield { text: buffer.slice(0, -1), terminated: true };
  } else if (buffer !== '') {
    yield { text: buffer, terminated: false };
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Whether a response carries an event stream rather than one JSON document. */
export function isEventStream(response: Response): boolean {
  return (response.headers.get('content-type') ?? '').includes('text/event-stream');
}

/** The message of an error body in the OpenAI or Anthropic shape, or the shapes others use. */
export function errorMessageOf(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(body)) return undefined;
  if (isRecord(body.error) && typeof body.error.message === 'string') return body.error.message;
  if (typeof body.error === 'string') return body.error;
  if (typeof body.message === 'string') return body.message;
  return undefined;
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now, capped. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();

  if (/^\d+(\.\d+)?$/.test(value)) return Math.min(Number(value) * 1000, RETRY_AFTER_CAP_MS);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now, 0), RETRY_AFTER_CAP_MS);
}

/** Exponential with equal jitter, so clients that failed together do not retry together. */
function backoffMs(attempt: number): number {
  const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1));
  return ceiling / 2 + (Math.random() * ceiling) / 2;
}

/** undici reports `fetch failed` and hides the reason (ECONNREFUSED, ENOTFOUND) in its cause. */
function transportCause(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
