import type { Json } from '../spec/types.js';
import { join, type Label, PUBLIC_TRUSTED } from './label.js';

/**
 * Finer labels inside a value. A value's own label is the join of everything in it, and
 * every operation that takes the value whole (a comparison, a template, a model's input, a
 * tool's arguments) sees that join. Parts say, for some places inside, a label of their own:
 * reading the value at such a place (`data.get`, a `{{reg.path}}` in a template) gives the
 * place's label rather than the whole's.
 *
 * A place's label counts the form around it, too: which keys the objects on the way have,
 * which elements the lists on the way hold and in what order. Reading `hotels.0.id` is as
 * trusted as the id and as the order of `hotels`, since the order chose which id it is.
 *
 * A string's parts describe its JSON: `parse.json` gives them to the value it decodes.
 */
export interface Parts {
  /** Which keys an object has; which elements a list has, and in what order. */
  readonly form: Label;
  /** Fields whose labels are their own, by key; any other field has the value's label. */
  readonly fields?: Readonly<Record<string, Part>>;
  /** The label of every element of a list, when it is its own. */
  readonly items?: Part;
}

export interface Part {
  readonly label: Label;
  readonly parts?: Parts;
}

/** One step of a field path: a key of an object, or every element of a list. */
export type Step = { key: string } | { each: true };

/**
 * A field of a tool's results the host configuration vouches for: its path as written,
 * its steps, and its label before the call's sources are added.
 */
export interface VouchedField {
  path: string;
  steps: Step[];
  label: Omit<Label, 'sources'>;
}

/**
 * Parses a field path as a host configuration writes it: keys joined by `.`, each key
 * followed by any number of `[*]` (every element of the list there); a path may start with
 * `[*]` when the value is a list. `hotels[*].id`, `[*].email`, `account.iban`. Returns the
 * steps, or why the text is not a path.
 */
export function parseFieldPath(text: string): Step[] | string {
  if (text === '') return 'an empty path';
  const steps: Step[] = [];
  const re = /^(?:([^.[\]*]+)|)((?:\[\*\])*)$/;
  const pieces = text.split('.');
  for (const [i, piece] of pieces.entries()) {
    const m = re.exec(piece);
    if (!m || (m[1] === undefined && (i > 0 || m[2] === ''))) {
      return `'${piece}' is not a key followed by [*]s`;
    }
    if (m[1] !== undefined) steps.push({ key: m[1] });
    for (let k = 0; k < m[2]!.length / 3; k++) steps.push({ each: true });
  }
  return steps;
}

/**
 * The least restrictive of two labels: readable by whoever may read either, trusted when
 * either is. A form vouched for by several fields is as open as the most open of them, since
 * reading that field at each place shows the form, and as trusted as the most trusted, since
 * vouching for any field in every element of a list vouches that the provider chose them.
 */
function widest(a: Label, b: Label): Label {
  const readers =
    a.readers === 'public' || b.readers === 'public'
      ? 'public'
      : [...a.readers, ...b.readers.filter((r) => !a.readers.includes(r))];
  const integrity =
    a.integrity === 'trusted' || b.integrity === 'trusted' ? 'trusted' : 'untrusted';
  return { readers, integrity, sources: [...new Set([...a.sources, ...b.sources])] };
}

/**
 * The label and parts that give each of `fields` its label within a value otherwise
 * labelled `whole`. The form of every object and list on the way to a field takes the
 * field's label: the operator who vouches for `hotels[*].id` vouches that the provider chose
 * which hotels the list holds. A place on the way, and the value itself, keep `whole` joined
 * with every field under them, since they hold what is not vouched for, and a field as
 * secret as it is trusted must not leave inside the whole.
 */
