import type { JournalEntry } from '../audit/chain.js';
import type { Json, JsonObject } from '../spec/types.js';
import {
  asNumber,
  asObject,
  asString,
  block,
  count,
  duration,
  kv,
  labelBadges,
  labelSources,
  offset,
  pretty,
  prettyText,
  snippet,
  statusBadge,
  verdictBadge,
} from './format.js';
import { type Html, html } from './html.js';
import { type DecisionView, dataOf, decisionsOf, type Effect } from './timeline.js';

/** One row of the timeline: a summary line, and the effect's whole record when opened. */

/** What a row shows of its effect: a short name, a line about it, badges, and its body. */
interface Parts {
  name: string;
  title: Html;
  badges: Html;
  body: Html;
}

export function timelineRow(effect: Effect, totalMs: number): Html {
  const p = partsOf(effect);
  const decisions = decisionsOf(effect);
  const denied = decisions.some((d) => d.verdict === 'deny') || refusedByPolicy(effect);
  const asked = decisions.some((d) => d.verdict === 'confirm');
  const cls = [`f-${effect.family}`, denied ? 'has-deny' : '', asked ? 'has-confirm' : '']
    .filter(Boolean)
    .join(' ');
  const seqs = effect.entries.map((e) => e.seq);
  const range = seqs.length === 1 ? `${seqs[0]}` : `${seqs[0]}–${seqs[seqs.length - 1]}`;
  const span = effect.endMs - effect.startMs;
  const dur =
    effect.measuredMs !== null
      ? html`<span class="dur" title="measured by the machine"
          >${duration(effect.measuredMs)}</span
        >`
      : html`<span class="dur est" title="from the journal's timestamps"
          >${span > 0 ? duration(span) : '–'}</span
        >`;
  const total = Math.max(totalMs, 1);
  const x = (100 * effect.startMs) / total;
  const w = Math.max((100 * span) / total, 0.6);
  return html`<li class="${cls}" data-family="${effect.family}" data-seqs="${seqs.join(' ')}"
    ><details
      ><summary
        ><span class="seq" title="journal entries">${range}</span
        ><span class="off" title="since the run began">${offset(effect.startMs)}</span
        ><span class="fam">${p.name}</span><span class="title">${p.title}</span
        ><span class="badges">${p.badges}</span>${dur}<svg class="bar" aria-hidden="true"
          ><rect x="${x.toFixed(2)}%" width="${Math.min(w, 100 - x).toFixed(2)}%" height="100%"
        /></svg></summary
      ><div class="body">${p.body}${decisionList(decisions)}${entryTable(effect)}</div></details
    ></li>`;
}

const refusedByPolicy = (e: Effect) =>
  e.entries.some((x) => x.type === 'tool.refused' && dataOf(x).denied === true);

function partsOf(effect: Effect): Parts {
  switch (effect.family) {
    case 'model':
      return modelParts(effect);
    case 'tool':
      return toolParts(effect);
    case 'toolset':
      return toolsetParts(effect);
    case 'run':
      return runParts(effect);
    case 'user':
      return userParts(effect);
    case 'memory':
      return memoryParts(effect);
    case 'policy':
      return policyParts(effect);
    default:
      return {
        name: 'entry',
        title: html`<b>${effect.head.type}</b>`,
        badges: html``,
        body: block(pretty(effect.head.data)),
      };
  }
}

function find(effect: Effect, type: string): JournalEntry | undefined {
  return effect.entries.find((e) => e.type === type);
}

function modelParts(effect: Effect): Parts {
  const intent = dataOf(effect.head);
  const out = effect.outcome;
  const od = out ? dataOf(out) : {};
  const reply = asObject(od.reply);
  const calls = asArray(reply.toolCalls).map(asObject);
  const text = asString(reply.text);
  const tools = asArray(intent.tools).map(asString);
  const context = decisionsOf(effect).find((d) => d.resource.startsWith('model:'))?.context;
  const names = calls.map((c) => asString(c.name)).join(', ');

  const what =
    out?.type === 'model.error'
      ? html`<span class="bad">error: ${asString(asObject(od.error).message)}</span>`
      : calls.length > 0
        ? html`→ ${names}${text ? ` · ${snippet(text, 60)}` : ''}`
        : text
          ? snippet(text)
          : out
            ? html`<span class="muted">(no text)</span>`
            : html`<span class="warn">no reply recorded</span>`;
  const used = tokens(asObject(reply.usage));
  const badge = used
    ? html`<span class="badge b-other" title="input → output tokens">${used.replace(
        ', ',
        ' → ',
      )}</span>`
    : null;
  const offered =
    tools.length > 0
      ? html`<details class="more"><summary>${tools.length} tools offered</summary
          ><p class="mono">${tools.join(', ')}</p></details>`
      : null;

  return {
    name: 'model',
    title: html`<b>${asString(intent.slot)} #${asString(intent.n)}</b
      ><span class="snip">${what}</span>`,
    badges: html`${badge}${labelBadges(od.label ?? context)}`,
    body: html`<h3>Context</h3>${kv([
      ['slot', asString(intent.slot)],
      ['model', modelName(find(effect, 'model.load'))],
      ['messages', asString(intent.messages)],
      ['request', html`<code>${asString(intent.request)}</code>`],
      ['label', labelBadges(context)],
      ['sources', labelSources(context)],
    ])}<p class="muted">The journal keeps the digest of the messages sent, not their text:
      they are the run's inputs and the replies and tool results journaled before this
      call.</p>${offered}<h3>Reply</h3>${replyBody(out, reply, calls)}`,
  };
}

