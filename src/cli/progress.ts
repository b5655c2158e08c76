import type { MachineEvent } from '../interpreter/effects.js';
import { count } from '../models/wire.js';
import { OPCODES, type OpcodeSpec } from '../spec/opcodes.js';

export interface ProgressOptions {
  now?: () => number;
  /** The terminal's width; 80 when not given. */
  columns?: () => number | undefined;
}

/**
 * The line a terminal shows while a run goes: the step, the instruction and its family, the
 * tokens and cost so far and the time taken; and the model's text as it streams, on lines of
 * its own. The line is redrawn in place, and cleared before the run shows or asks anything,
 * so that what the run prints never lands on it.
 *
 * ```ts
 * const progress = progressLine((t) => process.stderr.write(t));
 * await mvm.run(file, { events: progress });
 * ```
 */
export function progressLine(write: (text: string) => void, options: ProgressOptions = {}) {
  const now = options.now ?? Date.now;
  const started = now();
  let steps = 0;
  let op = '';
  let tokens = 0;
  let cost = 0;
  /** Whether the status line is on the screen, and whether model text is being written. */
  let shown = false;
  let streaming = false;
  let drawnAt = Number.NEGATIVE_INFINITY;

  const clear = () => {
    if (shown) write('\r\x1b[2K');
    shown = false;
  };
  // Steps come fast: the line is redrawn at most every so often, unless a figure changed or
  // the instruction is one that waits on the world.
  const draw = (force: boolean) => {
    const t = now();
    if (streaming || (!force && t - drawnAt < 100)) return;
    drawnAt = t;
    // A line wider than the terminal would wrap, and the next redraw would clear only its end.
    const width = Math.max(20, (options.columns?.() || 80) - 1);
    write(`\r\x1b[2K${status(t).slice(0, width)}`);
    shown = true;
  };
  const status = (t: number) => {
    const family = familyOf(op);
    const what = family && family !== op.split('.')[0] ? `${family}: ${op}` : op || 'starting';
    const price = cost > 0 ? ` · $${cost.toFixed(4)}` : '';
    const secs = ((t - started) / 1000).toFixed(1);
    const used = `${tokens.toLocaleString('en-US')} tokens${price}`;
    return `mvm: step ${steps} · ${what} · ${used} · ${secs}s`;
  };

  return (e: MachineEvent): void => {
    switch (e.type) {
      case 'step':
        steps = e.steps;
        op = e.op;
        draw(EFFECTFUL.has(familyOf(op) ?? ''));
        break;
      case 'model.text':
        if (!streaming) clear();
        streaming = true;
        write(e.delta);
        break;
      case 'model.reply':
        tokens += count(e.reply.usage?.inputTokens) + count(e.reply.usage?.outputTokens);
        cost += count(e.reply.usage?.cost);
        if (streaming) write('\n');
        streaming = false;
        draw(true);
        break;
      case 'tool.result':
        draw(true);
        break;
      case 'decision':
        // A confirmation or a question is asked next, on the same terminal.
        if (e.decision.verdict === 'confirm' || e.decision.resource === 'user') clear();
        break;
      case 'user.show':
      case 'run.suspend':
      case 'run.end':
        if (streaming) write('\n');
        streaming = false;
        clear();
        break;
      default:
        break;
    }
  };
}

/** Families whose instructions wait on a model, a server or a person: shown as they start. */
const EFFECTFUL = new Set(['model', 'tool', 'user', 'memory']);

const familyOf = (op: string) => (OPCODES as Record<string, OpcodeSpec | undefined>)[op]?.family;
