import type { ChainReport } from '../audit/chain.js';
import type { Manifest } from '../audit/manifest.js';
import type { Json } from '../spec/types.js';
import type { RunRecord } from '../store/store.js';
import { CSP, SCRIPT, STYLE } from './assets.js';
import {
  asNumber,
  asObject,
  asString,
  block,
  count,
  duration,
  kv,
  pretty,
  statusBadge,
  usd,
} from './format.js';
import { type Html, html, trusted } from './html.js';
import { timelineRow } from './rows.js';
import type { Effect } from './timeline.js';

/** What the page is made from: the run, its effects, its manifest and what was checked. */
export interface PageData {
  run: RunRecord;
  effects: Effect[];
  entryCount: number;
  /** The manifest as the journal gives it now: the figures shown come from it. */
  manifest: Manifest;
  /** The manifest stored when the run last stopped, if any. */
  stored: Json | null;
  /** Whether the stored manifest is what the journal, as it stands, gives. */
  manifestMatches: boolean;
  chain: ChainReport;
  signature: SignatureState;
  generatedAt: string;
  version: string;
}

export type SignatureState =
  | { state: 'unsigned' }
  | { state: 'signed'; key: string; digestMatches: boolean };

export function page(d: PageData): string {
  const m = d.manifest;
  const title = `mvm run ${d.run.id} (${d.run.imageName})`;
  const doc = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mvm ${d.version}">
<title>${title}</title>
<style>${trusted(STYLE)}</style>
</head>
<body data-show="all">
<header class="top">
<h1>run <code>${d.run.id}</code> ${statusBadge(m.status)}</h1>
<p class="sub"><span>image <b>${m.image.name}</b></span><span>started ${m.startedAt}</span
><span>${m.durationMs !== null ? duration(m.durationMs) : 'not ended'}</span
><span>${count(d.entryCount)} journal entries</span></p>
</header>
<main>
${cards(d)}
${outcome(m)}
${timeline(d.effects)}
${toolTable(m)}
<section id="manifest"><details class="panel"><summary><b>manifest.json</b> <span class="muted"
>${d.stored !== null ? 'as stored' : 'made now from the journal: none is stored'}</span></summary
>${block(JSON.stringify(d.stored ?? m, null, 2))}</details></section>
</main>
<footer>written by mvm ${d.version} at ${d.generatedAt} from the run store ·
journal entries are shown as recorded, as text</footer>
<script>${trusted(SCRIPT)}</script>
</body>
</html>
`;
  return doc.text;
}

function cards(d: PageData): Html {
  const m = d.manifest;
  const tokensIn = m.models.reduce((n, x) => n + x.inputTokens, 0);
  const tokensOut = m.models.reduce((n, x) => n + x.outputTokens, 0);
  const cost = m.models.reduce((n, x) => n + x.cost, 0);
  return html`<section class="cards">
<div class="card" id="models"><h2>Models</h2>
<p><span class="big">${count(tokensIn + tokensOut)}</span> tokens ·
<span class="big">${usd(cost)}</span><br><span class="muted">${count(tokensIn)} in,
${count(tokensOut)} out</span></p>${m.models.map(
    (x) =>
      html`<div class="model"><b>${x.slot}</b> <span class="mono">${x.model}</span>
        <span class="muted">(${x.provider}, driver ${x.driver})</span><br><span class="muted"
          >${x.calls} calls · ${count(x.inputTokens)} in, ${count(x.outputTokens)} out ·
          ${duration(x.latencyMs)} · ${usd(x.cost)}</span></div>`,
  )}</div>
<div class="card" id="budget"><h2>Budget</h2>${budget(m)}</div>
<div class="card" id="decisions"><h2>Monitor</h2>
<p><span class="big ok">${m.decisions.allow}</span> allowed ·
<span class="big bad">${m.decisions.deny}</span> denied ·
<span class="big warn">${m.decisions.confirm}</span> asked</p>
<ul class="plain">${m.decisions.list
    .filter((x) => x.verdict !== 'allow')
    .map(
      (x) =>
        html`<li><b>${x.verdict}</b> <code>${x.resource}</code> <span class="muted"
          >${x.rule ?? 'no rule'}</span></li>`,
    )}</ul></div>
<div class="card" id="journal"><h2>Journal</h2>${kv([
    ['head', html`<code title="${d.chain.head}">${d.chain.head.slice(0, 24)}</code>`],
    ['entries', count(d.chain.count)],
    [
      'chain',
      d.chain.ok
        ? html`<span class="ok">verifies: every hash, link and the recorded head</span>`
        : html`<span class="bad">does NOT verify</span><ul class="plain">${d.chain.problems.map(
            (p) => html`<li>${p.message} [${p.code}]</li>`,
          )}</ul>`,
    ],
    [
      'manifest',
      d.stored === null
        ? html`<span class="warn">none stored (the run has not stopped yet)</span>`
        : d.manifestMatches
          ? html`<span class="ok">matches the journal</span>`
          : html`<span class="bad">differs from the journal as it stands</span>`,
    ],
    ['signature', signature(d.signature, d.run.id)],
  ])}</div>
</section>`;
}

function signature(s: SignatureState, runId: string): Html {
  if (s.state === 'unsigned') {
    return html`<span class="warn">unsigned: nothing authenticates the journal</span>`;
  }
  if (!s.digestMatches) {
    return html`<span class="bad">signed by <code>${s.key}</code>, over another digest than
      this manifest's</span>`;
  }
  return html`<span>signed by <code>${s.key}</code></span> <span class="muted">(the key is
    not checked here: mvm audit verify ${runId} --pub KEY)</span>`;
}

