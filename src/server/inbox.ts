import { describeHints } from '../host/answers.js';
import type { ToolHints } from '../tools/provider.js';
import {
  asObject,
  asString,
  block,
  kv,
  pretty,
  snippet,
  statusBadge,
  verdictBadge,
} from './format.js';
import { type Html, html, trusted } from './html.js';
import { CSP, CSP_HEADER, SCRIPT, STYLE } from './inbox-assets.js';
import type { PendingView, RunSummary } from './views.js';

/**
 * The page of `mvm serve`: the runs that wait for a person, each request with what it would
 * do and buttons to answer it, then the latest runs with their status and output. Every
 * piece of run content is journal data and goes in escaped; the page's policy runs no
 * script but its own.
 */

export interface InboxPage {
  /** The runs shown, newest first; null when reading needs the token the page has yet. */
  runs: RunSummary[] | null;
  targets: string[];
  store: string;
  version: string;
}

export { CSP_HEADER as INBOX_CSP };

export function inboxPage(p: InboxPage): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>mvm serve</title>
<style>${trusted(STYLE)}</style>
</head>
<body data-auth="no">
<header class="top"><h1>mvm serve</h1>
<p class="sub"><span>images <b>${p.targets.join(', ') || 'none'}</b></span
><span>store ${p.store}</span><span>mvm ${p.version}</span><span id="updated"></span></p></header>
<main>
<p class="readonly">Read-only: this page has no token. Open the address <code>mvm serve</code>
printed (it carries the token after <code>#</code>) to answer requests.</p>
<p id="note" role="status"></p>
<div id="runs">${
    p.runs === null ? html`<p class="empty">loading…</p>` : inboxFragment(p.runs)
  }</div>
</main>
<footer>requests and results are shown as the journal records them, as text</footer>
<script>${trusted(SCRIPT)}</script>
</body>
</html>
`.text;
}

/** The part of the page that refreshes: waiting runs, then the latest runs. */
export function inboxFragment(runs: RunSummary[]): Html {
  const waiting = runs.filter((r) => r.status === 'waiting' && r.pending.length > 0);
  const asks = waiting.reduce((n, r) => n + r.pending.length, 0);
  return html`<section id="waiting"><h2>Waiting for you <span class="muted">${
    asks === 1 ? '1 request' : `${asks} requests`
  }</span></h2>${
    waiting.length === 0
      ? html`<p class="empty panel">No run waits for an answer.</p>`
      : waiting.map(waitingRun)
  }</section>
<section id="recent"><h2>Latest runs</h2>${recent(runs)}</section>`;
}

function waitingRun(r: RunSummary): Html {
  const about = html`image <b>${r.image}</b> · started ${when(r.createdAt)} · ${r.entries}
journal entries`;
  return html`<article class="run panel" data-run="${r.id}"><h3><code>${r.id}</code
>${statusBadge(r.status)}<span class="muted">${about}</span></h3>${r.pending.map((p) =>
    request(r.id, p),
  )}</article>`;
}

function request(runId: string, p: PendingView): Html {
  const keep = `${runId}/${p.id}`;
  if (p.kind === 'question') {
    return html`<div class="request" data-run="${runId}" data-id="${p.id}"><h4
>${p.id} · question</h4>${kv([
      ['prompt', p.prompt],
      ['schema', p.schema === null ? null : JSON.stringify(p.schema)],
      ['asked at', p.at ?? null],
    ])}<div class="act"><input type="text" data-keep="answer:${keep}" aria-label="answer"
placeholder="answer (JSON, or text)"><button type="button" class="answer" data-answer="1"
>Answer</button></div></div>`;
  }
  const repeat = p.request === 'unknown_outcome';
  const what = repeat
    ? html`repeat <code>${p.tool}</code>? <span class="muted">(the process stopped during
the call: whether it happened is unknown)</span>`
    : html`${p.request === 'resource' ? 'read' : p.request === 'prompt' ? 'get prompt' : 'call'} <code>${p.tool}</code>`;
  return html`<div class="request" data-run="${runId}" data-id="${p.id}"><h4
>${verdictBadge('confirm')} ${p.id} · ${what}</h4>${kv([
    ['resource', html`<code>${p.resource}</code>`],
    [
      'names',
      p.resources.length === 0
        ? null
        : html`${p.resources.map((x, i) => html`${i > 0 ? ', ' : ''}<code>${x}</code>`)}`,
    ],
    ['server says', p.kind === 'confirm' ? hintsShown(p.hints) : null],
    ['asked by', p.rule ?? 'the machine'],
    ['reason', p.reason],
    ['call', p.callId],
    ['at', p.at ?? null],
    ['arguments', block(pretty(p.args))],
  ])}<div class="act"><button type="button" class="approve"
data-verdict="approve">Approve</button><button type="button" class="always" data-verdict="always"
title="approve, and allow ${p.resource} for the rest of this run">Allow for this run</button
><textarea data-keep="reason:${keep}" aria-label="reason"
placeholder="reason for a denial (optional; the model sees it)"></textarea><button type="button"
class="deny" data-verdict="deny">Deny</button></div></div>`;
}

/** A tool's hints from its server, marked as its claim; nothing when it gave none. */
function hintsShown(hints: ToolHints | undefined): Html | null {
  const words = describeHints(hints);
  return words === null
    ? null
    : html`${words} <span class="muted">(its own claim, not checked)</span>`;
}

/** A stored time as a person reads it: to the second, in UTC. */
function when(iso: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(iso)
    ? `${iso.slice(0, 19).replace('T', ' ')} UTC`
    : iso;
}

function recent(runs: RunSummary[]): Html {
  if (runs.length === 0) return html`<p class="empty panel">No runs in the store yet.</p>`;
  const row = (r: RunSummary) => {
    const started = html`<td class="muted" title="${r.createdAt}">${when(r.createdAt)}</td>`;
    return html`<tr data-run="${r.id}"><td><code>${r.id}</code></td><td>${statusBadge(r.status)}</td
><td>${r.image}</td>${started}<td class="num">${r.entries}</td><td class="out">${outcome(r)}</td
></tr>`;
  };
  return html`<div class="panel"><table class="runs"><tr><th>run</th><th>status</th><th>image</th
><th>started</th><th class="num">entries</th><th>output</th></tr>${runs.map(row)}</table></div>`;
}

function outcome(r: RunSummary): Html | string {
  if (r.error !== null) {
    const e = asObject(r.error);
    return html`<span class="bad">${asString(e.message)}</span> <span class="muted">[${asString(
      e.code,
    )}]</span>`;
  }
  if (r.output === null) {
    return r.status === 'waiting' ? html`<span class="muted">waiting</span>` : '';
  }
  const text = pretty(r.output);
  if (text.length <= 120 && !text.includes('\n')) return html`<span class="output">${text}</span>`;
  return html`<details><summary class="output">${snippet(text, 110)}</summary>${block(
    text,
  )}</details>`;
}