/** A usage's tokens as `412 in, 18 out`, or null when it names none. */
function tokens(usage: JsonObject): string | null {
  const input = asNumber(usage.inputTokens);
  if (input === null) return null;
  return `${count(input)} in, ${count(asNumber(usage.outputTokens) ?? 0)} out`;
}

function modelName(load: JournalEntry | undefined): string | null {
  if (!load) return null;
  const d = dataOf(load);
  return `${asString(d.provider)} / ${asString(d.model)} (driver ${asString(d.driver)})`;
}

function replyBody(out: JournalEntry | undefined, reply: JsonObject, calls: JsonObject[]): Html {
  if (!out) return html`<p class="warn">The journal holds no outcome for this call.</p>`;
  const od = dataOf(out);
  if (out.type === 'model.error') return block(pretty(od.error));
  const text = asString(reply.text);
  const cost = asNumber(asObject(reply.usage).cost);
  const toolCalls = calls.map(
    (c) =>
      html`<p class="mono"><b>${asString(c.name)}</b> <span class="muted">${asString(c.id)}</span
        ></p>${block(prettyText(asString(c.arguments)))}`,
  );
  return html`${kv([
    ['stop', asString(reply.stop)],
    ['model', asString(reply.model)],
    ['usage', tokens(asObject(reply.usage))],
    ['cost', cost !== null ? `$${cost}` : null],
    ['label', labelBadges(od.label)],
    ['sources', labelSources(od.label)],
  ])}${text ? html`<h3>Text</h3>${block(text)}` : null}${
    calls.length > 0 ? html`<h3>Tool calls</h3>${toolCalls}` : null
  }`;
}

function toolParts(effect: Effect): Parts {
  const d = dataOf(effect.head);
  const refused = effect.head.type === 'tool.refused';
  const resources = find(effect, 'tool.resources');
  const od = effect.outcome ? dataOf(effect.outcome) : {};
  // A refused call never ran: its arguments are the model's raw text, perhaps not JSON.
  const args = refused ? asString(d.arguments) : JSON.stringify(d.args ?? null);
  const { status, result } = toolOutcome(effect);
  return {
    name: 'tool',
    title: html`<b>${asString(d.name)}</b><span class="snip mono">${snippet(args, 70)}</span>`,
    badges: html`${decisionBadges(decisionsOf(effect))}${status}${labelBadges(od.label)}`,
    body: html`<h3>Arguments</h3>${block(refused ? prettyText(args) : pretty(d.args))}${
      resources
        ? html`<h3>Resources named</h3><ul class="plain mono">${asArray(
            dataOf(resources).resources,
          ).map((r) => html`<li>${asString(r)}</li>`)}</ul>`
        : null
    }<h3>Result</h3>${result}`,
  };
}

/** How a tool call ended, as a badge and as the record of its result. */
function toolOutcome(effect: Effect): { status: Html; result: Html } {
  const head = dataOf(effect.head);
  if (effect.head.type === 'tool.refused') {
    const denied = head.denied === true;
    return {
      status: html`<span class="badge b-deny">${denied ? 'denied' : 'refused'}</span>`,
      result: html`<p>${denied ? 'Denied' : 'Refused'}: the tool did not run, and the model was
          told why.</p>${block(asString(head.reason))}`,
    };
  }
  const out = effect.outcome;
  const od = out ? dataOf(out) : {};
  if (!out) {
    return {
      status: html`<span class="badge b-confirm">no outcome</span>`,
      result: html`<p class="warn">The journal holds no outcome for this call.</p>`,
    };
  }
  if (out.type === 'tool.unknown') {
    return {
      status: html`<span class="badge b-confirm">outcome unknown</span>`,
      result: html`<p class="warn">The run stopped while this call was under way: it may or
          may not have happened.</p>`,
    };
  }
  if (out.type !== 'tool.result') {
    return {
      status: html`<span class="badge b-deny">failed</span>`,
      result: block(pretty(od.error)),
    };
  }
  const error = od.isError === true;
  return {
    status: error
      ? html`<span class="badge b-deny">tool error</span>`
      : html`<span class="badge b-allow">ok</span>`,
    result: html`${kv([
      ['ok', error ? 'no: the tool reported an error' : 'yes'],
      ['label', labelBadges(od.label)],
      ['sources', labelSources(od.label)],
    ])}${block(asString(od.content))}${
      od.structured !== undefined
        ? html`<details class="more"><summary>structured content</summary>${block(
            pretty(od.structured),
          )}</details>`
        : null
    }`,
  };
}

