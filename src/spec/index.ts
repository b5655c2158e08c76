export * from './errors.js';
export {
  type Effect,
  type Family,
  IMAGE_FORMAT_VERSION,
  isOpcode,
  NOTATION,
  OPCODE_NAMES,
  OPCODES,
  OPERAND_TYPES,
  type Opcode,
  type OpcodeSpec,
  type OperandSpec,
  type OperandType,
} from './opcodes.js';
export { imageSchema } from './schema.js';
export type * from './types.js';
export { VERIFY_CODES, type VerifyCode } from './verify-codes.js';
