export { isLoopback, newToken } from './auth.js';
export type { ServeEvent, ServeLog, ServeTarget } from './desk.js';
export { esc, Html, html } from './html.js';
export type { PageData, SignatureState } from './page.js';
export { renderReport, reportData, writeReport } from './report.js';
export { type MvmServer, type ServeOptions, serve } from './serve.js';
export { type DecisionView, decisionsOf, type Effect, effectsOf, type Family } from './timeline.js';
