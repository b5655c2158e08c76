import type { Value } from '../labels/value.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type { ToolHints } from '../tools/provider.js';

/**
 * What the machine asks of people: confirmations of effects a rule holds back, and answers to
 * questions. A channel that cannot answer now returns WAIT, and the run suspends with the
 * request pending in its journal, to be resumed by another process when someone answers.
 */
export const WAIT: unique symbol = Symbol('wait');

export interface ConfirmRequest {
  /** Stable within the run: `c1`, `c2`, ... in the order the requests arise. */
  id: string;
  /** A tool call, one whose outcome is unknown, a resource read, or a prompt fetched. */
  kind: 'tool' | 'unknown_outcome' | 'resource' | 'prompt';
  resource: string;
  /** What is asked for within its namespace: `ns/tool`, `ns/<uri>` or `ns/<prompt>`. */
  tool: string;
  callId: string;
  args: JsonObject;
  /** The rule that asked, or null. */
  rule: string | null;
  /**
   * The files and URLs the call's arguments name, for the person's eyes; filled by the host
   * when it asks, not journaled with the request (the call's own entry records them).
   */
  touches?: string[];
  /**
   * What the tool's server says of it (read-only, destructive, idempotent, open world), for
   * the person's eyes: claims of a server that is not trusted, which decided nothing.
   */
  hints?: ToolHints;
  reason: string;
  at: string | undefined;
}

export interface ConfirmAnswer {
  /** `always`: approve, and allow the same resource for the rest of the run. */
  verdict: 'approve' | 'deny' | 'always';
  reason?: string;
}

export interface Question {
  id: string;
  prompt: string;
  schema: JsonSchema | null;
  at: string | undefined;
}

/** A request the run waits on, as listed when it suspends. */
export type Pending =
  | (Omit<ConfirmRequest, 'kind'> & { kind: 'confirm'; request: ConfirmRequest['kind'] })
  | (Question & { kind: 'question' });

export interface UserChannel {
  show(v: Value, at?: string): Promise<void>;
  ask(prompt: string, schema: JsonSchema | undefined, at?: string): Promise<Json | typeof WAIT>;
  confirm(request: ConfirmRequest): Promise<ConfirmAnswer | typeof WAIT>;
}

/** Thrown through the machine to suspend the run; caught at its one boundary. */
export class Suspend {
  constructor(readonly pending: Pending) {}
}
