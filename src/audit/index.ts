export { canonicalJson, digest, sha256 } from './canonical.js';
export {
  type ChainProblem,
  type ChainReport,
  entryHash,
  GENESIS,
  type JournalEntry,
  verifyChain,
} from './chain.js';
export {
  type DecisionExplanation,
  type DecisionFacts,
  type ExplainNode,
  explainDecisions,
  explainEntry,
  labelOf,
  NoSuchEntry,
  originsOf,
  type RecordedLabel,
} from './explain.js';
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
