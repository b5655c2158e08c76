export { BlockBuilder, ImageBuilder } from './builder.js';
export { type HostConfig, loadConfig, type NamespaceBinding, parseConfig } from './config.js';
export {
  type EvalOptions,
  type EvalReport,
  type EvalRun,
  evaluate,
  type ModelSummary,
} from './eval.js';
export {
  type DriverFactory,
  Mvm,
  type MvmOptions,
  type RunOptions,
  type RunResult,
} from './host.js';
export {
  describeIssues,
  type ImageFile,
  imageFromObject,
  readImageFile,
  resolveTarget,
  verifyFile,
} from './image-file.js';
export {
  type Expectation,
  loadSuite,
  type Suite,
  type SuiteTask,
  type ToolMatch,
} from './suite.js';
export type { TelemetryConfig } from './telemetry.js';
