import { join, type Label, type Readers, readableBy } from '../labels/label.js';
import type { Verdict } from './monitor.js';

/**
 * Flow rules: what the monitor checks about the data a request carries, beyond which
 * resource it names. Both are on by default.
 *
 * - `untrusted`: a consequential request (a call that writes or executes) made from a context
 *   that holds untrusted data. The model may have been steered by that data.
 * - `readers`: data reaching a sink whose recipients are not all among the data's readers.
 */
export interface FlowPolicy {
  untrusted: Verdict;
  readers: Verdict;
}

export const DEFAULT_FLOW: FlowPolicy = Object.freeze({ untrusted: 'deny', readers: 'deny' });

/** What a request discloses and whether it acts on the world. */
export interface Sink {
  /** Who learns the request's data: a model's provider, a tool's server, the user. */
  recipients?: Readers;
  /** True for a call that writes or executes. */
  consequential: boolean;
  /** What reaches the sink besides the context, such as a handle's content. */
  data?: Label;
}

export interface FlowFinding {
  verdict: Verdict;
  /** `flow.untrusted` or `flow.readers`. */
  rule: string;
  reason: string;
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

/**
 * The findings of the flow rules for a request to `resource` carrying `context`, strictest
 * first. An empty list means the data may flow.
 */
export function checkFlow(
  policy: FlowPolicy,
  resource: string,
  context: Label,
  sink: Sink,
): FlowFinding[] {
  const found: FlowFinding[] = [];
  if (sink.consequential && context.integrity === 'untrusted' && policy.untrusted !== 'allow') {
    found.push({
      verdict: policy.untrusted,
      rule: `flow.untrusted: ${policy.untrusted}`,
      reason: `'${resource}' acts on the world and its context holds untrusted data${origin(context)}`,
    });
  }
  const flowing = sink.data ? join(context, sink.data) : context;
  if (
    sink.recipients !== undefined &&
    !readableBy(flowing, sink.recipients) &&
    policy.readers !== 'allow'
  ) {
    found.push({
      verdict: policy.readers,
      rule: `flow.readers: ${policy.readers}`,
      reason: `data readable by ${names(flowing.readers)} would reach '${resource}', whose recipients are ${names(sink.recipients)}${origin(flowing)}`,
    });
  }
  return found.sort((a, b) => rank(b.verdict) - rank(a.verdict));
}

export function rank(v: Verdict): number {
  return v === 'deny' ? 3 : v === 'confirm' ? 2 : 1;
}
