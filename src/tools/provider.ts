import type { Json, JsonObject } from '../spec/types.js';

/**
 * The tool interface: what the machine asks of every tool provider (an MCP server, or
 * functions the host registers). A provider connects, lists and calls; the machine decides,
 * journals and labels.
 */

export interface ToolDefinition {
  /** The name within its namespace, as the server gives it. */
  name: string;
  description: string;
  inputSchema: JsonObject;
  outputSchema?: JsonObject;
  /** Hints from the server (read-only, destructive, ...). Untrusted. */
  annotations?: JsonObject;
}

/**
 * What a server says of a tool in its MCP annotations, the four hints read as booleans; a
 * hint absent or not a boolean is left out. A server is not trusted: these may only make
 * the host stricter, never more permissive.
 */
export interface ToolHints {
  readOnly?: boolean;
  destructive?: boolean;
  idempotent?: boolean;
  openWorld?: boolean;
}

const HINTS = {
  readOnlyHint: 'readOnly',
  destructiveHint: 'destructive',
  idempotentHint: 'idempotent',
  openWorldHint: 'openWorld',
} as const;

/**
 * The hints of a definition.
 *
 * ```ts
 * toolHints({ annotations: { destructiveHint: true, title: 'Delete' } }) // { destructive: true }
 * ```
 */
export function toolHints(def: Pick<ToolDefinition, 'annotations'>): ToolHints {
  const out: ToolHints = {};
  const a = def.annotations;
  if (a === null || typeof a !== 'object' || Array.isArray(a)) return out;
  for (const [key, name] of Object.entries(HINTS)) {
    const v = Object.hasOwn(a, key) ? a[key] : undefined;
    if (typeof v === 'boolean') out[name] = v;
  }
  return out;
}

/** True when a server's hints say the tool may change things: not read-only, or destructive. */
export function mayChange(hints: ToolHints): boolean {
  return hints.readOnly === false || hints.destructive === true;
}

export interface ToolResult {
  /** True when the tool itself reported failure (MCP `isError`). */
  isError: boolean;
  /** The content blocks as the server sent them. */
  content: Json[];
  /** The text of the content, joined, for a model to read. */
  text: string;
  structured?: Json;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** How long the call may go without an answer, or without a progress report. */
  timeoutMs: number;
  /** However often it reports progress, the call ends by then; default ten deadlines. */
  maxTotalMs?: number;
  /**
   * The W3C trace context of the span the call runs in (`traceparent`, `tracestate`,
   * `baggage`); an MCP provider passes it on in the request's `_meta`.
   */
  traceContext?: Record<string, string>;
}

export interface ProviderDescription {
  kind: 'stdio' | 'http' | 'host';
  command?: string;
  args?: string[];
  url?: string;
  serverName?: string;
  serverVersion?: string;
}

/** A resource a server lists: data it serves at a URI. */
export interface ResourceInfo {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

/** A resource template a server lists: an RFC 6570 URI template with its variables. */
export interface ResourceTemplateInfo {
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

/** One part of what reading a resource gave: text, or a blob in base64. */
export interface ResourceContent {
  uri: string;
  mimeType?: string;
  text?: string;
  blob?: string;
}

/** A prompt a server lists, with the arguments it takes (all strings). */
export interface PromptInfo {
  name: string;
  title?: string;
  description?: string;
  arguments: Array<{ name: string; description?: string; required?: boolean }>;
}

/** One message of a fetched prompt: its role, its text for a model, and the block as sent. */
export interface PromptMessage {
  role: 'user' | 'assistant';
  content: string;
  block: Json;
}

/** What a server offers beside its tools, when it declares the capability at initialize. */
export type Offering = 'resources' | 'prompts';

/**
 * A tool provider for one namespace.
 *
 * ```ts
 * await provider.connect(); const tools = await provider.list();
 * const r = await provider.call('read_file', { path: 'a.md' }, { timeoutMs: 30_000 });
 * ```
 */
export interface ToolProvider {
  readonly namespace: string;
  connect(): Promise<void>;
  /** Every definition, all pages of the list collected. */
  list(): Promise<ToolDefinition[]>;
  /**
   * Throws ProviderError when the server cannot be reached, exits, or does not answer in
   * time; a tool's own failure is a result with isError.
   */
  call(name: string, args: JsonObject, options: CallOptions): Promise<ToolResult>;
  describe(): ProviderDescription;
  /** True when the server said its tools changed since they were last listed. */
  readonly toolsChanged?: boolean;
  /**
   * Whether the server declared resources or prompts. A provider without the methods below
   * (host functions) offers neither.
   */
  offers?(what: Offering): boolean;
  /** Every resource and template, all pages of both lists collected. */
  listResources?(): Promise<{ resources: ResourceInfo[]; templates: ResourceTemplateInfo[] }>;
  /**
   * Throws ProviderError: `rpc_error` (with `rpcCode`) when the server answers with an error,
   * such as an unknown URI; the others as `call` does.
   */
  readResource?(uri: string, options: CallOptions): Promise<ResourceContent[]>;
  /** Every prompt, all pages collected. */
  listPrompts?(): Promise<PromptInfo[]>;
  /** The prompt's messages for these arguments; a server's error answer is `rpc_error`. */
  getPrompt?(
    name: string,
    args: Record<string, string>,
    options: CallOptions,
  ): Promise<{ description?: string; messages: PromptMessage[] }>;
  /** Ends the connection and any process it started, children included. */
  close(): Promise<void>;
}
