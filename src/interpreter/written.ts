import { OPCODES } from '../spec/opcodes.js';
import type { Instruction } from '../spec/types.js';

/**
 * What a block may do to the frame it runs in, read from its instructions: the registers it
 * may write, and whether it may end the loop or the procedure around it early. Whether a
 * branch runs, or a loop goes round again, is decided by a condition; a register the branch
 * would have written, and everything after a `break` or a `return` that did not happen,
 * depend on that condition whichever way it went.
 */
export interface BlockReach {
  /** Every register an instruction of the block, nested blocks included, may write. */
  writes: readonly string[];
  /** A `break` or `continue` in the block leaves the innermost loop around the block. */
  leaves: boolean;
  /** A `return` in the block ends the procedure. */
  returns: boolean;
}

const NESTED = ['then', 'else', 'body'] as const;

/** The operands of each opcode that name a register it writes. */
const DESTINATIONS: Record<string, string[]> = Object.fromEntries(
  Object.entries(OPCODES).map(([op, spec]) => [
    op,
    Object.entries(spec.operands)
      .filter(([, o]) => o.type === 'dst')
      .map(([name]) => name),
  ]),
);
// history.append extends its history in place: the one instruction writing a `reg` operand.
DESTINATIONS['history.append'] = ['history'];

const known = new WeakMap<Instruction[], BlockReach>();

/** The reach of one or more blocks together. Blocks are never changed once linked. */
export function reach(...blocks: Instruction[][]): BlockReach {
  if (blocks.length === 1) return reachOf(blocks[0]!);
  const writes = new Set<string>();
  let leaves = false;
  let returns = false;
  for (const b of blocks) {
    const r = reachOf(b);
    for (const w of r.writes) writes.add(w);
    leaves ||= r.leaves;
    returns ||= r.returns;
  }
  return { writes: [...writes], leaves, returns };
}

function reachOf(block: Instruction[]): BlockReach {
  const cached = known.get(block);
  if (cached) return cached;
  const writes = new Set<string>();
  let leaves = false;
  let returns = false;
  const visit = (list: Instruction[], inLoop: boolean) => {
    for (const ins of list) {
      if ((ins.op === 'break' || ins.op === 'continue') && !inLoop) leaves = true;
      if (ins.op === 'return') returns = true;
      const fields = ins as unknown as Record<string, unknown>;
      for (const name of DESTINATIONS[ins.op] ?? []) {
        const reg = fields[name];
        if (typeof reg === 'string') writes.add(reg);
      }
      const loops = ins.op === 'loop' || ins.op === 'foreach';
      for (const key of NESTED) {
        const nested = fields[key];
        if (Array.isArray(nested)) visit(nested as Instruction[], inLoop || loops);
      }
    }
  };
  visit(block, false);
  const out = { writes: [...writes], leaves, returns };
  known.set(block, out);
  return out;
}
