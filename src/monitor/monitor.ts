import type { Label } from '../labels/label.js';
import { resourceMatches } from '../spec/resources.js';
import type { Json } from '../spec/types.js';

/** One rule of the host configuration: allow or deny the resources a pattern matches. */
export type Rule = { allow: string; reason?: string } | { deny: string; reason?: string };

export type Verdict = 'allow' | 'deny';

export interface AccessRequest {
  /** The resource, as `tool:fs/read_file` or `model:main`. */
  resource: string;
  /** Where in the image the request comes from. */
  at?: string;
  args?: Json;
  /** The join of the labels of what the request carries. */
  context?: Label;
}

export interface Decision {
  verdict: Verdict;
  resource: string;
  /** The rule that decided, as `rules[2]: deny tool:fs/write_*`, or null for the default. */
  rule: string | null;
  reason: string;
}

/**
 * The reference monitor: every effectful instruction asks it before acting. Rules are
 * patterns over resource names; nothing is allowed by default, and a matching deny wins over
 * any allow.
 *
 * ```ts
 * const m = new Monitor([{ allow: 'tool:fs/read_*' }, { deny: 'tool:fs/write_*' }]);
 * m.decide({ resource: 'tool:fs/write_file' }).verdict // 'deny'
 * ```
 */
export class Monitor {
  private readonly rules: readonly Rule[];

  constructor(rules: readonly Rule[]) {
    this.rules = rules;
  }

  decide(request: AccessRequest): Decision {
    const { resource } = request;
    let allowed: { index: number; rule: Rule } | undefined;

    for (let index = 0; index < this.rules.length; index++) {
      const rule = this.rules[index]!;
      if ('deny' in rule) {
        if (resourceMatches(rule.deny, resource)) {
          return {
            verdict: 'deny',
            resource,
            rule: `rules[${index}]: deny ${rule.deny}`,
            reason: rule.reason ?? `'${resource}' is denied by the host configuration`,
          };
        }
      } else if (!allowed && resourceMatches(rule.allow, resource)) {
        allowed = { index, rule };
      }
    }

    if (allowed && 'allow' in allowed.rule) {
      return {
        verdict: 'allow',
        resource,
        rule: `rules[${allowed.index}]: allow ${allowed.rule.allow}`,
        reason: allowed.rule.reason ?? 'allowed by the host configuration',
      };
    }
    return {
      verdict: 'deny',
      resource,
      rule: null,
      reason: `no rule allows '${resource}' (nothing is allowed by default)`,
    };
  }
}
