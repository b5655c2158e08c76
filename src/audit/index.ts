export { canonicalJson, digest, sha256 } from './canonical.js';
export {
  type ChainProblem,
  type ChainReport,
  entryHash,
  GENESIS,
  type JournalEntry,
  verifyChain,
} from './chain.js';
export { exportRun, type RunExport, verifyExport } from './export.js';
export { buildManifest, type Manifest, type ModelUse, type ToolUse } from './manifest.js';
export {
  fingerprint,
  loadPrivateKey,
  loadPublicKey,
  newKeyPair,
  type Signature,
  SignatureError,
  signDigest,
  verifySignature,
} from './signing.js';
