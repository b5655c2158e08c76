import { type EndorseKind, endorsable } from '../labels/endorse.js';
import type { Label } from '../labels/label.js';
import { validatorFor } from '../spec/json-schema.js';
import { patternsOverlap, resourceMatches } from '../spec/resources.js';
import type { Json, JsonSchema } from '../spec/types.js';
import { checkFlow, DEFAULT_FLOW, type FlowPolicy, rank, type Sink } from './flow.js';

/** How a call uses what it touches. A rule with a mode applies to requests of that mode only. */
export type Mode = 'read' | 'write' | 'execute';

interface RuleOptions {
  reason?: string;
  mode?: Mode;
  /** An ISO 8601 time after which the rule no longer applies. */
  until?: string;
  /**
   * A JSON Schema the call's arguments must meet for the rule to apply: an allow that holds
   * for some arguments only, or a deny aimed at some. A request without arguments meets none.
   */
  args?: JsonSchema;
}

/** One rule of the host configuration: allow, deny, or ask a person first. */
export type Rule =
  | ({ allow: string } & RuleOptions)
  | ({ deny: string } & RuleOptions)
  | ({ confirm: string } & RuleOptions);

export type Verdict = 'allow' | 'deny' | 'confirm';

export interface AccessRequest {
  /** The resource, as `tool:fs/read_file` or `model:main`. */
  resource: string;
  /** Where in the image the request comes from. */
  at?: string;
  args?: Json;
  /** The join of the labels of what the request carries. */
  context?: Label;
  /**
   * How the call uses the resource; a request without one meets only rules without one.
   * A call that may use it in several ways is decided for each, and the strictest verdict
   * holds: it needs every one of them granted.
   */
  mode?: Mode | readonly Mode[];
  /** What the request discloses and does, for the flow rules; without it they do not apply. */
  sink?: Sink;
}

export interface MonitorOptions {
  now?: () => number;
  flow?: Partial<FlowPolicy>;
  /** The kinds of schema whose extracted answers are trusted; default all of them. */
  endorse?: readonly EndorseKind[];
}

export interface Decision {
  verdict: Verdict;
  resource: string;
  /** The rule that decided, as `rules[2]: deny tool:fs/write_*`, or null for the default. */
  rule: string | null;
  reason: string;
  /**
   * Recipients the request's data reaches that its readers do not name, because trusted
   * arguments chose them and the policy releases to such recipients.
   */
  released?: readonly string[];
}

const kindOf = (rule: Rule): { verdict: Verdict; pattern: string } =>
  'deny' in rule
    ? { verdict: 'deny', pattern: rule.deny }
    : 'confirm' in rule
      ? { verdict: 'confirm', pattern: rule.confirm }
      : { verdict: 'allow', pattern: rule.allow };

/**
 * The reference monitor: every effectful instruction asks it before acting. Rules are
 * patterns over resource names. Nothing is allowed by default; among the rules that match,
 * deny wins over confirm, and confirm over allow. A person's "allow for the rest of this
 * run" is a run grant: it turns a confirm into an allow, never a deny.
 *
 * The flow rules then look at what the request carries (see `flow.ts`); where they are
 * stricter than the rules, they decide. A run grant does not lift them: each call steered
 * by untrusted data is judged on its own.
 *
 * ```ts
 * const m = new Monitor([{ allow: 'tool:fs/read_*' }, { deny: 'tool:fs/write_*' }]);
 * m.decide({ resource: 'tool:fs/write_file' }).verdict // 'deny'
 * ```
 */
export class Monitor {
  private readonly rules: readonly Rule[];
  private readonly requests: readonly string[] | undefined;
  private readonly now: () => number;
  private readonly flow: FlowPolicy;
  private readonly endorse: readonly EndorseKind[] | undefined;
  private readonly granted = new Set<string>();

  /**
   * `requests` are the permissions the image asks for: nothing outside them is allowed,
   * whatever the rules say. Without them, the rules alone decide.
   */
  constructor(rules: readonly Rule[], requests?: readonly string[], options: MonitorOptions = {}) {
    this.rules = rules;
    this.requests = requests;
    this.now = options.now ?? Date.now;
    this.flow = { ...DEFAULT_FLOW, ...options.flow };
    this.endorse = options.endorse;
    this.index = indexRules(rules);
  }

  /** True when an answer extracted under `schema` is narrow enough to be trusted. */
  endorses(schema: JsonSchema): boolean {
    return endorsable(schema, this.endorse);
  }

  private readonly index: RuleIndex;

  /** An expiry that cannot be read keeps the rule in force, never lifts a deny. */
  private live(rule: Rule): boolean {
    if (rule.until === undefined) return true;
    const until = Date.parse(rule.until);
    return Number.isNaN(until) || until > this.now();
  }

  /**
   * True when some allow or confirm rule in force grants part of what the request names:
   * some resource matches both patterns (`tool:*` + `/send` grants part of `tool:mail/*`). The run gets the intersection; deny rules inside it
   * still apply when it asks.
   */
  grants(request: string): boolean {
    return this.rules.some((rule) => {
      const { verdict, pattern } = kindOf(rule);
      if (verdict === 'deny' || !this.live(rule)) return false;
      return patternsOverlap(pattern, request);
    });
  }

  private readonly argChecks = new Map<number, (args: unknown) => boolean>();

