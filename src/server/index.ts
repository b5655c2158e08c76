export { esc, Html, html } from './html.js';
export type { PageData, SignatureState } from './page.js';
export { renderReport, reportData, writeReport } from './report.js';
export { type DecisionView, decisionsOf, type Effect, effectsOf, type Family } from './timeline.js';
