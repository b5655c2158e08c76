import { ConfigError } from '../spec/errors.js';
import { closest, didYouMean } from '../spec/near.js';
import type { JsonObject } from '../spec/types.js';
import type { ToolDefinition } from '../tools/provider.js';
import { type HostConfig, namespaceKey, own, placeIn } from './config.js';

/** How many names a message lists before it says how many more there are. */
const LISTED = 12;

function listed(names: readonly string[]): string {
  const shown = names.slice(0, LISTED).join(', ');
  return names.length > LISTED ? `${shown} and ${names.length - LISTED} more` : shown;
}

function nearOf(name: string, names: readonly string[]): string {
  return didYouMean(closest(name, names));
}

/**
 * Refuses settings under a namespace's `tools`, `modes`, `handles` and `idempotent` that
 * name nothing the server has: a tool it does not offer, or, for a tool whose input schema lists its properties, a `content`
 * argument, a `{ arg: NAME }` recipient or a `resources` key that is none of them. A typo
 * there would otherwise leave the setting silently unused: a body taken as an instruction,
 * a file argument left unchecked. `offered` is every tool name the server has offered (on
 * this run, or in the lock); `defs` the definitions it offers now, whose arguments are held
 * to their schemas.
 *
 * ```ts
 * checkToolSettings(config, 'fs', await provider.list());
 * ```
 */
export function checkToolSettings(
  config: HostConfig,
  ns: string,
  defs: readonly ToolDefinition[],
  offered: ReadonlySet<string> = new Set(defs.map((d) => d.name)),
): void {
  const binding = own(config.tools, ns);
  const settings = binding?.tools ?? {};
  const base = namespaceKey(config, ns);
  const names = [...offered].sort();
  // Every place that names a tool of the namespace: a typo there would leave a setting, a
  // mode, a handle or a repeat unused, silently.
  const listing = (list: string, tools: string[], keyed: boolean): Array<[string, string]> =>
    tools.map((tool, i) => [`${base}.${list}${keyed ? `.${tool}` : `[${i}]`}`, tool]);
  const tools: Array<[string, string]> = [
    ...listing('modes', Object.keys(binding?.modes ?? {}), true),
    ...listing('handles', Array.isArray(binding?.handles) ? binding.handles : [], false),
    ...listing('idempotent', Array.isArray(binding?.idempotent) ? binding.idempotent : [], false),
    ...listing('tools', Object.keys(settings), true),
  ];
  for (const [at, tool] of tools) {
    if (offered.has(tool)) continue;
    throw new ConfigError(
      'unknown_tool',
      `${placeIn(config, at)}: the server offers no tool '${tool}'${nearOf(tool, names)}; it offers ${listed(names) || 'none'}`,
      { file: config.path, ns, tool, at, offered: names },
    );
  }
  for (const [tool, setting] of Object.entries(settings)) {
    const at = `${base}.tools.${tool}`;
    const def = defs.find((d) => d.name === tool);
    const props = propertiesOf(def?.inputSchema);
    if (!props) continue;
    const named: Array<[string, string]> = [
      ...(setting.content ?? []).map((a, i): [string, string] => [`${at}.content[${i}]`, a]),
      ...(Array.isArray(setting.recipients) ? setting.recipients : []).flatMap(
        (r, i): Array<[string, string]> =>
          typeof r === 'string' ? [] : [[`${at}.recipients[${i}].arg`, r.arg]],
      ),
      ...Object.keys(setting.resources ?? {}).map((a): [string, string] => [
        `${at}.resources.${a}`,
        a,
      ]),
    ];
    for (const [place, arg] of named) {
      if (props.includes(arg)) continue;
      throw new ConfigError(
        'unknown_argument',
        `${placeIn(config, place)}: '${arg}' is no argument of ${ns}/${tool}${nearOf(arg, props)}; it takes ${listed(props)}`,
        { file: config.path, ns, tool, arg, at: place, arguments: props },
      );
    }
  }
}

/** The top-level properties an input schema lists, or undefined when it lists none. */
function propertiesOf(schema: JsonObject | undefined): string[] | undefined {
  const props = schema?.properties;
  if (props === null || typeof props !== 'object' || Array.isArray(props)) return undefined;
  const names = Object.keys(props);
  return names.length > 0 ? names : undefined;
}
