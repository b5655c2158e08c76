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
export { taint, type Value, value } from './value.js';