const asArray = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

function toolsetParts(effect: Effect): Parts {
  const d = dataOf(effect.head);
  const tools = asArray(d.tools).map(asObject);
  const server = asObject(d.server);
  const how =
    server.kind === 'stdio'
      ? [asString(server.command), ...asArray(server.args).map(asString)].join(' ')
      : asString(server.url ?? server.kind);
  const unload = effect.head.type === 'tool.unload';
  return {
    name: unload ? 'unload' : 'tools',
    title: unload
      ? html`<b>${asString(d.ns)}</b><span class="snip">unloaded</span>`
      : html`<b>${asString(d.ns)}</b><span class="snip">${tools.length} tools pinned · ${snippet(
          how,
          70,
        )}</span>`,
    badges: html``,
    body: unload
      ? kv([['namespace', asString(d.ns)]])
      : html`${kv([
          ['namespace', asString(d.ns)],
          ['server', html`<code>${how}</code>`],
        ])}<h3>Tools</h3><table
          ><tr><th>name</th><th>digest</th><th>description</th></tr>${tools.map(pinRow)}</table
        >`,
  };
}

function pinRow(t: JsonObject): Html {
  const description = asString(asObject(t.definition).description);
  return html`<tr><td class="mono">${asString(t.name)}</td
    ><td class="mono" title="${asString(t.digest)}">${asString(t.digest).slice(0, 19)}</td
    ><td>${snippet(description, 120)}</td></tr>`;
}

function runParts(effect: Effect): Parts {
  const d = dataOf(effect.head);
  switch (effect.head.type) {
    case 'run.start': {
      const image = asObject(d.image);
      return {
        name: 'start',
        title: html`<b>image ${asString(image.name)}</b><span class="snip"
            >${snippet(JSON.stringify(d.inputs ?? {}), 80)}</span
          >`,
        badges: html``,
        body: html`${kv([
          ['image', asString(image.name)],
          ['digest', html`<code>${asString(image.digest)}</code>`],
          ['file', asString(image.path)],
          ['configuration', asString(asObject(d.config).path) || '(none)'],
        ])}<h3>Inputs</h3>${block(pretty(d.inputs ?? {}))}<h3>Budgets</h3>${block(
          pretty(d.budgets ?? {}),
        )}`,
      };
    }
    case 'run.end': {
      const status = asString(d.status);
      const output = d.output ?? null;
      const wall = asNumber(d.wallMs);
      return {
        name: 'end',
        title: html`<b>${status}</b><span class="snip">${
          d.error ? asString(asObject(d.error).message) : snippet(asString(d.output), 80)
        }</span>`,
        badges: html`${statusBadge(status)}${labelBadges(d.label)}`,
        body: html`${kv([
          ['status', status],
          ['wall time', wall !== null ? duration(wall) : null],
          ['label', labelBadges(d.label)],
        ])}${output !== null ? html`<h3>Output</h3>${block(pretty(output))}` : null}${
          d.error ? html`<h3>Error</h3>${block(pretty(d.error))}` : null
        }<h3>Used</h3>${block(pretty(d.used ?? {}))}`,
      };
    }
    case 'run.resume': {
      const answered = asArray(d.answers).map(asString).join(', ');
      return {
        name: 'resume',
        title: html`<b>resumed</b><span class="snip"
            >${answered ? `answers: ${answered}` : 'no answers'} · was ${asString(d.after)}</span
          >`,
        badges: html``,
        body: block(pretty(d)),
      };
    }
    case 'run.suspend':
      return {
        name: 'suspend',
        title: html`<b>waiting</b><span class="snip">${asArray(d.pending).length} pending</span>`,
        badges: statusBadge('waiting'),
        body: block(pretty(d.pending ?? [])),
      };
    default:
      return {
        name: effect.head.type.split('.')[1] ?? 'run',
        title: html`<b>${effect.head.type}</b>`,
        badges: html``,
        body: block(pretty(effect.head.data)),
      };
  }
}

