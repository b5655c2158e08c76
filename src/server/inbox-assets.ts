import { createHash } from 'node:crypto';
import { STYLE as REPORT_STYLE } from './assets.js';

/**
 * The style and script of the page `mvm serve` shows, inline and admitted by hash, as the
 * report's are. The report's sheet comes first, for its colours, badges, buttons and blocks.
 *
 * The script reads the token from the address's fragment (`#token=...`, which a browser
 * never sends to a server nor puts in a Referer), keeps it for the tab in sessionStorage,
 * takes it out of the address bar, and sends it as a bearer token. It refreshes the list
 * of runs from `/inbox`, an HTML fragment the server escaped, keeping what a person is
 * typing in a reason box across refreshes.
 */

const OWN_STYLE = `
header.top { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
header.top .sub b { color: #f0f3f6; }
#note { min-height: 20px; margin: 0 0 12px; }
#note.ok { color: #1a7f37; } #note.bad { color: #cf222e; }
.readonly { display: none; }
body[data-auth="no"] .readonly {
  display: block; background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px;
  padding: 10px 14px; margin-bottom: 14px;
}
body[data-auth="no"] .act { display: none; }
.run { margin-bottom: 16px; border-left: 4px solid #d4a72c; }
.run > h3 { margin: 0 0 8px; font-size: 15px; display: flex; gap: 10px; align-items: center;
  flex-wrap: wrap; }
.run > h3 .muted { font-weight: 400; font-size: 13px; }
.request { border-top: 1px solid #e6eaef; padding: 12px 0 4px; }
.request:first-of-type { border-top: 0; padding-top: 4px; }
.request h4 { margin: 0 0 8px; font-size: 14px; }
.request h4 code { font-size: 13.5px; }
.request .kv { margin-bottom: 8px; }
.request pre { max-height: 260px; }
.act { display: flex; gap: 8px; align-items: flex-start; flex-wrap: wrap; margin-top: 10px; }
.act textarea, .act input[type="text"] {
  font: inherit; font-size: 13px; padding: 5px 8px; border: 1px solid var(--line);
  border-radius: 6px; min-width: 260px; flex: 1 1 260px; max-width: 520px;
}
.act textarea { height: 32px; resize: vertical; }
button.approve { background: #1f883d; border-color: #1a7f37; color: #fff; font-weight: 600; }
button.always { background: #fff; border-color: #1a7f37; color: #116329; }
button.deny { background: #fff; border-color: #cf222e; color: #a40e26; font-weight: 600; }
button.answer { background: #0969da; border-color: #0969da; color: #fff; font-weight: 600; }
button:disabled { opacity: .55; cursor: default; }
.empty { color: var(--muted); margin: 4px 0 0; }
table.runs td { padding: 6px 10px 6px 0; border-top: 1px solid #e6eaef; }
table.runs td.out { max-width: 560px; overflow-wrap: anywhere; }
table.runs details > summary { cursor: pointer; }
table.runs pre { margin-top: 6px; }
`;

export const STYLE = REPORT_STYLE + OWN_STYLE;

export const SCRIPT = `
(() => {
  const KEY = 'mvm-serve-token';
  let token = sessionStorage.getItem(KEY) || '';
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
  document.body.dataset.auth = token ? 'yes' : 'no';
  const headers = (json) => {
    const h = {};
    if (token) h.Authorization = 'Bearer ' + token;
    if (json) h['Content-Type'] = 'application/json';
    return h;
  };
  const runs = document.getElementById('runs');
  const note = document.getElementById('note');
  const updated = document.getElementById('updated');
  const say = (text, ok) => {
    note.textContent = text;
    note.className = ok ? 'ok' : 'bad';
  };
  let last = null;
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch('/inbox', { headers: headers(false), cache: 'no-store' });
      if (!r.ok) {
        say('cannot refresh: ' + r.status + ' ' + r.statusText, false);
        return;
      }
      const text = await r.text();
      updated.textContent = 'updated ' + new Date().toLocaleTimeString();
      if (text === last) return;
      last = text;
      const kept = new Map();
      for (const f of runs.querySelectorAll('[data-keep]')) kept.set(f.dataset.keep, f.value);
      const active = document.activeElement;
      const focus = active && active.dataset ? active.dataset.keep : undefined;
      runs.innerHTML = text;
      for (const f of runs.querySelectorAll('[data-keep]')) {
        if (kept.has(f.dataset.keep)) f.value = kept.get(f.dataset.keep);
        if (f.dataset.keep === focus) f.focus();
      }
      const waiting = runs.querySelectorAll('.request').length;
      document.title = (waiting ? '(' + waiting + ') ' : '') + 'mvm serve';
    } catch (e) {
      say('cannot refresh: ' + e.message, false);
    } finally {
      busy = false;
    }
  }
  runs.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-verdict], button[data-answer]');
    if (!b) return;
    const req = b.closest('.request');
    const id = req.dataset.id;
    const run = req.dataset.run;
    let answer;
    if (b.dataset.verdict) {
      answer = { id, verdict: b.dataset.verdict };
      const why = req.querySelector('textarea');
      if (b.dataset.verdict === 'deny' && why && why.value.trim()) answer.reason = why.value.trim();
    } else {
      const raw = req.querySelector('input[type="text"]').value;
      let value = raw;
      try { value = JSON.parse(raw); } catch { value = raw; }
      answer = { id, answer: value };
    }
    for (const x of req.querySelectorAll('button')) x.disabled = true;
    try {
      const r = await fetch('/api/runs/' + encodeURIComponent(run) + '/answers', {
        method: 'POST', headers: headers(true), body: JSON.stringify([answer]),
      });
      const body = await r.json().catch(() => ({}));
      const did = { approve: 'Approved', always: 'Allowed for this run', deny: 'Denied' };
      if (r.ok) say((did[answer.verdict] || 'Answered') + ' ' + id + ' of run ' + run, true);
      else {
        const why = body.error ? body.error.message + ' [' + body.error.code + ']' : r.statusText;
        say('refused (' + r.status + '): ' + why, false);
        for (const x of req.querySelectorAll('button')) x.disabled = false;
      }
    } catch (e) {
      say('not sent: ' + e.message, false);
      for (const x of req.querySelectorAll('button')) x.disabled = false;
    }
    refresh();
  });
  setInterval(() => { if (!document.hidden) refresh(); }, 1500);
  refresh();
})();
`;

const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's own style and script by hash, requests to its own server, nothing else. */
export const CSP = [
  "default-src 'none'",
  `style-src ${hashOf(STYLE)}`,
  `script-src ${hashOf(SCRIPT)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
].join('; ');

/** The same as a header, which may also forbid framing (a meta element cannot). */
export const CSP_HEADER = `${CSP}; frame-ancestors 'none'`;
