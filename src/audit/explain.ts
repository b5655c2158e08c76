import type { Json, JsonObject } from '../spec/types.js';
import type { JournalEntry } from './chain.js';

/**
 * Why a value or a decision carries its label: each source of the label is traced to the
 * journal entry that produced it, and that entry's own label in turn, back to the inputs.
 * Pure functions over a run's entries; the CLI prints what they return.
 *
 * ```ts
 * const tree = explainEntry(store.entries(runId), 14);
 * const notable = explainDecisions(store.entries(runId));
 * ```
 */

/** A label as the journal records it. */
export interface RecordedLabel {
  readers: 'public' | string[];
  integrity: 'trusted' | 'untrusted';
  sources: string[];
}

export interface DecisionFacts {
  resource: string;
  verdict: string;
  rule: string | null;
  reason: string;
  /** Recipients the data went to because trusted arguments chose them (`flow.release`). */
  released?: string[];
}

export interface ExplainNode {
  /**
   * What the node stands for in its parent's label: a source (`tool:web/page#c1`,
   * `input:question`, `user`, `endorsed`), `requested` for the model reply that asked for a
   * tool call, `answer` for one of several answers from the user, or `entry` for the root.
   */
  via: string;
  seq?: number;
  type?: string;
  at?: string;
  /** One line on what the entry holds. */
  what: string;
  decision?: DecisionFacts;
  label?: RecordedLabel;
  untrusted: boolean;
  /** Untrusted while nothing it came from is: where untrusted data entered the run. */
  origin: boolean;
  /** Explained already, higher in the tree; its children are not repeated. */
  repeat: boolean;
  /** Why no entry could be found for the source. */
  missing?: string;
  children: ExplainNode[];
}

export interface DecisionExplanation extends DecisionFacts {
  seq: number;
  at?: string;
  integrity: 'trusted' | 'untrusted';
  /** Where the untrusted data in the decision's context entered the run. */
  untrusted: { source: string; seq?: number; type?: string }[];
  /** For a decision put to a person: what they answered, or `waiting`. */
  answer?: string;
}

/** The entries that record a label, and the field that holds it. */
const LABEL_FIELD: Record<string, string> = {
  decision: 'context',
  'tool.result': 'label',
  'resource.result': 'label',
  'prompt.result': 'label',
  'model.reply': 'label',
  'label.endorse': 'label',
  'mem.store': 'label',
  'mem.load': 'label',
  'user.show': 'label',
};

const isObject = (j: Json | undefined): j is JsonObject =>
  j !== null && typeof j === 'object' && !Array.isArray(j);

const str = (j: Json | undefined): string => (typeof j === 'string' ? j : '');