function userParts(effect: Effect): Parts {
  const d = dataOf(effect.head);
  if (effect.head.type === 'user.ask') {
    const answer = effect.outcome ? dataOf(effect.outcome).answer : undefined;
    const given =
      answer === undefined ? html`<p class="muted">none yet</p>` : block(pretty(answer));
    return {
      name: 'ask',
      title: html`<b>${asString(d.id)}</b><span class="snip">${snippet(asString(d.prompt))}</span>`,
      badges: answer === undefined ? html`<span class="badge b-confirm">unanswered</span>` : html``,
      body: html`<h3>Question</h3>${block(asString(d.prompt))}${
        d.schema ? html`<h3>Schema</h3>${block(pretty(d.schema))}` : null
      }<h3>Answer</h3>${given}`,
    };
  }
  if (effect.head.type === 'user.answer') {
    return {
      name: 'answer',
      title: html`<b>${asString(d.id)}</b><span class="snip">${snippet(pretty(d.answer))}</span>`,
      badges: html``,
      body: block(pretty(d.answer)),
    };
  }
  return {
    name: 'show',
    title: html`<b>to the user</b><span class="snip">${snippet(pretty(d.data))}</span>`,
    badges: labelBadges(d.label),
    body: html`${block(pretty(d.data))}${kv([
      ['label', labelBadges(d.label)],
      ['sources', labelSources(d.label)],
    ])}`,
  };
}

function memoryParts(effect: Effect): Parts {
  const d = dataOf(effect.head);
  const load = effect.head.type === 'mem.load';
  return {
    name: load ? 'load' : 'store',
    title: html`<b>${asString(d.key)}</b><span class="snip"
        >${load && d.found === false ? '(not found) ' : ''}${snippet(pretty(d.data), 70)}</span
      >`,
    badges: html`${decisionBadges(decisionsOf(effect))}${labelBadges(d.label)}`,
    body: html`${block(pretty(d.data))}${kv([
      ['label', labelBadges(d.label)],
      ['sources', labelSources(d.label)],
    ])}`,
  };
}

function policyParts(effect: Effect): Parts {
  const decisions = decisionsOf(effect);
  const request = find(effect, 'confirm.request');
  const answers = effect.entries.filter((e) => e.type === 'confirm.answer');
  const rd = request ? dataOf(request) : {};
  const first = decisions[0];
  const asked = request ? html`<h3>Request</h3>${block(pretty(request.data))}` : null;
  const title = request
    ? html`<b>confirm ${asString(rd.id)}</b
        ><span class="snip">${asString(rd.tool ?? rd.resource)} · ${asString(rd.reason)}</span>`
    : first
      ? html`<b>${first.resource}</b><span class="snip">${first.reason}</span>`
      : html`<b>answer ${asString(dataOf(effect.head).id)}</b><span class="snip"
            >${asString(dataOf(effect.head).verdict)}</span
          >`;
  return {
    name: request ? 'confirm' : decisions.length > 0 ? 'decision' : 'answer',
    title,
    badges: html`${decisionBadges(decisions)}${answers.map((a) =>
      verdictBadge(asString(dataOf(a).verdict), 'the answer'),
    )}`,
    body: html`${asked}${answers.map((a) => html`<h3>Answer</h3>${block(pretty(a.data))}`)}`,
  };
}

function decisionBadges(decisions: DecisionView[]): Html {
  return html`${decisions.map((d) =>
    verdictBadge(d.verdict, `${d.resource}: ${d.rule ?? 'no rule'}: ${d.reason}`),
  )}`;
}

function decisionList(decisions: DecisionView[]): Html {
  if (decisions.length === 0) return html``;
  return html`<h3>Monitor decisions</h3>${decisions.map(
    (d) =>
      html`<div class="decision">${verdictBadge(d.verdict)} <code>${d.resource}</code
        ><span class="why"> · ${d.rule ?? 'no rule'} · ${d.reason}</span> ${labelBadges(
          d.context,
        )}</div>`,
  )}`;
}

function entryTable(effect: Effect): Html {
  return html`<details class="more"><summary>journal entries (${effect.entries.length})</summary
    ><table class="entries"><tr><th>seq</th><th>time</th><th>type</th><th>at</th><th>hash</th></tr
      >${effect.entries.map(
        (e) =>
          html`<tr><td>${e.seq}</td><td>${e.ts}</td><td>${e.type}</td><td>${e.at ?? ''}</td
            ><td title="${e.hash}">${e.hash.slice(0, 16)}</td></tr>`,
      )}</table></details>`;
}