export function partsOf(
  fields: { steps: Step[]; label: Label }[],
  whole: Label,
): { label: Label; parts?: Parts } {
  interface Node {
    form: Label | null;
    /** The field's own label, when a path ends here. */
    own: Label | null;
    /** The join of the labels of the fields strictly under this place. */
    under: Label;
    fields: Map<string, Node>;
    items?: Node;
  }
  const node = (): Node => ({ form: null, own: null, under: PUBLIC_TRUSTED, fields: new Map() });
  const root = node();
  for (const { steps, label } of fields) {
    let cur = root;
    for (const step of steps) {
      cur.form = cur.form === null ? label : widest(cur.form, label);
      cur.under = join(cur.under, label);
      let next: Node | undefined;
      if ('key' in step) {
        next = cur.fields.get(step.key) ?? node();
        cur.fields.set(step.key, next);
      } else {
        cur.items ??= node();
        next = cur.items;
      }
      cur = next;
    }
    cur.own = cur.own === null ? label : join(cur.own, label);
  }
  const labelOf = (n: Node) => join(n.own ?? whole, n.under);
  const freeze = (n: Node): Parts | undefined => {
    if (n.form === null) return undefined;
    const fieldsOut: Record<string, Part> = {};
    for (const [k, v] of n.fields) fieldsOut[k] = part(v);
    const out: { form: Label; fields?: Record<string, Part>; items?: Part } = { form: n.form };
    if (n.fields.size > 0) out.fields = fieldsOut;
    if (n.items) out.items = part(n.items);
    return out;
  };
  const part = (n: Node): Part => {
    const parts = freeze(n);
    return parts ? { label: labelOf(n), parts } : { label: labelOf(n) };
  };
  const parts = freeze(root);
  return parts ? { label: labelOf(root), parts } : { label: whole };
}

/** The parts with `extra` joined into every label in them. */
export function taintParts(parts: Parts, extra: Label): Parts {
  if (extra === PUBLIC_TRUSTED) return parts;
  const part = (p: Part): Part =>
    p.parts
      ? { label: join(p.label, extra), parts: taintParts(p.parts, extra) }
      : { label: join(p.label, extra) };
  const out: { form: Label; fields?: Record<string, Part>; items?: Part } = {
    form: join(parts.form, extra),
  };
  if (parts.fields) {
    out.fields = Object.fromEntries(Object.entries(parts.fields).map(([k, p]) => [k, part(p)]));
  }
  if (parts.items) out.items = part(parts.items);
  return out;
}

/**
 * The data at a dot path (`hotels.0.id`) and its label: the label of the deepest part the
 * path reaches, joined with the form of every object and list on the way. Null where a
 * step is absent, as `data.get` reads.
 */
export function partAt(
  data: Json,
  label: Label,
  parts: Parts | undefined,
  path: string,
): { data: Json; label: Label; parts?: Parts } {
  if (path === '') return parts ? { data, label, parts } : { data, label };
  let cur: Json = data;
  let curLabel = label;
  let curParts = parts;
  let form = PUBLIC_TRUSTED;
  for (const key of path.split('.')) {
    let next: Part | undefined;
    if (Array.isArray(cur)) {
      const i = Number(key);
      cur = Number.isInteger(i) && i >= 0 && i < cur.length ? cur[i]! : null;
      next = curParts?.items;
    } else if (cur !== null && typeof cur === 'object') {
      cur = Object.hasOwn(cur, key) ? cur[key]! : null;
      next =
        curParts?.fields && Object.hasOwn(curParts.fields, key) ? curParts.fields[key] : undefined;
    } else {
      cur = null;
    }
    if (curParts) form = join(form, curParts.form);
    if (cur === null) next = undefined;
    curLabel = next ? next.label : curLabel;
    curParts = next?.parts;
  }
  const out = join(curLabel, form);
  if (!curParts) return { data: cur, label: out };
  return { data: cur, label: out, parts: taintParts(curParts, form) };
}

/**
 * The label of the field `key` of an object value, counting the object's form: its own
 * part's, else the whole value's.
 */
export function fieldLabel(v: { label: Label; parts?: Parts }, key: string): Label {
  const fields = v.parts?.fields;
  if (!fields || !Object.hasOwn(fields, key)) return v.label;
  return join(fields[key]!.label, v.parts!.form);
}

/** What decides a list's length and order, or an object's keys: its form, else its label. */
export function formOf(label: Label, parts: Parts | undefined): Label {
  return parts ? parts.form : label;
}