/** A short, one-line rendering of a value. */
function brief(j: Json | undefined, max = 60): string {
  const text = typeof j === 'string' ? JSON.stringify(j) : JSON.stringify(j ?? null);
  const line = text.replace(/\\n/g, ' ').replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The label an entry records, read defensively: a journal is data. */
export function labelOf(entry: JournalEntry): RecordedLabel | undefined {
  const field = LABEL_FIELD[entry.type];
  const raw = field && isObject(entry.data) ? entry.data[field] : undefined;
  if (!isObject(raw)) return undefined;
  const readers = Array.isArray(raw.readers)
    ? raw.readers.filter((r): r is string => typeof r === 'string')
    : 'public';
  const sources = Array.isArray(raw.sources)
    ? raw.sources.filter((s): s is string => typeof s === 'string')
    : [];
  return { readers, integrity: raw.integrity === 'untrusted' ? 'untrusted' : 'trusted', sources };
}

function toolCallsOf(entry: JournalEntry): { id: string; name: string }[] {
  const reply = isObject(entry.data) ? entry.data.reply : undefined;
  const calls = isObject(reply) && Array.isArray(reply.toolCalls) ? reply.toolCalls : [];
  return calls.filter(isObject).map((c) => ({ id: str(c.id), name: str(c.name) }));
}

function describe(entry: JournalEntry): string {
  const d = isObject(entry.data) ? entry.data : {};
  switch (entry.type) {
    case 'decision':
      return `decision on ${str(d.resource)}: ${str(d.verdict)}`;
    case 'tool.result':
      return `tool.result ${str(d.name)}#${str(d.callId)}: ${brief(d.content)}`;
    case 'resource.result': {
      const text = isObject(d.result) ? d.result.text : null;
      return `resource.result ${str(d.ns)}/${str(d.uri)}#${str(d.id)}: ${brief(text)}`;
    }
    case 'prompt.result':
      return `prompt.result ${str(d.ns)}/${str(d.name)}#${str(d.id)}`;
    case 'model.reply': {
      const calls = toolCallsOf(entry);
      const head = `model.reply ${str(d.slot)}#${String(d.n ?? '?')}`;
      if (calls.length > 0) return `${head}: asks for ${calls.map((c) => c.name).join(', ')}`;
      return `${head}: ${brief(isObject(d.reply) ? d.reply.text : null)}`;
    }
    case 'user.answer':
      return `user.answer ${str(d.id)}: ${brief(d.answer)}`;
    case 'mem.store':
    case 'mem.load':
      return `${entry.type} ${str(d.key)}: ${brief(d.data)}`;
    case 'user.show':
      return `user.show: ${brief(d.data)}`;
    default:
      return entry.type;
  }
}

function decisionFacts(entry: JournalEntry): DecisionFacts | undefined {
  if (entry.type !== 'decision' || !isObject(entry.data)) return undefined;
  const d = entry.data;
  const facts: DecisionFacts = {
    resource: str(d.resource),
    verdict: str(d.verdict),
    rule: typeof d.rule === 'string' ? d.rule : null,
    reason: str(d.reason),
  };
  if (Array.isArray(d.released)) facts.released = d.released.map(str);
  return facts;
}

/** A journal's entries by what a trace looks them up with; built once, for many trees. */
class JournalIndex {
  readonly bySeq = new Map<number, JournalEntry>();
  private readonly byKey = new Map<string, JournalEntry[]>();

  constructor(readonly entries: readonly JournalEntry[]) {
    for (const e of [...entries].sort((a, b) => a.seq - b.seq)) {
      this.bySeq.set(e.seq, e);
      this.add(`type:${e.type}`, e);
      const d = isObject(e.data) ? e.data : {};
      if (e.type === 'tool.result') this.add(`result:${str(d.name)}#${str(d.callId)}`, e);
      // A resource read or a prompt names the source its label gives it.
      if (typeof d.source === 'string') this.add(`served:${d.source}`, e);
      for (const c of e.type === 'model.reply' ? toolCallsOf(e) : []) {
        this.add(`asked:${c.name}#${c.id}`, e);
      }
    }
  }

  private add(key: string, e: JournalEntry): void {
    const list = this.byKey.get(key);
    if (list) list.push(e);
    else this.byKey.set(key, [e]);
  }

  /** The entries under `key` before `before`, in journal order. */
  before(key: string, before: number): JournalEntry[] {
    return (this.byKey.get(key) ?? []).filter((e) => e.seq < before);
  }

  /** The latest entry under `key` before `before`. */
  latest(key: string, before: number): JournalEntry | undefined {
    const list = this.byKey.get(key) ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.seq < before) return list[i];
    return undefined;
  }
}

/** Walks the journal back from one entry; each instance explains one tree. */
class Tracer {
  private readonly expanded = new Set<string>();

  constructor(private readonly index: JournalIndex) {}

  /** The model reply that asked for the call `name#callId`, before `before`. */
  private requester(name: string, callId: string, before: number) {
    return this.index.latest(`asked:${name}#${callId}`, before);
  }

  /**
   * The call a decision on `tool:NAME` was about: named in the decision itself, or, in a
   * journal written before decisions named their call, in the intent or refusal that
   * follows, before the machine moves on to another model call.
   */
  private callOfDecision(entry: JournalEntry, name: string): string | undefined {
    if (isObject(entry.data) && typeof entry.data.callId === 'string') return entry.data.callId;
    let e = this.index.bySeq.get(entry.seq + 1);
    while (e && e.type !== 'model.intent' && e.type !== 'model.reply') {
      if ((e.type === 'tool.intent' || e.type === 'tool.refused') && isObject(e.data)) {
        return str(e.data.name) === name ? str(e.data.callId) : undefined;
      }
      e = this.index.bySeq.get(e.seq + 1);
    }
    return undefined;
  }

