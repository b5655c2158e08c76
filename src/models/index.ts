export { AnthropicDriver, type AnthropicOptions, anthropicFromBinding } from './anthropic.js';
export { HttpDriver, type HttpDriverOptions, type WireIdentity } from './base.js';
export { type CommonBinding, commonFromBinding, type Price } from './binding.js';
export type * from './driver.js';
export {
  CallScope,
  HttpClient,
  type HttpClientOptions,
  ndjsonLines,
  SSE_DONE,
  type SseEvent,
  sseEvents,
} from './http.js';
export { OllamaDriver, type OllamaOptions, ollamaFromBinding } from './ollama.js';
export {
  OpenAICompatibleDriver,
  type OpenAICompatibleOptions,
  openAICompatibleFromBinding,
} from './openai-compatible.js';
export {
  OpenAIResponsesDriver,
  type OpenAIResponsesOptions,
  openAIResponsesFromBinding,
} from './openai-responses.js';
export { RecordingDriver } from './record.js';
export { type RecordedReply, ReplayDriver, type ReplayFile } from './replay.js';
export {
  closeObjects,
  inlineRefs,
  normalizeSchema,
  SchemaCache,
  type SchemaProfile,
} from './schema.js';
