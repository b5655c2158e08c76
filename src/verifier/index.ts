export { type LinkedImage, type LinkedProcedure, standardLibrary } from './expand.js';
export { pointerToPath } from './schema-check.js';
export {
  MAX_LOOP_BOUND,
  templateRegisters,
  type VerifyResult,
  verifyImage,
  verifyOrThrow,
} from './verify.js';