  /** A node for an entry, its children traced unless it was explained already. */
  node(via: string, entry: JournalEntry): ExplainNode {
    const label = labelOf(entry);
    const n: ExplainNode = {
      via,
      seq: entry.seq,
      type: entry.type,
      what: describe(entry),
      untrusted: label?.integrity === 'untrusted',
      origin: false,
      repeat: this.expanded.has(`#${entry.seq}`),
      children: [],
    };
    if (entry.at !== undefined) n.at = entry.at;
    const decision = decisionFacts(entry);
    if (decision) n.decision = decision;
    if (label) n.label = label;
    if (n.repeat) return n;
    this.expanded.add(`#${entry.seq}`);

    n.children = this.childrenOf(entry, label);
    // A source that cannot be found might be the untrusted one, so it is not ruled out.
    n.origin = n.untrusted && !n.children.some((c) => c.untrusted || c.missing !== undefined);
    return n;
  }

  private childrenOf(entry: JournalEntry, label: RecordedLabel | undefined): ExplainNode[] {
    if (entry.type === 'run.start' || entry.type === 'user.answer') return [];
    const d = isObject(entry.data) ? entry.data : {};
    let own: string | undefined;
    let asked: JournalEntry | undefined;
    if (entry.type === 'resource.result' || entry.type === 'prompt.result') own = str(d.source);
    else if (entry.type === 'tool.result') {
      own = `tool:${str(d.name)}#${str(d.callId)}`;
      asked = this.requester(str(d.name), str(d.callId), entry.seq);
    } else if (entry.type === 'decision' && str(d.resource).startsWith('tool:')) {
      const name = str(d.resource).slice('tool:'.length);
      const callId = this.callOfDecision(entry, name);
      if (callId) asked = this.requester(name, callId, entry.seq);
    }

    const children: ExplainNode[] = [];
    const covered = new Set<string>(own ? [own] : []);
    if (entry.type === 'label.endorse') covered.add('endorsed');
    if (asked) {
      // What the asking reply's context holds is explained under it, not again here.
      const node = this.node('requested', asked);
      for (const s of labelOf(asked)?.sources ?? []) covered.add(s);
      children.push(node);
    }
    const sources = label?.sources ?? [];
    if (
      label?.integrity === 'trusted' &&
      sources.includes('endorsed') &&
      !covered.has('endorsed')
    ) {
      // A trusted value holds what was endorsed, and what that came from is explained under
      // the endorsement. An untrusted one lists them again: it may hold them directly too.
      const node = this.source('endorsed', entry.seq);
      if (node.type === 'label.endorse') for (const s of node.label?.sources ?? []) covered.add(s);
      covered.add('endorsed');
      children.push(node);
    }
    for (const source of sources) {
      if (!covered.has(source)) children.push(this.source(source, entry.seq));
    }
    return children;
  }

  /** The entry that produced `source`, looked for before `before`. */
  source(source: string, before: number): ExplainNode {
    if (source.startsWith('input:')) {
      const start = this.index.latest('type:run.start', before);
      if (start) return this.input(source, start);
    } else if (source === 'user') {
      const answers = this.index.before('type:user.answer', before);
      if (answers.length === 1) return this.node(source, answers[0]!);
      if (answers.length > 1) {
        const children = answers.map((a) => this.node('answer', a));
        return {
          via: source,
          what: `${answers.length} answers from the user`,
          untrusted: false,
          origin: false,
          repeat: false,
          children,
        };
      }
    } else if (source === 'endorsed') {
      const e = this.index.latest('type:label.endorse', before);
      if (e) return this.node(source, e);
    } else if (source.startsWith('tool:') && source.includes('#')) {
      const hash = source.lastIndexOf('#');
      const name = source.slice('tool:'.length, hash);
      const callId = source.slice(hash + 1);
      const e = this.index.latest(`result:${name}#${callId}`, before);
      if (e) return this.node(source, e);
    } else if (/^(resource|prompt):/.test(source)) {
      const e = this.index.latest(`served:${source}`, before);
      if (e) return this.node(source, e);
    }
    return this.missing(source);
  }

