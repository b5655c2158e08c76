import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical.js';
import type { Message, ToolSpec } from '../models/driver.js';
import type { JsonSchema } from '../spec/types.js';

/** What is kept of a conversation already hashed: its messages and the hash up to them. */
interface Prefix {
  messages: readonly Message[];
  /** sha256 fed with `{"messages":[` and each message's canonical text, comma-separated. */
  hash: Hash;
}

/** How many conversations a run keeps a prefix for; a run rarely holds more than a few. */
const KEPT = 8;

/**
 * The digest of a model request, `digest({ messages, tools, schema })`, without encoding the
 * whole history again on every call. A conversation grows by a few messages a turn and the
 * messages it holds are never changed (values are not, once made), so the hash of the part
 * seen before is kept and extended by the messages appended since. The digest is the same
 * one; only the work differs, linear in the run rather than quadratic.
 *
 * ```ts
 * const digests = new RequestDigests();
 * digests.of(messages, tools, undefined) === digest({ messages, tools, schema: undefined });
 * ```
 */
export class RequestDigests {
  /** By the conversation's first message, which every later turn shares. */
  private readonly prefixes = new Map<object, Prefix>();
  private lastTools: readonly ToolSpec[] = [];
  private lastToolsText = '[]';

  of(messages: readonly Message[], tools: readonly ToolSpec[], schema: JsonSchema | undefined) {
    const first = messages[0];
    const known = first !== undefined ? this.prefixes.get(first) : undefined;
    const from = known && extendsPrefix(messages, known.messages) ? known : undefined;

    // The prefix kept for this conversation gives way to the longer one made here, so its
    // hash is extended in place; it is let go first, in case encoding a message throws.
    if (known) this.prefixes.delete(first!);
    const hash = from ? from.hash : createHash('sha256').update('{"messages":[');
    for (let i = from ? from.messages.length : 0; i < messages.length; i++) {
      hash.update(i > 0 ? `,${canonicalJson(messages[i])}` : canonicalJson(messages[i]));
    }
    if (first !== undefined) this.keep(first, { messages: [...messages], hash: hash.copy() });

    const rest = schema === undefined ? '' : `,"schema":${canonicalJson(schema)}`;
    hash.update(`]${rest},"tools":${this.toolsText(tools)}}`);
    return `sha256:${hash.digest('hex')}`;
  }

  private keep(first: object, prefix: Prefix): void {
    this.prefixes.delete(first);
    if (this.prefixes.size >= KEPT) this.prefixes.delete(this.prefixes.keys().next().value!);
    this.prefixes.set(first, prefix);
  }

  /** The tools offered rarely change between calls; their text is made again when they do. */
  private toolsText(tools: readonly ToolSpec[]): string {
    const same =
      tools.length === this.lastTools.length && tools.every((t, i) => t === this.lastTools[i]);
    if (!same) {
      this.lastTools = [...tools];
      this.lastToolsText = canonicalJson(tools);
    }
    return this.lastToolsText;
  }
}

function extendsPrefix(messages: readonly Message[], prefix: readonly Message[]): boolean {
  if (messages.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (messages[i] !== prefix[i]) return false;
  return true;
}
