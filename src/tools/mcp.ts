import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  getDefaultEnvironment,
  StdioClientTransport,
} from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  type CallToolResult,
  type ContentBlock,
  ErrorCode,
  McpError,
  type Prompt,
  type ReadResourceResult,
  type Resource,
  type ResourceTemplate,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { ProviderError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import {
  capabilitiesOf,
  DEFAULT_AUTH_ATTEMPTS,
  installHooks,
  type McpAuth,
  type McpClientHooks,
} from './mcp-hooks.js';
import type {
  CallOptions,
  Offering,
  PromptInfo,
  PromptMessage,
  ProviderDescription,
  ResourceContent,
  ResourceInfo,
  ResourceTemplateInfo,
  ToolDefinition,
  ToolProvider,
  ToolResult,
} from './provider.js';
import { looksLikeError, tellingLines } from './stderr.js';

/**
 * One entry of the `mcpServers` block that desktop and editor MCP clients write: a command to
 * spawn (stdio) or the url of a Streamable HTTP endpoint.
 *
 * ```ts
 * const fs: McpServerSpec = { command: 'node', args: ['server.js', '/data'] };
 * const web: McpServerSpec = { url: 'http://127.0.0.1:3001/mcp' };
 * ```
 */
export type McpServerSpec =
  | {
      type?: 'stdio';
      command: string;
      args?: string[];
      env?: Record<string, string>;
      cwd?: string;
    }
  | { type?: 'http' | 'streamable-http'; url: string; headers?: Record<string, string> };

export interface McpProviderOptions {
  clientName?: string;
  clientVersion?: string;
  /** Bounds starting and initializing the server, and each page of tools/list. */
  connectTimeoutMs?: number;
  /** Receives the server's stderr line by line (stdio only); discarded by default. */
  stderr?: (line: string) => void;
  /** Elicitation, sampling, roots and notifications; each declared only when given. */
  hooks?: McpClientHooks;
  /** OAuth for a Streamable HTTP server; ignored for stdio. */
  auth?: McpAuth;
}

type McpTransport = StdioClientTransport | StreamableHTTPClientTransport;

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const MAX_LIST_PAGES = 1000;
const STDERR_TAIL_LINES = 20;
const GRACE_MS = 1000;
/** With progress a call's deadline restarts at each notification, up to this many deadlines. */
const PROGRESS_DEADLINES = 10;

/**
 * A tool provider backed by one MCP server, through the official SDK.
 *
 * Failures thrown as ProviderError, by code: `invalid_spec`, `not_connected`, `start_failed`,
 * `list_failed`, `pagination_loop`, `timeout`, `cancelled`, `server_exited`, `transport_error`,
 * `bad_response`, `unauthorized`, and `rpc_error` for an error the server answers to a resource
 * read or a prompt (its JSON-RPC code in `rpcCode`). A JSON-RPC error the server answers to
 * tools/call is not thrown: it comes back as a result with isError, since it is the model's to
 * read. Every list (tools, resources, templates, prompts) is followed through all its pages.
 *
 * With `hooks`, the provider declares and answers elicitation, sampling and roots, and passes
 * log messages, list changes and progress on; with `auth`, an HTTP server that asks for OAuth
 * is authorized and the request repeated, at most `maxAttempts` times per request.
 *
 * A stdio server that exits mid-call fails the call at once. Over HTTP there is no process to
 * watch: a server that dies while streaming its answer leaves the SDK retrying the stream, and
 * the call fails only at its timeout.
 *
 * ```ts
 * const p = new McpProvider('fs', { command: 'node', args: ['fs-server.js', dir] });
 * await p.connect();
 * const r = await p.call('read_text_file', { path: `${dir}/a.md` }, { timeoutMs: 30_000 });
 * await p.close();
 * ```
 */
export class McpProvider implements ToolProvider {
  readonly namespace: string;
  private readonly server: McpServerSpec;
  private readonly options: McpProviderOptions;
  private readonly connectTimeoutMs: number;
  private client: Client | undefined;
  private transport: McpTransport | undefined;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set while the spawned process has not been seen to exit; never reused after that. */
  private pid: number | undefined;
  private connected = false;
  /** The connection closed after initialize, without close() asking for it. */
  private lost = false;
  private readonly stderrTail: string[] = [];
  /** The first line of stderr that read as an error, kept when the tail moves past it. */
  private stderrError: string | undefined;
  /** The server said its tools changed since the last list. */
  private stale = false;
  /** A new session under way, in place of one the server forgot. */
  private renewing: Promise<void> | undefined;

  constructor(namespace: string, server: McpServerSpec, options: McpProviderOptions = {}) {
    this.namespace = namespace;
    this.server = checkSpec(namespace, server);
    this.options = options;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  connect(): Promise<void> {
    if (this.closing) {
      return Promise.reject(this.notConnected('closed'));
    }
    this.connecting ??= this.open();
    return this.connecting;
  }

  async list(): Promise<ToolDefinition[]> {
    return this.paged(
      'tools/list',
      async (client, params, timeout) => {
        const r = await client.listTools(params, { timeout });
        return { items: r.tools.map(toDefinition), nextCursor: r.nextCursor };
      },
      () => {
        this.stale = false;
      },
    );
  }

  /** Whether the server declared resources or prompts at initialize. */
  offers(what: Offering): boolean {
    return this.client?.getServerCapabilities()?.[what] !== undefined;
  }

  async listResources(): Promise<{ resources: ResourceInfo[]; templates: ResourceTemplateInfo[] }> {
    const resources = await this.paged('resources/list', async (client, params, timeout) => {
      const r = await client.listResources(params, { timeout });
      return { items: r.resources.map(toResourceInfo), nextCursor: r.nextCursor };
    });
    let templates: ResourceTemplateInfo[];
    try {
      templates = await this.paged('resources/templates/list', async (client, params, timeout) => {
        const r = await client.listResourceTemplates(params, { timeout });
        return { items: r.resourceTemplates.map(toTemplateInfo), nextCursor: r.nextCursor };
      });
    } catch (error) {
      // Templates are optional within the capability: a server may serve fixed URIs only.
      const notServed =
        error instanceof ProviderError && error.data.rpcCode === ErrorCode.MethodNotFound;
      if (!notServed) throw error;
      templates = [];
    }
    return { resources, templates };
  }

  async readResource(uri: string, options: CallOptions): Promise<ResourceContent[]> {
    const result = await this.request(`resources/read "${uri}"`, options, (client, opts) =>
      client.readResource({ uri }, opts),
    );
    return result.contents.map(toContent);
  }

  async listPrompts(): Promise<PromptInfo[]> {
    return this.paged('prompts/list', async (client, params, timeout) => {
      const r = await client.listPrompts(params, { timeout });
      return { items: r.prompts.map(toPromptInfo), nextCursor: r.nextCursor };
    });
  }

  async getPrompt(
    name: string,
    args: Record<string, string>,
    options: CallOptions,
  ): Promise<{ description?: string; messages: PromptMessage[] }> {
    const result = await this.request(`prompts/get "${name}"`, options, (client, opts) =>
      client.getPrompt({ name, arguments: args }, opts),
    );
    const messages = result.messages.map((m) => ({
      role: m.role,
      content: promptText(m.content),
      block: m.content as Json,
    }));
    return result.description === undefined
      ? { messages }
      : { description: result.description, messages };
  }

  /**
   * Collects every page of a list. An empty cursor is read as the end: no sane server pages
   * with it, and some send it. A cursor seen before means the pages go round in a circle.
   */
  private async paged<T>(
    method: string,
    page: (
      client: Client,
      params: { cursor?: string },
      timeout: number,
    ) => Promise<{ items: T[]; nextCursor?: string }>,
    first?: () => void,
  ): Promise<T[]> {
    this.ready();
    const items: T[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;

    for (let n = 0; n < MAX_LIST_PAGES; n++) {
      let result: { items: T[]; nextCursor?: string };
      try {
        const params = cursor === undefined ? {} : { cursor };
        if (n === 0) first?.();
        result = await this.authorized((client) => page(client, params, this.connectTimeoutMs));
      } catch (error) {
        const failure = this.classify(error, method, this.connectTimeoutMs);
        if (failure instanceof ProviderError) throw failure;
        throw new ProviderError(
          'list_failed',
          `${this.namespace}: ${method} failed: ${failure.message}`,
          { namespace: this.namespace, rpcCode: failure.code },
          failure,
        );
      }
      for (const item of result.items) items.push(item);

      cursor = result.nextCursor || undefined;
      if (cursor === undefined) return items;
      if (seen.has(cursor)) throw this.paginationLoop(method, n + 1, cursor);
      seen.add(cursor);
    }
    throw this.paginationLoop(method, MAX_LIST_PAGES, cursor);
  }

  /** One request under a call's deadline and signal; the server's error answer is `rpc_error`. */
  private async request<T>(
    what: string,
    options: CallOptions,
    send: (client: Client, opts: { timeout: number; signal?: AbortSignal }) => Promise<T>,
  ): Promise<T> {
    this.ready();
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw this.cancelled(what);
    try {
      return await this.authorized(
        (client) => send(client, { timeout: timeoutMs, signal }),
        signal,
      );
    } catch (error) {
      const failure = this.classify(error, what, timeoutMs, signal);
      if (failure instanceof ProviderError) throw failure;
      // A server built on the SDK sends its error's text with the prefix already on it.
      const said = failure.message.replace(/^(MCP error -?\d+: )\1+/, '$1');
      throw new ProviderError(
        'rpc_error',
        `${this.namespace}: ${what}: ${said}`,
        { namespace: this.namespace, rpcCode: failure.code },
        failure,
      );
    }
  }

  async call(name: string, args: JsonObject, options: CallOptions): Promise<ToolResult> {
    this.ready();
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw this.cancelled(`tool "${name}"`, name);

    const events = this.options.hooks?.events;
    const namespace = this.namespace;
    // Trace context rides in `_meta` (SEP-414), beside the progress token the SDK adds there.
    const meta = options.traceContext ? { _meta: { ...options.traceContext } } : {};
    try {
      const result = await this.authorized(
        (client) =>
          client.callTool({ name, arguments: args, ...meta }, undefined, {
            timeout: timeoutMs,
            signal,
            // A server that reports progress is still working: each report restarts the
            // deadline, within a cap so that reports alone cannot hold the machine forever.
            resetTimeoutOnProgress: true,
            maxTotalTimeout: options.maxTotalMs ?? timeoutMs * PROGRESS_DEADLINES,
            onprogress: ({ progress, total, message }) => {
              const event = { type: 'progress' as const, namespace, tool: name, progress };
              events?.({
                ...event,
                ...(total === undefined ? {} : { total }),
                ...(message === undefined ? {} : { message }),
              });
            },
          }),
        signal,
      );
      return toToolResult(result);
    } catch (error) {
      const failure = this.classify(error, `tool "${name}"`, timeoutMs, signal, name);
      if (failure instanceof ProviderError) throw failure;
      return errorResult(failure.message);
    }
  }

  /** True when the server said its tools changed since they were last listed. */
  get toolsChanged(): boolean {
    return this.stale;
  }

  describe(): ProviderDescription {
    const version = this.client?.getServerVersion();
    const server = version ? { serverName: version.name, serverVersion: version.version } : {};
    if ('url' in this.server) return { kind: 'http', url: this.server.url, ...server };
    return { kind: 'stdio', command: this.server.command, args: this.server.args ?? [], ...server };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async open(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const transport = this.makeTransport();
      try {
        await this.start(transport);
        break;
      } catch (error) {
        // Answered initialize, then went: the server started and exited, as it might later.
        const answered = this.client?.getServerVersion() !== undefined;
        await this.teardown();
        if (answered && error instanceof McpError && error.code === ErrorCode.ConnectionClosed) {
          throw new ProviderError(
            'server_exited',
            `${this.namespace}: mcp server exited right after initialize`,
            { namespace: this.namespace, stderr: [...this.stderrTail] },
            error,
          );
        }
        if (!this.mayAuthorize(error, attempt)) throw this.startFailed(error);
        // The closed transport still knows where the server sent us, and trades the code.
        await this.authorize(transport).catch((e: unknown) => {
          throw this.startFailed(e);
        });
      }
    }
    const level = this.options.hooks?.logLevel;
    if (level && this.client?.getServerCapabilities()?.logging) {
      // A server that will not set its level still works; its messages come as they are.
      await this.client
        .setLoggingLevel(level, { timeout: this.connectTimeoutMs })
        .catch(() => undefined);
    }
  }

  /** One attempt at initialize, on a fresh client; the deadline leaves out authorizing. */
  private async start(transport: McpTransport): Promise<void> {
    const hooks = this.options.hooks ?? {};
    const client = new Client(
      { name: this.options.clientName ?? 'mvm', version: this.options.clientVersion ?? '0.1.0' },
      { capabilities: capabilitiesOf(hooks) },
    );
    installHooks(client, this.namespace, {
      ...hooks,
      events: (event) => {
        if (event.type === 'list_changed' && event.list === 'tools') this.stale = true;
        hooks.events?.(event);
      },
    });
    // A stdio server that exits during the handshake ends it at once: a message sent to it
    // after it has gone would otherwise wait for a drain that never comes, until the deadline.
    // Over HTTP a closed transport is no exit: the SDK closes it on a 401, and the
    // UnauthorizedError that follows is what starts authorizing.
    const stdio = transport instanceof StdioClientTransport;
    let exited = () => {};
    const gone = new Promise<never>((_, reject) => {
      exited = () => reject(new McpError(ErrorCode.ConnectionClosed, 'the server exited'));
    });
    gone.catch(() => {});
    client.onclose = () => {
      this.pid = undefined;
      if (this.connected && !this.closing) this.lost = true;
      if (stdio) exited();
    };
    // Transport hiccups also reach the pending request they break; nothing to add here.
    client.onerror = () => {};
    this.client = client;
    this.transport = transport;

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new McpError(ErrorCode.RequestTimeout, 'connect timed out')),
        this.connectTimeoutMs,
      );
    });
    try {
      // Our own deadline too: the SDK's timeout covers initialize but not the HTTP request
      // that carries notifications/initialized.
      await Promise.race([
        client.connect(transport, { timeout: this.connectTimeoutMs }),
        deadline,
        gone,
      ]);
      this.connected = true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether a failed request may be repeated once a person has authorized the client. */
  private mayAuthorize(error: unknown, attempt: number): boolean {
    if (!(error instanceof UnauthorizedError) || !this.options.auth) return false;
    return attempt <= (this.options.auth.maxAttempts ?? DEFAULT_AUTH_ATTEMPTS);
  }

  /**
   * Waits for the authorization code and trades it for tokens, which the provider keeps. A
   * person may take long to authorize; a call's signal still ends the wait.
   */
  private async authorize(transport: McpTransport | undefined, signal?: AbortSignal) {
    const auth = this.options.auth;
    if (!auth || !(transport instanceof StreamableHTTPClientTransport)) {
      throw this.notConnected('cannot authorize');
    }
    const code = await untilAborted(auth.authorizationCode(), signal);
    await transport.finishAuth(code);
  }

  /**
   * Runs a request on the current client, authorizing and repeating it while the server asks
   * for authorization, and repeating it once in a new session when the server has forgotten
   * its own (404, which it answers without having done anything).
   */
  private async authorized<T>(
    request: (client: Client) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    let renewed = false;
    for (let attempt = 1; ; ) {
      await this.renewing;
      const session = this.sessionId();
      try {
        return await request(this.ready());
      } catch (error) {
        if (!renewed && session !== undefined && isSessionGone(error)) {
          renewed = true;
          await this.renew(session);
          continue;
        }
        if (!this.mayAuthorize(error, attempt++)) throw error;
        await this.authorize(this.transport, signal);
      }
    }
  }

  private sessionId(): string | undefined {
    const transport = this.transport;
    return transport instanceof StreamableHTTPClientTransport ? transport.sessionId : undefined;
  }

  /**
   * Starts a new session in place of one the server no longer knows, as the protocol asks of
   * a client: initialize again on a fresh transport. Requests that met the same lost session
   * share one renewal. The new session may offer other tools, so they count as changed.
   */
  private renew(lost: string): Promise<void> {
    if (this.sessionId() !== lost) return this.renewing ?? Promise.resolve();
    this.renewing ??= (async () => {
      const client = this.client;
      // Not an exit: the provider stays usable while the new session starts.
      this.connected = false;
      this.transport = undefined;
      await client?.close().catch(() => {});
      this.connecting = this.open();
      await this.connecting;
      this.stale = true;
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private makeTransport(): McpTransport {
    const server = this.server;
    if ('url' in server) {
      const requestInit = server.headers ? { headers: server.headers } : undefined;
      const authProvider = this.options.auth?.provider;
      return new StreamableHTTPClientTransport(new URL(server.url), { requestInit, authProvider });
    }

    const transport = new StdioClientTransport({
      command: server.command,
      args: server.args ?? [],
      env: { ...getDefaultEnvironment(), ...server.env },
      cwd: server.cwd,
      stderr: 'pipe',
    });
    // With stderr 'pipe' the SDK hands out its stream before spawning, so no line is lost.
    const stderr = transport.stderr;
    if (stderr instanceof Readable) {
      const lines = createInterface({ input: stderr, crlfDelay: Number.POSITIVE_INFINITY });
      lines.on('line', (line) => {
        if (this.stderrError === undefined && looksLikeError(line)) this.stderrError = line;
        this.stderrTail.push(line);
        if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
        this.options.stderr?.(line);
      });
    }

    // Client.connect closes the transport when initialize fails, and the transport forgets its
    // pid when it closes; keep it so teardown can still reap the process tree.
    const start = transport.start.bind(transport);
    transport.start = async () => {
      await start();
      this.pid = transport.pid ?? undefined;
    };
    return transport;
  }

  private async shutdown(): Promise<void> {
    await this.connecting?.catch(() => {});
    await this.teardown();
  }

  /** Closes the client; for stdio, reaps the process and its descendants, however stubborn. */
  private async teardown(): Promise<void> {
    const client = this.client;
    const transport = this.transport;
    if (!client || !transport) return;
    this.transport = undefined;

    if (transport instanceof StreamableHTTPClientTransport) {
      // Ending the session is a courtesy to the server; a dead one must not hold close() up.
      await withTimeout(
        transport.terminateSession().catch(() => {}),
        GRACE_MS,
      );
      await client.close().catch(() => {});
      return;
    }

    const pid = this.pid;
    const tree = pid === undefined ? [] : [pid, ...(await descendants(pid))];
    const closed = client.close().catch(() => {});
    await reap(tree);
    await closed;
  }

  private ready(): Client {
    if (this.lost) {
      throw new ProviderError('server_exited', `${this.namespace}: mcp server has exited`, {
        namespace: this.namespace,
        stderr: [...this.stderrTail],
      });
    }
    if (this.closing) throw this.notConnected('closed');
    if (!this.client || !this.connected) throw this.notConnected('not connected');
    return this.client;
  }

  /**
   * Sorts a failed request into what stops the machine (a ProviderError) and what the server
   * answered (an McpError, left for the caller to turn into a value).
   */
  private classify(
    error: unknown,
    what: string,
    timeoutMs: number,
    signal?: AbortSignal,
    tool?: string,
  ): ProviderError | McpError {
    const ns = this.namespace;
    const data = { namespace: ns, ...(tool === undefined ? {} : { tool }) };
    if (signal?.aborted) return this.cancelled(what, tool, error);
    // Already typed: a new session that would not start, an authorization that could not be.
    if (error instanceof ProviderError) return error;
    if (this.lost) {
      return new ProviderError(
        'server_exited',
        `${ns}: mcp server exited during ${what}`,
        { ...data, stderr: [...this.stderrTail] },
        error,
      );
    }
    if (this.closing) return this.notConnected('closed during the request');
    if (isAuthFailure(error)) {
      const message = error instanceof Error ? error.message : String(error);
      return new ProviderError(
        'unauthorized',
        `${ns}: ${what} was refused authorization: ${message}`,
        data,
        error,
      );
    }
    if (error instanceof McpError) {
      if (isLocalTimeout(error, timeoutMs)) {
        return new ProviderError(
          'timeout',
          `${ns}: ${what} did not answer within ${timeoutMs} ms`,
          { ...data, timeoutMs },
          error,
        );
      }
      return error;
    }
    const message = error instanceof Error ? error.message : String(error);
    // The SDK checks replies against its zod schemas; a failed check is the server's fault.
    if (error instanceof Error && error.name.includes('ZodError')) {
      return new ProviderError(
        'bad_response',
        `${ns}: malformed reply to ${what}: ${message}`,
        data,
        error,
      );
    }
    return new ProviderError('transport_error', `${ns}: ${what} failed: ${message}`, data, error);
  }

  private startFailed(error: unknown): ProviderError {
    const ns = this.namespace;
    const target = 'url' in this.server ? this.server.url : this.server.command;
    const reason =
      error instanceof McpError && error.code === ErrorCode.RequestTimeout
        ? `no answer to initialize within ${this.connectTimeoutMs} ms`
        : error instanceof Error
          ? error.message
          : String(error);
    // Why it stopped is most often its first error line, or its last; the rest is in the data.
    const said = tellingLines(this.stderrTail, this.stderrError);
    return new ProviderError(
      'start_failed',
      `${ns}: cannot start mcp server "${target}": ${reason}${said ? ` (it said: ${said})` : ''}`,
      { namespace: ns, target, stderr: [...this.stderrTail] },
      error,
    );
  }

  private cancelled(what: string, tool?: string, cause?: unknown): ProviderError {
    const ns = this.namespace;
    const data = { namespace: ns, ...(tool === undefined ? {} : { tool }) };
    return new ProviderError('cancelled', `${ns}: ${what} was cancelled`, data, cause);
  }

  private notConnected(why: string): ProviderError {
    const ns = this.namespace;
    return new ProviderError('not_connected', `${ns}: mcp provider ${why}`, { namespace: ns });
  }

  private paginationLoop(method: string, pages: number, cursor: string | undefined) {
    const ns = this.namespace;
    return new ProviderError(
      'pagination_loop',
      `${ns}: ${method} still paging after ${pages} pages (cursor "${cursor}")`,
      { namespace: ns, pages, cursor },
    );
  }
}

function checkSpec(namespace: string, spec: McpServerSpec): McpServerSpec {
  // Specs come from JSON configuration, so the type's promises are checked here once.
  const raw: Record<string, unknown> = { ...spec };
  const type = raw.type;
  const invalid = (why: string) =>
    new ProviderError('invalid_spec', `${namespace}: invalid mcp server spec: ${why}`, {
      namespace,
      type,
    });
  if (type !== undefined && type !== 'stdio' && type !== 'http' && type !== 'streamable-http') {
    throw invalid(`unsupported type "${String(type)}"`);
  }
  const wantsUrl = type === 'http' || type === 'streamable-http';
  if (wantsUrl || (type === undefined && 'url' in raw)) {
    if (typeof raw.url !== 'string') throw invalid('expected a string "url"');
    if (!URL.canParse(raw.url)) throw invalid(`"url" is not a url: "${raw.url}"`);
    return spec;
  }
  if (typeof raw.command !== 'string' || raw.command === '') {
    throw invalid('expected a "command" or a "url"');
  }
  return spec;
}

/** Whether the SDK's own request timer fired, as opposed to a server answering with -32001. */
function isLocalTimeout(error: McpError, timeoutMs: number): boolean {
  if (error.code !== ErrorCode.RequestTimeout) return false;
  const data: unknown = error.data;
  if (typeof data !== 'object' || data === null) return false;
  // The cap on a call that kept reporting progress, or the deadline itself.
  if ('maxTotalTimeout' in data) return true;
  return 'timeout' in data ? data.timeout === timeoutMs : false;
}

/** The server answered 404 to a request in a session: it no longer knows the session. */
function isSessionGone(error: unknown): boolean {
  return error instanceof StreamableHTTPError && error.code === 404;
}

/** The server still refuses after the authorizations allowed, or none was possible. */
function isAuthFailure(error: unknown): boolean {
  if (error instanceof UnauthorizedError) return true;
  return error instanceof StreamableHTTPError && (error.code === 401 || error.code === 403);
}

function toDefinition(tool: Tool): ToolDefinition {
  // Everything below was parsed from JSON-RPC, so it is JSON by construction.
  const definition: ToolDefinition = {
    name: tool.name,
    description: tool.description ?? '',
    inputSchema: tool.inputSchema as JsonObject,
  };
  if (tool.outputSchema) definition.outputSchema = tool.outputSchema as JsonObject;
  if (tool.annotations) definition.annotations = tool.annotations as JsonObject;
  return definition;
}

/** The fields of a listed resource or template mvm keeps; the others are the server's own. */
function described<T extends { name: string }>(
  base: T,
  from: { title?: string; description?: string; mimeType?: string },
): T & { title?: string; description?: string; mimeType?: string } {
  const out: T & { title?: string; description?: string; mimeType?: string } = { ...base };
  if (from.title !== undefined) out.title = from.title;
  if (from.description !== undefined) out.description = from.description;
  if (from.mimeType !== undefined) out.mimeType = from.mimeType;
  return out;
}

function toResourceInfo(r: Resource): ResourceInfo {
  return described({ uri: r.uri, name: r.name }, r);
}

function toTemplateInfo(t: ResourceTemplate): ResourceTemplateInfo {
  return described({ uriTemplate: t.uriTemplate, name: t.name }, t);
}

function toContent(c: ReadResourceResult['contents'][number]): ResourceContent {
  const out: ResourceContent = { uri: c.uri };
  if (c.mimeType !== undefined) out.mimeType = c.mimeType;
  if ('text' in c && typeof c.text === 'string') out.text = c.text;
  else if ('blob' in c && typeof c.blob === 'string') out.blob = c.blob;
  return out;
}

function toPromptInfo(p: Prompt): PromptInfo {
  const info: PromptInfo = {
    name: p.name,
    arguments: (p.arguments ?? []).map((a) => {
      const arg: PromptInfo['arguments'][number] = { name: a.name };
      if (a.description !== undefined) arg.description = a.description;
      if (a.required !== undefined) arg.required = a.required;
      return arg;
    }),
  };
  if (p.title !== undefined) info.title = p.title;
  if (p.description !== undefined) info.description = p.description;
  return info;
}

/** A prompt message's block as a model reads it: an embedded text resource reads as its text. */
function promptText(block: ContentBlock): string {
  if (block.type === 'resource' && 'text' in block.resource) return block.resource.text;
  return renderBlock(block);
}

/**
 * Keeps the blocks as sent and renders them for a model: text blocks as their text, the others
 * as a short bracketed summary, one per line. A result with only structured content reads as
 * its JSON.
 */
function toToolResult(result: Awaited<ReturnType<Client['callTool']>>): ToolResult {
  if (!('content' in result)) {
    // The 2024-10-07 shape, still accepted by the SDK for old servers.
    const structured = result.toolResult as Json;
    return { isError: false, content: [], text: JSON.stringify(structured), structured };
  }

  const call = result as CallToolResult;
  const content = call.content as Json[];
  const structured = call.structuredContent as JsonObject | undefined;
  let text = call.content.map(renderBlock).join('\n');
  if (call.content.length === 0 && structured !== undefined) text = JSON.stringify(structured);
  const out: ToolResult = { isError: call.isError === true, content, text };
  if (structured !== undefined) out.structured = structured;
  return out;
}

function renderBlock(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return block.text;
    case 'image':
    case 'audio':
      return `[${block.type} ${block.mimeType}]`;
    case 'resource_link':
      return `[resource_link ${block.uri}]`;
    case 'resource':
      return `[resource ${block.resource.uri}]`;
    default: {
      const type: unknown = (block as { type?: unknown }).type;
      return `[${String(type)}]`;
    }
  }
}

function errorResult(message: string): ToolResult {
  return { isError: true, content: [{ type: 'text', text: message }], text: message };
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Waits for every pid to end: a grace period after the transport closed stdin, then SIGTERM,
 * then SIGKILL. Pids are signalled only while alive, and were descendants a moment ago; a pid
 * the system reused within those two seconds would be hit too, which nothing short of pidfds
 * avoids.
 */
async function reap(pids: number[]): Promise<void> {
  if (pids.length === 0) return;
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    if (await allGone(pids, GRACE_MS)) return;
    for (const pid of pids.filter(isAlive)) {
      try {
        process.kill(pid, signal);
      } catch {
        // Ended between the check and the signal.
      }
    }
  }
  await allGone(pids, GRACE_MS);
}

async function allGone(pids: number[], ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (!pids.some(isAlive)) return true;
    if (Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: the pid now belongs to someone else, so not ours to end.
    return false;
  }
  if (process.platform !== 'linux') return true;
  try {
    // A zombie has ended; only its parent's wait is missing.
    return procState(readFileSync(`/proc/${pid}/stat`, 'utf8')) !== 'Z';
  } catch {
    return false;
  }
}

/** The state and parent fields of /proc/PID/stat; the command name may hold spaces and parens. */
function procState(stat: string): string | undefined {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

function procParent(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * The pids below `root`, from /proc on Linux or ps elsewhere. Taken before the server is told
 * to stop, since orphans lose their link to it. On a system with neither (Windows) only the
 * server itself is reaped.
 */
async function descendants(root: number): Promise<number[]> {
  const parents = await processParents();
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }

  const found: number[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    for (const child of children.get(pid) ?? []) {
      if (found.includes(child) || child === root) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

async function processParents(): Promise<Map<number, number>> {
  const parents = new Map<number, number>();
  if (process.platform === 'linux') {
    const entries = await readdir('/proc').catch(() => [] as string[]);
    await Promise.all(
      entries
        .filter((entry) => /^\d+$/.test(entry))
        .map(async (entry) => {
          const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => undefined);
          if (stat !== undefined) parents.set(Number(entry), procParent(stat));
        }),
    );
    return parents;
  }
  if (process.platform === 'win32') return parents;

  const listing = await new Promise<string>((resolve) => {
    execFile('ps', ['-A', '-o', 'pid=', '-o', 'ppid='], { timeout: 2000 }, (error, stdout) =>
      resolve(error ? '' : stdout),
    );
  });
  for (const line of listing.split('\n')) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid !== undefined && ppid !== undefined && pid > 0) parents.set(pid, ppid);
  }
  return parents;
}
