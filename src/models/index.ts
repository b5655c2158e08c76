export type * from './driver.js';
export {
  OpenAICompatibleDriver,
  type OpenAICompatibleOptions,
  openAICompatibleFromBinding,
} from './openai-compatible.js';
export { type RecordedReply, ReplayDriver, type ReplayFile } from './replay.js';
