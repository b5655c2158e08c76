import type { Json } from '../spec/types.js';
import { join, type Label, PUBLIC_TRUSTED } from './label.js';

/** A runtime value: JSON data and the label that travels with it. */
export interface Value {
  readonly data: Json;
  readonly label: Label;
}

export function value(data: Json, label: Label = PUBLIC_TRUSTED): Value {
  return { data, label };
}

/** The same data with `extra` joined into its label. */
export function taint(v: Value, extra: Label): Value {
  const label = join(v.label, extra);
  return label === v.label ? v : { data: v.data, label };
}
