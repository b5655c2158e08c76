import {
  type DecisionExplanation,
  type ExplainNode,
  explainDecisions,
  explainEntry,
  NoSuchEntry,
} from '../audit/explain.js';
import { storeFlag } from '../host/command-line.js';
import { MvmError } from '../spec/errors.js';
import type { RunStore } from '../store/store.js';
import type { Console } from './main.js';

/** `mvm explain RUN [SEQ]`: the chain of sources behind one entry, or the decisions to read. */
export function explainCommand(
  store: RunStore,
  id: string,
  seqText: string | undefined,
  opts: { json?: boolean },
  con: Console,
): number {
  const run = store.findRun(id);
  const entries = store.entries(run.id);
  if (seqText === undefined) {
    const decisions = explainDecisions(entries);
    if (opts.json) con.out(JSON.stringify({ run: run.id, decisions }));
    else for (const line of decisionLines(run.id, decisions, store.dir)) con.out(line);
    return 0;
  }

  if (!/^\d+$/.test(seqText)) {
    throw new MvmError('config', 'bad_seq', `explain: '${seqText}' is not an entry number`);
  }
  let tree: ExplainNode;
  try {
    tree = explainEntry(entries, Number(seqText));
  } catch (e) {
    if (!(e instanceof NoSuchEntry)) throw e;
    throw new MvmError('config', 'no_such_entry', `run ${run.id}: ${e.message}`, {
      run: run.id,
      seq: e.seq,
    });
  }
  if (opts.json) con.out(JSON.stringify({ run: run.id, seq: tree.seq, tree }));
  else for (const line of entryLines(run.id, tree)) con.out(line);
  return 0;
}

function mark(n: ExplainNode): string {
  if (n.repeat) return '';
  if (n.origin) return '  [UNTRUSTED: enters here]';
  return n.untrusted ? '  [UNTRUSTED]' : '';
}

/** How a node is introduced: the source it stands for, or how it relates to its parent. */
function viaText(via: string): string {
  if (via === 'entry' || via === 'answer') return '';
  if (via === 'requested') return 'call from ';
  return `${via} ← `;
}

function nodeLine(n: ExplainNode): string {
  const via = viaText(n.via);
  if (n.missing !== undefined) return `${via}not found: ${n.missing}${n.repeat ? ' (again)' : ''}`;
  const seq = n.seq === undefined ? '' : `#${n.seq} `;
  if (n.repeat)
    return `${via}${seq}${n.type ?? ''} (shown above)${n.untrusted ? ' [UNTRUSTED]' : ''}`;
  return `${via}${seq}${n.what}${mark(n)}`;
}

function treeLines(n: ExplainNode, prefix: string, last: boolean, root: boolean): string[] {
  const branch = root ? '' : last ? '└─ ' : '├─ ';
  const lines = [`${prefix}${branch}${nodeLine(n)}`];
  const inner = root ? '' : `${prefix}${last ? '   ' : '│  '}`;
  n.children.forEach((c, i) => {
    lines.push(...treeLines(c, inner, i === n.children.length - 1, false));
  });
  return lines;
}

function entryLines(runId: string, tree: ExplainNode): string[] {
  const lines = [`run ${runId}: entry ${tree.seq}, ${tree.type}${tree.at ? ` at ${tree.at}` : ''}`];
  const d = tree.decision;
  if (d) {
    lines.push(`  ${d.resource}: ${d.verdict}${d.rule ? ` by ${d.rule}` : ''}`);
    if (d.reason) lines.push(`  reason: ${d.reason}`);
    if (d.released) lines.push(`  released to: ${d.released.join(', ')}`);
  }
  if (tree.label) {
    const readers = tree.label.readers === 'public' ? 'public' : tree.label.readers.join(', ');
    const integrity = tree.label.integrity === 'untrusted' ? 'UNTRUSTED' : 'trusted';
    lines.push(`  label: ${integrity}, readers ${readers}`);
    lines.push(`  sources: ${tree.label.sources.join(', ') || 'none'}`);
  } else {
    lines.push('  this entry records no label');
  }
  lines.push('', ...treeLines(tree, '', true, true));
  return lines;
}

function decisionLines(runId: string, decisions: DecisionExplanation[], dir: string): string[] {
  if (decisions.length === 0) {
    return [`run ${runId}: every decision allowed, each on a trusted context`];
  }
  const n = decisions.length === 1 ? 'one decision' : `${decisions.length} decisions`;
  const lines = [
    `run ${runId}: ${n} to look at: not a plain allow, a release, or on untrusted data`,
  ];
  for (const d of decisions) {
    const verdict = d.answer ? `${d.verdict} (a person: ${d.answer})` : d.verdict;
    const at = d.at ? ` at ${d.at}` : '';
    const from = d.untrusted.map((u) =>
      u.seq === undefined ? u.source : `${u.source} (#${u.seq})`,
    );
    const why =
      d.integrity === 'untrusted'
        ? `UNTRUSTED context from ${from.join(', ') || 'sources not in this journal'}`
        : `trusted context: ${d.reason}`;
    const released = d.released ? `; released to ${d.released.join(', ')}` : '';
    lines.push(
      `#${d.seq} ${verdict} ${d.resource}${at}: ${why}; rule ${d.rule ?? 'none'}${released}`,
    );
  }
  lines.push(`'mvm explain ${runId} SEQ${storeFlag(dir)}' shows the chain behind one`);
  return lines;
}
