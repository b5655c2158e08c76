export * from './errors.js';
export {
  type Effect,
  type Family,
  IMAGE_FORMAT_VERSION,
  isOpcode,
  OPCODE_NAMES,
  OPCODES,
  type Opcode,
  type OpcodeSpec,
  type OperandSpec,
  type OperandType,
} from './opcodes.js';
export { imageSchema } from './schema.js';
export type * from './types.js';
