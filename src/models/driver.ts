import type { Json, JsonObject, JsonSchema } from '../spec/types.js';

/**
 * The model interface: what the machine asks of every driver. A driver adapts it to one
 * provider's wire format and nothing else; it does not decide, journal or label.
 */

/** A tool call as the model wrote it. `arguments` is the raw text, decoded by parse.tool_calls. */
export interface ToolCallRequest {
  id: string;
  /** The qualified tool name, `ns/name`, as the machine offered it. */
  name: string;
  arguments: string;
}

export type Message =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: ToolCallRequest[] }
  | { role: 'tool'; callId: string; name: string; content: string; isError?: boolean };

/** A tool offered to the model, with its qualified name. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: JsonObject;
}

export interface ModelRequest {
  slot: string;
  messages: Message[];
  tools: ToolSpec[];
  /** When given, the answer text must be JSON meeting this schema. */
  schema?: JsonSchema;
  signal?: AbortSignal;
  /**
   * Receives each piece of answer text as a streaming driver reads it, for display only: the
   * reply still carries the whole text. A driver that does not stream never calls it. It must
   * not throw.
   */
  onText?: (delta: string) => void;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** USD, when the binding gave the model a price. */
  cost?: number;
}

export type StopReason = 'end' | 'tool_calls' | 'length' | 'filter' | 'other';

export interface ModelReply {
  text: string;
  toolCalls: ToolCallRequest[];
  stop: StopReason;
  usage: Usage;
  /** The model id the provider says answered, when it says. */
  model?: string;
  /** The provider's fingerprint of the model's version or configuration, when it gives one. */
  fingerprint?: string;
  /** Set by a pinned slot that warns: how the reply differs from the pin. */
  mismatch?: string;
}

export interface ModelCapabilities {
  tools: boolean;
  parallelToolCalls: boolean;
  jsonSchema: boolean;
  streaming: boolean;
}

export interface ModelDescription {
  driver: string;
  provider: string;
  model: string;
  contextWindow?: number;
  capabilities: ModelCapabilities;
}

/**
 * A model driver.
 *
 * ```ts
 * const reply = await driver.call({ slot: 'main', messages, tools: [] });
 * ```
 */
export interface ModelDriver {
  describe(): ModelDescription;
  /** Throws DriverError for transport and protocol failures; malformed output is data. */
  call(request: ModelRequest): Promise<ModelReply>;
  /**
   * For a driver that keeps state across calls (a replay file's position): the replies a
   * resumed run already holds for this slot, served from its journal rather than asked again.
   */
  resumeAfter?(replies: ModelReply[]): void;
  close?(): Promise<void>;
}

/** The binding of a model slot in the host configuration. */
export interface ModelBinding {
  driver: string;
  [option: string]: Json | undefined;
}
