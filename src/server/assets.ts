import { createHash } from 'node:crypto';

/**
 * The report's style sheet and script, inline so that the page is one file. Neither holds
 * journal content. The page's Content-Security-Policy admits these two by their hashes and
 * nothing else: were some content ever to slip past escaping, it could neither run script
 * nor load anything.
 */

export const STYLE = `
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --bg: #ffffff;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
* { box-sizing: border-box; }
body {
  margin: 0; color: var(--fg); background: #eef1f4; line-height: 1.45;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
header.top { background: #24292f; color: #f0f3f6; padding: 18px 28px 16px; }
header.top h1 { margin: 0 0 4px; font-size: 20px; font-weight: 600; }
header.top h1 code { font-size: 18px; }
header.top .sub { margin: 0; color: #b6bec8; font-size: 13px; }
header.top .sub span + span::before { content: "\\00b7"; margin: 0 8px; color: #8b949e; }
main { max-width: 1280px; margin: 0 auto; padding: 20px 28px 40px; }
h2 { font-size: 16px; margin: 0 0 10px; }
section { margin-bottom: 22px; }
code, pre, .mono { font-family: var(--mono); font-size: 12.5px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 14px; }
.card {
  background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
}
.card h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.panel {
  background: var(--bg); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
}
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px 4px 0; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px; margin: 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; overflow-wrap: anywhere; }
.big { font-size: 22px; font-weight: 600; }
.model { margin-top: 8px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.ok { color: #1a7f37; } .bad { color: #cf222e; } .warn { color: #9a6700; }
meter { width: 100%; height: 10px; vertical-align: middle; }
#budget td:last-child { width: 45%; }
.badge {
  display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 11.5px; font-weight: 600;
  line-height: 18px; white-space: nowrap; border: 1px solid transparent; margin: 1px 2px 1px 0;
  max-width: 15rem; overflow: hidden; text-overflow: ellipsis; vertical-align: middle;
}
.b-allow { background: #dafbe1; color: #116329; }
.b-deny { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
.b-confirm { background: #fff8c5; color: #7d4e00; border-color: #d4a72c; }
.b-other { background: #eaeef2; color: #424a53; }
.b-trusted { background: #fff; color: #116329; border-color: #4ac26b; }
.b-untrusted { background: #cf222e; color: #fff; }
.b-public { background: #fff; color: #59636e; border-color: #d1d9e0; }
.b-readers { background: #ddf4ff; color: #0550ae; border-color: #54aeff; }
.b-status-done { background: #1a7f37; color: #fff; }
.b-status-failed, .b-status-cancelled { background: #cf222e; color: #fff; }
.b-status-waiting { background: #bf8700; color: #fff; }
.b-status-running { background: #0969da; color: #fff; }
.fam { display: inline-block; width: 100%; text-align: center; border-radius: 4px; font-size: 11px;
  font-weight: 700; padding: 1px 0; text-transform: uppercase; letter-spacing: .03em; }
.f-model .fam { background: #fbefff; color: #6639ba; }
.f-tool .fam { background: #ddf4ff; color: #0550ae; }
.f-toolset .fam { background: #dafbe1; color: #116329; }
.f-run .fam { background: #eaeef2; color: #424a53; }
.f-user .fam { background: #fff1e5; color: #953800; }
.f-memory .fam { background: #fff8c5; color: #7d4e00; }
.f-policy .fam { background: #ffebe9; color: #a40e26; }
.f-other .fam { background: #eaeef2; color: #424a53; }
.toolbar { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; margin-bottom: 8px; }
.toolbar h2 { margin: 0 12px 0 0; }
button {
  font: inherit; font-size: 12.5px; padding: 3px 10px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg);
}
button[aria-pressed="true"] { background: #24292f; color: #fff; border-color: #24292f; }
#timeline { list-style: none; margin: 0; padding: 0; background: var(--bg);
  border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
#timeline > li { border-top: 1px solid #e6eaef; }
#timeline > li:first-child { border-top: 0; }
#timeline > li.has-deny { box-shadow: inset 3px 0 0 #cf222e; }
#timeline > li.has-confirm { box-shadow: inset 3px 0 0 #d4a72c; }
#timeline > li > details > summary {
  display: grid; align-items: center; gap: 10px; padding: 6px 14px; cursor: pointer;
  grid-template-columns: 3.6rem 4.6rem 5.6rem minmax(0, 1fr) auto 5rem 8rem;
  list-style: none;
}
#timeline > li > details > summary::-webkit-details-marker { display: none; }
#timeline > li > details > summary:hover { background: var(--soft); }
#timeline > li > details[open] > summary {
  background: var(--soft); border-bottom: 1px solid #e6eaef;
}
.seq, .off { font-family: var(--mono); font-size: 12px; color: var(--muted); }
.title { min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.title b { font-weight: 600; }
.title .snip { color: var(--muted); margin-left: 6px; }
.badges { white-space: nowrap; max-width: 30rem; overflow: hidden; }
.dur { text-align: right; font-family: var(--mono); font-size: 12px; }
.dur.est { color: var(--muted); font-style: italic; }
svg.bar { width: 100%; height: 10px; background: #eef1f4; border-radius: 2px; display: block; }
svg.bar rect { fill: #8c959f; }
.f-model svg.bar rect { fill: #8250df; }
.f-tool svg.bar rect { fill: #0969da; }
.f-toolset svg.bar rect { fill: #1a7f37; }
.body { padding: 10px 14px 14px 14px; }
.body h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted);
  margin: 12px 0 4px; }
.body h3:first-child { margin-top: 0; }
pre {
  margin: 0; padding: 8px 10px; background: var(--soft); border: 1px solid #e6eaef;
  border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 420px;
  overflow: auto;
}
ul.plain { margin: 0; padding-left: 18px; }
.decision { margin: 2px 0; }
.decision .why { color: var(--muted); }
table.entries td, table.entries th {
  font-family: var(--mono); font-size: 12px; padding-right: 14px;
}
details.more > summary { cursor: pointer; color: #0969da; margin: 4px 0; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 0 0 30px; }
@media (max-width: 900px) {
  #timeline > li > details > summary {
    grid-template-columns: 3rem 4rem 5rem minmax(0, 1fr) 4.5rem;
  }
  #timeline .badges, #timeline svg.bar { display: none; }
}
body[data-show="model"] #timeline > li:not(.f-model),
body[data-show="tool"] #timeline > li:not(.f-tool),
body[data-show="denied"] #timeline > li:not(.has-deny):not(.has-confirm) { display: none; }
`;

export const SCRIPT = `
(() => {
  const buttons = document.querySelectorAll('button[data-show]');
  for (const b of buttons) {
    b.addEventListener('click', () => {
      document.body.dataset.show = b.dataset.show;
      for (const o of buttons) o.setAttribute('aria-pressed', String(o === b));
    });
  }
  const expand = document.getElementById('expand');
  if (expand) {
    expand.addEventListener('click', () => {
      const rows = [...document.querySelectorAll('#timeline > li > details')];
      const open = rows.some((d) => !d.open);
      for (const d of rows) d.open = open;
      expand.textContent = open ? 'collapse all' : 'expand all';
    });
  }
})();
`;

const hashOf = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's policy: its own style and script, by hash; no network, no other script. */
export const CSP = [
  "default-src 'none'",
  `style-src ${hashOf(STYLE)}`,
  `script-src ${hashOf(SCRIPT)}`,
  "img-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
].join('; ');