  /** An input: trusted, and each input is its own node though one entry holds them all. */
  private input(source: string, start: JournalEntry): ExplainNode {
    const inputs = isObject(start.data) ? start.data.inputs : undefined;
    const name = source.slice('input:'.length);
    const given = isObject(inputs) && name in inputs ? brief(inputs[name]) : '(not given)';
    const repeat = this.expanded.has(source);
    this.expanded.add(source);
    return {
      via: source,
      seq: start.seq,
      type: start.type,
      what: `run.start: input ${name} = ${given}`,
      untrusted: false,
      origin: false,
      repeat,
      children: [],
    };
  }

  private missing(source: string): ExplainNode {
    const key = `?${source}`;
    const repeat = this.expanded.has(key);
    this.expanded.add(key);
    return {
      via: source,
      what: source,
      untrusted: false,
      origin: false,
      repeat,
      missing: 'no entry before this one in the run records this source',
      children: [],
    };
  }
}

/** Thrown for a sequence number the journal does not hold. */
export class NoSuchEntry extends Error {
  constructor(
    readonly seq: number,
    readonly count: number,
  ) {
    super(`the journal has entries 1 to ${count}; there is no entry ${seq}`);
  }
}

/**
 * The tree of where entry `seq`'s label came from: its sources, each resolved to the entry
 * that produced it, recursively. Entries appear once; later mentions are marked `repeat`.
 */
export function explainEntry(entries: readonly JournalEntry[], seq: number): ExplainNode {
  return explainIn(new JournalIndex(entries), seq);
}

function explainIn(index: JournalIndex, seq: number): ExplainNode {
  const entry = index.bySeq.get(seq);
  if (!entry) throw new NoSuchEntry(seq, index.entries.length);
  return new Tracer(index).node('entry', entry);
}

/**
 * Where untrusted data entered, in tree order: the origins, and the sources that could not be
 * found under an untrusted entry, since any of them may be what made it untrusted.
 */
export function originsOf(root: ExplainNode): ExplainNode[] {
  const out: ExplainNode[] = [];
  const walk = (n: ExplainNode, underUntrusted: boolean) => {
    const suspect = n.missing !== undefined && underUntrusted;
    if ((n.origin || suspect) && !n.repeat) out.push(n);
    for (const c of n.children) walk(c, n.untrusted);
  };
  walk(root, false);
  return out;
}

/** A person's answer to the confirmation a decision asked for. */
function answerTo(index: JournalIndex, decision: JournalEntry): string | undefined {
  const next = index.bySeq.get(decision.seq + 1);
  if (next?.type !== 'confirm.request' || !isObject(next.data)) return undefined;
  const id = next.data.id;
  const answer = index
    .before('type:confirm.answer', Number.POSITIVE_INFINITY)
    .find((e) => e.seq > next.seq && isObject(e.data) && e.data.id === id);
  if (!answer || !isObject(answer.data)) return 'waiting';
  return str(answer.data.verdict) || 'answered';
}

/**
 * Every decision worth a look: one that did not simply allow, that released data to
 * recipients its readers do not name, or that was taken on an untrusted context, with where
 * that context's untrusted data came from.
 */
export function explainDecisions(entries: readonly JournalEntry[]): DecisionExplanation[] {
  const index = new JournalIndex(entries);
  const out: DecisionExplanation[] = [];
  for (const entry of index.bySeq.values()) {
    const facts = decisionFacts(entry);
    if (!facts) continue;
    const integrity = labelOf(entry)?.integrity ?? 'trusted';
    if (facts.verdict === 'allow' && integrity === 'trusted' && !facts.released) continue;

    const origins = originsOf(explainIn(index, entry.seq));
    const x: DecisionExplanation = {
      seq: entry.seq,
      ...facts,
      integrity,
      untrusted: origins.map((o) => {
        const u: DecisionExplanation['untrusted'][number] = { source: o.via };
        if (o.seq !== undefined) u.seq = o.seq;
        if (o.type !== undefined) u.type = o.type;
        return u;
      }),
    };
    if (entry.at !== undefined) x.at = entry.at;
    if (facts.verdict === 'confirm') {
      const answer = answerTo(index, entry);
      if (answer) x.answer = answer;
    }
    out.push(x);
  }
  return out;
}