  /** Whether a call's arguments meet rule `index`'s constraint; the check is compiled once. */
  private argsMeet(index: number, schema: JsonSchema, args: Json | undefined): boolean {
    if (args === undefined) return false;
    let check = this.argChecks.get(index);
    if (!check) {
      const v = validatorFor(schema);
      check = (a) => v(a) as boolean;
      this.argChecks.set(index, check);
    }
    return check(args);
  }

  /** Allows `resource` for the rest of the run where a rule would ask for confirmation. */
  grantForRun(resource: string): void {
    this.granted.add(resource);
  }

  decide(request: AccessRequest): Decision {
    const decision = this.byModes(request);
    if (decision.verdict === 'deny' || !request.sink || !request.context) return decision;
    const flow = checkFlow(this.flow, request.resource, request.context, request.sink);
    const [finding] = flow.findings;
    if (finding && rank(finding.verdict) > rank(decision.verdict)) {
      return { resource: request.resource, ...finding };
    }
    return flow.released.length > 0 ? { ...decision, released: flow.released } : decision;
  }

  /** The strictest decision over the request's modes; a tie keeps the first mode's. */
  private byModes(request: AccessRequest): Decision {
    const { mode } = request;
    if (!Array.isArray(mode)) return this.byRules(request, mode as Mode | undefined);
    let strictest: Decision | undefined;
    for (const m of mode) {
      const d = this.byRules(request, m);
      if (!strictest || rank(d.verdict) > rank(strictest.verdict)) {
        strictest = m === mode[0] ? d : { ...d, reason: `${d.reason} (as a ${m} call)` };
      }
    }
    return strictest ?? this.byRules(request, undefined);
  }

  private byRules(request: AccessRequest, mode: Mode | undefined): Decision {
    const { resource } = request;
    // The image's requests bound the kinds of resource they name: an image that requests no
    // `fs:` resource leaves paths to the rules alone.
    const scheme = resource.slice(0, resource.indexOf(':') + 1);
    const bounded = this.requests?.some((p) => (scheme ? p.startsWith(scheme) : p === resource));
    if (this.requests && bounded && !this.requests.some((p) => resourceMatches(p, resource))) {
      return {
        verdict: 'deny',
        resource,
        rule: null,
        reason: `the image does not request '${resource}'`,
      };
    }
    let best: { index: number; rule: Rule; verdict: Verdict; pattern: string } | undefined;

    for (const index of this.index.candidates(resource)) {
      const rule = this.rules[index]!;
      const { verdict, pattern } = kindOf(rule);
      if (!this.live(rule) || !resourceMatches(pattern, resource)) continue;
      if (rule.mode !== undefined && rule.mode !== mode) continue;
      if (rule.args !== undefined && !this.argsMeet(index, rule.args, request.args)) continue;
      if (!best || rank(verdict) > rank(best.verdict)) best = { index, rule, verdict, pattern };
      if (verdict === 'deny') break;
    }

    if (!best) {
      return {
        verdict: 'deny',
        resource,
        rule: null,
        reason: `no rule allows '${resource}' (nothing is allowed by default)`,
      };
    }
    const where = best.rule.args === undefined ? '' : ' (with these arguments)';
    const rule = `rules[${best.index}]: ${best.verdict} ${best.pattern}${where}`;
    if (best.verdict === 'confirm' && this.granted.has(resource)) {
      return {
        verdict: 'allow',
        resource,
        rule: `${rule}; allowed for this run`,
        reason: 'allowed for the rest of this run',
      };
    }
    const reason =
      best.rule.reason ??
      (best.verdict === 'deny'
        ? `'${resource}' is denied by the host configuration`
        : best.verdict === 'confirm'
          ? `'${resource}' needs a person's confirmation`
          : 'allowed by the host configuration');
    return { verdict: best.verdict, resource, rule, reason };
  }
}

/** The first segment of a resource, as `tool:fs/`, or the whole name when it has no `/`. */
function head(name: string): string {
  const slash = name.indexOf('/');
  return slash < 0 ? name : name.slice(0, slash + 1);
}

interface RuleIndex {
  /** The rules that may match `resource`, in the order they are written. */
  candidates(resource: string): number[];
}

/**
 * Rules by what they can match: exact names in one map, patterns whose first segment is
 * literal in another, the rest tried for every resource. Deciding then costs the rules that
 * could apply, not all of them.
 */
function indexRules(rules: readonly Rule[]): RuleIndex {
  const exact = new Map<string, number[]>();
  const byHead = new Map<string, number[]>();
  const rest: number[] = [];
  const add = (map: Map<string, number[]>, key: string, i: number) => {
    const list = map.get(key);
    if (list) list.push(i);
    else map.set(key, [i]);
  };
  rules.forEach((rule, i) => {
    const { pattern } = kindOf(rule);
    const star = pattern.indexOf('*');
    if (star < 0) add(exact, pattern, i);
    else if (pattern.slice(0, star).includes('/')) add(byHead, head(pattern), i);
    else rest.push(i);
  });
  return {
    candidates(resource) {
      const lists = [exact.get(resource), byHead.get(head(resource)), rest].filter(
        (l): l is number[] => l !== undefined && l.length > 0,
      );
      if (lists.length === 1) return lists[0]!;
      return lists.flat().sort((a, b) => a - b);
    },
  };
}
