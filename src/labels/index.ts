export { ENDORSE_KINDS, type EndorseKind, endorsable, narrowKind } from './endorse.js';
export {
  type Integrity,
  join,
  joinAll,
  type Label,
  PUBLIC_TRUSTED,
  type Readers,
  readableBy,
  sourced,
} from './label.js';
export {
  formOf,
  type Part,
  type Parts,
  parseFieldPath,
  partAt,
  partsOf,
  type Step,
  taintParts,
  type VouchedField,
} from './parts.js';
export { taint, type Value, value, valueAt } from './value.js';
