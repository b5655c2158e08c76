import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';

/**
 * Resource URI templates (RFC 6570), as MCP servers list them, expanded and matched by the
 * SDK's helper. What the helper leaves to its caller is checked here: which variables a
 * template needs, since a variable left out would silently expand to nothing.
 *
 * ```ts
 * expandTemplate('demo://items/{id}{?lang}', { id: '7' }) // { uri: 'demo://items/7' }
 * expandTemplate('demo://items/{id}', {})                // { missing: ['id'] }
 * ```
 */

/** The operators whose variables form a query or parameter list, and may be left out. */
const OPTIONAL = new Set(['?', '&', ';']);

const EXPRESSION = /\{([+#./;?&]?)([^}]*)\}/g;

/** A template's variables: those a URI needs, and those of its query part. */
export function templateVariables(template: string): { needed: string[]; optional: string[] } {
  const needed: string[] = [];
  const optional: string[] = [];
  for (const [, operator, list] of template.matchAll(EXPRESSION)) {
    for (const raw of list!.split(',')) {
      // `*` explodes a list and `:n` takes a prefix; neither is part of the name.
      const name = raw.trim().replace(/\*$/, '').replace(/:\d+$/, '');
      if (name === '') continue;
      (OPTIONAL.has(operator!) ? optional : needed).push(name);
    }
  }
  return { needed, optional };
}

export type Expansion =
  | { uri: string }
  | { missing: string[] }
  | { unknown: string[] }
  | { invalid: string };

/** Expands a template, or says which variables are missing or not the template's. */
export function expandTemplate(
  template: string,
  vars: Record<string, string | string[]>,
): Expansion {
  const { needed, optional } = templateVariables(template);
  const missing = needed.filter((n) => !Object.hasOwn(vars, n));
  if (missing.length > 0) return { missing };
  const known = new Set([...needed, ...optional]);
  const unknown = Object.keys(vars).filter((k) => !known.has(k));
  if (unknown.length > 0) return { unknown };
  try {
    return { uri: new UriTemplate(template).expand(vars) };
  } catch (e) {
    return { invalid: (e as Error).message };
  }
}

/** The longest template matched against a URI: matching builds a regular expression from it. */
const MAX_MATCHED_TEMPLATE = 2048;

/** True when `uri` is one that `template` expands to. */
export function matchesTemplate(template: string, uri: string): boolean {
  if (template.length > MAX_MATCHED_TEMPLATE) return false;
  try {
    return new UriTemplate(template).match(uri) !== null;
  } catch {
    return false;
  }
}
