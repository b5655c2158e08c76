import type { Json, JsonObject } from '../spec/types.js';
import { Html, html } from './html.js';

/** Small pieces the report is made of: figures, snippets, JSON blocks, badges. */

/** A block of text longer than this is cut, saying how much was left out. */
export const BLOCK_LIMIT = 100_000;

export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 100 ? 1 : 0)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function offset(ms: number): string {
  return ms < 1000 ? `+${Math.round(ms)}ms` : `+${(ms / 1000).toFixed(2)}s`;
}

export const count = (n: number) => n.toLocaleString('en-US');

export function usd(n: number): string {
  return n === 0 ? '$0' : `$${n < 0.01 ? n.toFixed(6) : n.toFixed(4)}`;
}

/** One line of at most `max` characters. */
export function snippet(text: string, max = 90): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export const asObject = (v: Json | undefined): JsonObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};

export const asString = (v: Json | undefined): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

export const asNumber = (v: Json | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

/** JSON as the report shows it: strings as they are, the rest indented. */
export function pretty(v: Json | undefined): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v ?? null, null, 2) ?? 'null';
}

/** Text that may hold JSON (a tool call's raw arguments): indented when it does. */
export function prettyText(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

export function block(text: string, cls = ''): Html {
  const cut = text.length > BLOCK_LIMIT;
  const shown = cut ? text.slice(0, BLOCK_LIMIT) : text;
  const note = cut
    ? html`<p class="muted">${count(text.length - BLOCK_LIMIT)} more characters not shown;
        the whole entry is in the journal (mvm export).</p>`
    : null;
  return html`<pre class="${cls}">${shown}</pre>${note}`;
}

/** The colour of a monitor's verdict or a person's answer. */
const VERDICTS: Record<string, string> = {
  allow: 'allow',
  approve: 'allow',
  always: 'allow',
  deny: 'deny',
  confirm: 'confirm',
};

/** A verdict's badge; an unknown verdict (the journal is data) gets the neutral colour. */
export function verdictBadge(verdict: string, title = ''): Html {
  const cls = Object.hasOwn(VERDICTS, verdict) ? VERDICTS[verdict] : 'other';
  return html`<span class="badge b-${cls}" title="${title}">${verdict || '?'}</span>`;
}

const STATUSES = new Set(['done', 'failed', 'interrupted', 'waiting', 'running']);

export function statusBadge(status: string): Html {
  const cls = STATUSES.has(status) ? `status-${status}` : 'other';
  return html`<span class="badge b-${cls}">${status || '?'}</span>`;
}

/**
 * A label's badges: integrity (trusted or untrusted) and readers (public, or the list); the
 * sources are in the title.
 */
export function labelBadges(label: Json | undefined): Html {
  if (label === undefined || label === null) return html``;
  const l = asObject(label);
  const integrity = l.integrity === 'trusted' ? 'trusted' : 'untrusted';
  const sources = Array.isArray(l.sources) ? l.sources.map(asString) : [];
  const from = sources.length > 0 ? `sources: ${sources.join(', ')}` : 'no recorded sources';
  const who = Array.isArray(l.readers) ? l.readers.map(asString).join(', ') || 'none' : '?';
  const readers =
    l.readers === 'public'
      ? html`<span class="badge b-public" title="anyone may read it">public</span>`
      : html`<span class="badge b-readers" title="only these may read it: ${who}"
          >readers: ${who}</span
        >`;
  return html`<span class="badge b-${integrity}" title="${from}">${integrity}</span>${readers}`;
}

/** The sources of a label, as a line. */
export function labelSources(label: Json | undefined): string {
  const sources = asObject(label).sources;
  return Array.isArray(sources) && sources.length > 0 ? sources.map(asString).join(', ') : '';
}

/** A definition list from pairs; pairs whose value is null are left out. */
export function kv(pairs: Array<[string, Html | string | number | null | undefined]>): Html {
  const rows = pairs
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => html`<dt>${k}</dt><dd>${v instanceof Html ? v : String(v)}</dd>`);
  return html`<dl class="kv">${rows}</dl>`;
}
