import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  type ClientCapabilities,
  type CreateMessageRequest,
  CreateMessageRequestSchema,
  type CreateMessageResult,
  type ElicitRequestFormParams,
  ElicitRequestSchema,
  type ElicitResult,
  ErrorCode,
  ListRootsRequestSchema,
  type LoggingLevel,
  LoggingMessageNotificationSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  type Root,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type { Json } from '../spec/types.js';

/**
 * What a server may ask of the host and tell it, beyond tools. Each capability is declared
 * at initialize only when its hook is given, so a server never sees an offer the host
 * cannot keep.
 *
 * ```ts
 * const hooks: McpClientHooks = {
 *   elicit: async (params) => ({ action: 'accept', content: {} }), // defaults filled in
 *   roots: [{ uri: 'file:///data', name: 'data' }],
 *   events: (e) => console.log(e.type),
 * };
 * ```
 */
export interface McpClientHooks {
  /**
   * Answers `elicitation/create` (form mode only). The defaults of the requested schema are
   * applied to an accepted answer's missing fields before it goes back.
   */
  elicit?(params: ElicitRequestFormParams, namespace: string): Promise<ElicitResult>;
  /** Answers `sampling/createMessage`; throws McpError to refuse. */
  sample?(params: CreateMessageRequest['params'], namespace: string): Promise<CreateMessageResult>;
  /** The roots `roots/list` answers with; fixed for the connection. */
  roots?: Root[];
  /** Receives the server's log messages, list changes and the progress of calls. */
  events?(event: McpEvent): void;
  /** Asked of a server that offers logging, right after initialize. */
  logLevel?: LoggingLevel;
}

/** The levels of MCP logging (RFC 5424's), least severe first. */
export const LOG_LEVELS: readonly LoggingLevel[] = [
  'debug',
  'info',
  'notice',
  'warning',
  'error',
  'critical',
  'alert',
  'emergency',
];

export type { LoggingLevel };

/** True when a message at `level` is at `threshold` or more severe. */
export function atLeast(level: LoggingLevel, threshold: LoggingLevel): boolean {
  return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(threshold);
}

/** A notification from a server, as the host's event sink receives it. */
export type McpEvent =
  | { type: 'log'; namespace: string; level: LoggingLevel; logger?: string; data: Json }
  | { type: 'list_changed'; namespace: string; list: 'tools' | 'prompts' | 'resources' }
  | {
      type: 'progress';
      namespace: string;
      tool: string;
      progress: number;
      total?: number;
      message?: string;
    };

/**
 * OAuth for a Streamable HTTP server, on the SDK's client interface. The provider registers,
 * keeps tokens and the PKCE verifier, and sends the person to the authorization page;
 * `authorizationCode` resolves once they come back. Tokens stay with the provider: nothing
 * the machine journals or describes carries them.
 *
 * ```ts
 * const auth: McpAuth = { provider: myOAuthProvider, authorizationCode: () => callback.code };
 * new McpProvider('web', { url }, { auth });
 * ```
 */
export interface McpAuth {
  provider: OAuthClientProvider;
  authorizationCode(): Promise<string>;
  /** Authorizations one request may go through before it fails; default 3. */
  maxAttempts?: number;
}

export const DEFAULT_AUTH_ATTEMPTS = 3;

/** The capabilities a client with these hooks declares. */
export function capabilitiesOf(hooks: McpClientHooks): ClientCapabilities {
  const caps: ClientCapabilities = {};
  // applyDefaults asks the SDK to fill an accepted answer's missing fields (SEP-1034).
  if (hooks.elicit) caps.elicitation = { form: { applyDefaults: true } };
  if (hooks.sample) caps.sampling = {};
  // The roots do not change while connected, so no list_changed is promised.
  if (hooks.roots) caps.roots = {};
  return caps;
}

/** Installs the handlers for what the server may ask and tell; call before connect. */
export function installHooks(client: Client, namespace: string, hooks: McpClientHooks): void {
  const { elicit, sample, roots, events } = hooks;
  if (elicit) {
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const params = request.params;
      // The SDK refuses url mode before this, as only form mode is declared.
      if (params.mode === 'url') {
        throw new McpError(ErrorCode.InvalidParams, 'url elicitation is not supported');
      }
      return elicit(params, namespace);
    });
  }
  if (sample) {
    client.setRequestHandler(CreateMessageRequestSchema, (request) =>
      sample(request.params, namespace),
    );
  }
  if (roots) {
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
  }
  if (!events) return;

  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    const { level, logger, data } = n.params;
    // Parsed from JSON-RPC, so JSON by construction.
    const event: McpEvent = { type: 'log', namespace, level, data: (data ?? null) as Json };
    if (logger !== undefined) event.logger = logger;
    events(event);
  });
  const lists = [
    ['tools', ToolListChangedNotificationSchema],
    ['prompts', PromptListChangedNotificationSchema],
    ['resources', ResourceListChangedNotificationSchema],
  ] as const;
  for (const [list, schema] of lists) {
    client.setNotificationHandler(schema, () => events({ type: 'list_changed', namespace, list }));
  }
}