function budget(m: Manifest): Html {
  const l = asObject(m.budgets.limits);
  const u = { ...asObject(m.budgets.used) };
  // The wall time a run took is recorded beside its use, not in it.
  if (u.wallMs === undefined && m.durationMs !== null) u.wallMs = m.durationMs;
  const keys = Object.keys(l);
  if (keys.length === 0) return html`<p class="muted">no budgets recorded</p>`;
  return html`<table>${keys.map((k) => {
    const max = asNumber(l[k]);
    const now = asNumber(u[k]);
    const shown = now === null ? '–' : count(now);
    return html`<tr><td>${k}</td><td class="num">${shown} / ${max === null ? '∞' : count(max)}</td
      ><td>${
        max !== null && now !== null
          ? html`<meter min="0" max="${max}" value="${now}" high="${max * 0.8}" optimum="0"
              >${Math.round((100 * now) / Math.max(max, 1))}%</meter>`
          : null
      }</td></tr>`;
  })}</table>${
    m.budgets.used === null ? html`<p class="muted">use is recorded when the run stops</p>` : null
  }`;
}

function outcome(m: Manifest): Html {
  const parts: Html[] = [];
  if (m.output !== null && m.output !== undefined) {
    parts.push(html`<h2>Output</h2>${block(pretty(m.output))}`);
  }
  if (m.error) {
    const e = asObject(m.error);
    parts.push(
      html`<h2 class="bad">Error</h2><p><b>${asString(e.message)}</b> [${asString(
        e.code,
      )}]</p>${block(pretty(m.error))}`,
    );
  }
  if (m.pending.length > 0) parts.push(html`<h2>Waiting on</h2>${block(pretty(m.pending))}`);
  if (parts.length === 0) return html``;
  return html`<section id="outcome" class="panel">${parts}</section>`;
}

function timeline(effects: Effect[]): Html {
  const total = Math.max(0, ...effects.map((e) => e.endMs));
  const n = (f: (e: Effect) => boolean) => effects.filter(f).length;
  const flagged = n((e) =>
    e.entries.some(
      (x) =>
        (x.type === 'decision' && asObject(x.data).verdict !== 'allow') ||
        (x.type === 'tool.refused' && asObject(x.data).denied === true),
    ),
  );
  return html`<section id="timeline-section">
<div class="toolbar"><h2>Timeline</h2>
<button type="button" data-show="all" aria-pressed="true">all (${effects.length})</button>
<button type="button" data-show="model" aria-pressed="false">models (${n(
    (e) => e.family === 'model',
  )})</button>
<button type="button" data-show="tool" aria-pressed="false">tools (${n(
    (e) => e.family === 'tool',
  )})</button>
<button type="button" data-show="denied" aria-pressed="false">denied or asked (${flagged})</button>
<button type="button" id="expand">expand all</button>
<span class="muted">${duration(total)} in all; open a row for its record</span></div>
<ol id="timeline">${effects.map((e) => timelineRow(e, total))}</ol>
</section>`;
}

function toolTable(m: Manifest): Html {
  if (m.tools.length === 0) return html``;
  return html`<section id="tools" class="panel"><h2>Tools</h2><table><tr><th>tool</th
><th class="num">calls</th><th class="num">errors</th><th class="num">refused</th
><th class="num">denied</th><th class="num">time</th></tr>${m.tools.map(
    (t) =>
      html`<tr><td class="mono">${t.name}</td><td class="num">${t.calls}</td><td class="num"
        >${t.errors}</td><td class="num">${t.refused}</td
        ><td class="num${t.denied > 0 ? ' bad' : ''}">${t.denied}</td
        ><td class="num">${duration(t.ms)}</td></tr>`,
  )}</table></section>`;
}
