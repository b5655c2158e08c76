import type { Label, Readers } from '../labels/label.js';
import { parseFieldPath, type VouchedField } from '../labels/parts.js';
import { InternalError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import type { ToolHints } from '../tools/provider.js';
import type { LabelSetting, NamespaceBinding, ToolBinding } from './config.js';

/**
 * How the configuration treats one tool: the label of its results, the places in them the
 * operator vouches for, and who learns its arguments. A tool's own settings come first,
 * then its namespace's, then the defaults: untrusted, readable by anyone, sent to anyone.
 */

function toolOf(binding: NamespaceBinding | undefined, tool: string): ToolBinding | undefined {
  const tools = binding?.tools;
  return tools && Object.hasOwn(tools, tool) ? tools[tool] : undefined;
}

function fill(setting: LabelSetting | undefined, around: Omit<Label, 'sources'>) {
  return {
    readers: setting?.readers ?? around.readers,
    integrity: setting?.integrity ?? around.integrity,
  };
}

/**
 * The label a tool's results carry, before the call's own sources are added. A tool its
 * server says reaches an open world (`openWorldHint: true`) gives untrusted results unless
 * the tool's own entry sets their integrity: a namespace's word covers its tools in general,
 * not the one the server says fetches from anywhere. A hint never makes results trusted.
 */
export function toolLabel(
  binding: NamespaceBinding | undefined,
  ns: string,
  tool: string,
  hints: ToolHints = {},
): Label {
  const namespace = fill(binding?.label, { readers: 'public', integrity: 'untrusted' });
  const own = toolOf(binding, tool)?.label;
  const label = fill(own, namespace);
  if (hints.openWorld === true && own?.integrity === undefined) label.integrity = 'untrusted';
  return { ...label, sources: [`tool:${ns}`] };
}

/**
 * The fields of a tool's results that the operator vouches for, each with its label; what a
 * field's own setting leaves out comes from the tool's label, hints included.
 */
export function vouchedFields(
  binding: NamespaceBinding | undefined,
  tool: string,
  hints: ToolHints = {},
): VouchedField[] {
  const fields = toolOf(binding, tool)?.fields;
  if (!fields) return [];
  const around = toolLabel(binding, '', tool, hints);
  return Object.entries(fields).map(([path, setting]) => {
    const steps = parseFieldPath(path);
    if (typeof steps === 'string') {
      throw new InternalError(`field path '${path}' passed the configuration's check`, { path });
    }
    return { path, steps, label: fill(setting, around) };
  });
}

/** The addresses an argument holds: a string or a list of strings; null when it holds others. */
function addressesIn(args: JsonObject | undefined, arg: string): string[] | null {
  const held = args && Object.hasOwn(args, arg) ? args[arg] : undefined;
  if (held === undefined || held === null) return [];
  const list = Array.isArray(held) ? held : [held];
  return list.every((who) => typeof who === 'string') ? (list as string[]) : null;
}

/**
 * Who learns a call's arguments, when the tool says so itself; undefined leaves it to the
 * namespace. An argument named as a recipient adds the addresses it holds; one that holds
 * anything but strings makes the call's recipients anyone, since they cannot be told.
 */
export function toolRecipients(
  binding: NamespaceBinding | undefined,
  tool: string,
  args: JsonObject | undefined,
): Readers | undefined {
  const given = toolOf(binding, tool)?.recipients;
  if (given === undefined || given === 'public') return given;
  const out = new Set<string>();
  for (const entry of given) {
    if (typeof entry === 'string') {
      out.add(entry);
      continue;
    }
    const held = addressesIn(args, entry.arg);
    if (held === null) return 'public';
    for (const who of held) out.add(who);
  }
  return [...out];
}

/**
 * The recipients a call's arguments name whose arguments `trusted` accepts: the ones the
 * principal chose, when the labels of those arguments say nothing untrusted chose them.
 */
export function chosenRecipients(
  binding: NamespaceBinding | undefined,
  tool: string,
  args: JsonObject | undefined,
  trusted: (arg: string) => boolean,
): string[] {
  const given = toolOf(binding, tool)?.recipients;
  if (given === undefined || given === 'public') return [];
  // A recipient the tool always has stays held to the readers, whatever an argument says.
  const fixed = new Set(given.filter((e) => typeof e === 'string'));
  const out = new Set<string>();
  for (const entry of given) {
    if (typeof entry === 'string' || !trusted(entry.arg)) continue;
    for (const who of addressesIn(args, entry.arg) ?? []) if (!fixed.has(who)) out.add(who);
  }
  return [...out];
}

/** The arguments of a tool that carry content it delivers, not choices it makes. */
export function contentArgs(binding: NamespaceBinding | undefined, tool: string): string[] {
  return toolOf(binding, tool)?.content ?? [];
}
