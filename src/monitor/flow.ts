import { join, type Label, type Readers, readableBy } from '../labels/label.js';
import type { Verdict } from './monitor.js';

/**
 * Flow rules: what the monitor checks about the data a request carries, beyond which
 * resource it names. Both are on by default.
 *
 * - `untrusted`: a consequential request (a call that writes or executes) made from a context
 *   that holds untrusted data. The model may have been steered by that data.
 * - `readers`: data reaching a sink whose recipients are not all among the data's readers.
 * - `release`: with `chosen`, the principal's data may also reach the recipients that
 *   trusted arguments name (see `Sink.chosen`); with `none` (the default) it may not.
 */
export interface FlowPolicy {
  untrusted: Verdict;
  readers: Verdict;
  release: Release;
}

/** Whether data may go to recipients its readers do not name because the principal chose them. */
export type Release = 'none' | 'chosen';

export const DEFAULT_FLOW: FlowPolicy = Object.freeze({
  untrusted: 'deny',
  readers: 'deny',
  release: 'none',
});

/** What a request discloses and whether it acts on the world. */
export interface Sink {
  /** Who learns the request's data: a model's provider, a tool's server, the user. */
  recipients?: Readers;
  /** True for a call that writes or executes. */
  consequential: boolean;
  /**
   * What reaches the sink besides the context: a handle's content, or arguments the
   * configuration calls content. Its readers count; its integrity does not, since it is
   * delivered, not obeyed.
   */
  data?: Label;
  /**
   * Recipients named by arguments whose values, and the branch the call is made under, are
   * trusted: chosen by the principal `by` (through the request or what the operator vouches
   * for), never by untrusted data. Under `release: chosen`, data `by` may read may go to them.
   */
  chosen?: { by: string; recipients: readonly string[] };
}

export interface FlowFinding {
  verdict: Verdict;
  /** `flow.untrusted` or `flow.readers`. */
  rule: string;
  reason: string;
}

/**
 * The recipients the readers rule holds the data to: those of the sink, less the ones the
 * principal chose, when the policy releases to them and the principal may read the data.
 */
function heldTo(policy: FlowPolicy, flowing: Label, sink: Sink): Readers | undefined {
  const { recipients, chosen } = sink;
  if (recipients === undefined || recipients === 'public') return recipients;
  if (policy.release !== 'chosen' || !chosen || chosen.recipients.length === 0) return recipients;
  if (!readableBy(flowing, [chosen.by])) return recipients;
  return recipients.filter((r) => !chosen.recipients.includes(r));
}

const names = (r: Readers) => (r === 'public' ? 'anyone' : `[${r.join(', ')}]`);

/** Where a label's data came from, for a reason a person reads. */
function origin(label: Label): string {
  const shown = label.sources.filter((s) => /^(tool|model|resource|prompt):/.test(s));
  const list = (shown.length > 0 ? shown : label.sources).slice(0, 3);
  if (list.length === 0) return '';
  const more = label.sources.length > list.length ? ', ...' : '';
  return ` (from ${list.join(', ')}${more})`;
}

/** What the flow rules say of one request. */
export interface FlowCheck {
  /** Strictest first; none means the data may flow. */
  findings: FlowFinding[];
  /** Recipients the data reaches only because the principal chose them. */
  released: readonly string[];
}

/** The flow rules applied to a request to `resource` carrying `context`. */
export function checkFlow(
  policy: FlowPolicy,
  resource: string,
  context: Label,
  sink: Sink,
): FlowCheck {
  const found: FlowFinding[] = [];
  let released: readonly string[] = [];
  if (sink.consequential && context.integrity === 'untrusted' && policy.untrusted !== 'allow') {
    found.push({
      verdict: policy.untrusted,
      rule: `flow.untrusted: ${policy.untrusted}`,
      reason: `'${resource}' acts on the world and its context holds untrusted data${origin(context)}`,
    });
  }
  const flowing = sink.data ? join(context, sink.data) : context;
  const held = heldTo(policy, flowing, sink);
  if (held !== undefined && policy.readers !== 'allow') {
    if (!readableBy(flowing, held)) {
      found.push({
        verdict: policy.readers,
        rule: `flow.readers: ${policy.readers}`,
        reason: `data readable by ${names(flowing.readers)} would reach '${resource}', whose ${
          held === sink.recipients ? '' : 'unchosen '
        }recipients are ${names(held)}${origin(flowing)}`,
      });
    } else if (held !== sink.recipients && Array.isArray(sink.recipients)) {
      released = sink.recipients.filter((r) => !readableBy(flowing, [r]));
    }
  }
  return { findings: found.sort((a, b) => rank(b.verdict) - rank(a.verdict)), released };
}

export function rank(v: Verdict): number {
  return v === 'deny' ? 3 : v === 'confirm' ? 2 : 1;
}
