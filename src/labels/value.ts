import type { Json } from '../spec/types.js';
import { join, type Label, PUBLIC_TRUSTED } from './label.js';
import { type Parts, partAt, taintParts } from './parts.js';

/**
 * A runtime value: JSON data and the label that travels with it. `parts`, when present,
 * gives some places inside a label of their own (see parts.ts); `label` is still the join of
 * everything in the value.
 */
export interface Value {
  readonly data: Json;
  readonly label: Label;
  readonly parts?: Parts;
}

export function value(data: Json, label: Label = PUBLIC_TRUSTED): Value {
  return { data, label };
}

/** The same data with `extra` joined into its label and into every part of it. */
export function taint(v: Value, extra: Label): Value {
  const label = join(v.label, extra);
  if (!v.parts) return label === v.label ? v : { data: v.data, label };
  if (extra === PUBLIC_TRUSTED) return v;
  return { data: v.data, label, parts: taintParts(v.parts, extra) };
}

/** The value at a dot path (`hotels.0.id`), labelled as its place inside `v` is. */
export function valueAt(v: Value, path: string): Value {
  return partAt(v.data, v.label, v.parts, path);
}
