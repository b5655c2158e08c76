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
const branches = new WeakMap<object, BlockReach>();

/** The reach of both branches of an `if` together, worked out once per instruction. */
export function reachOfBranches(ins: { then: Instruction[]; else?: Instruction[] }): BlockReach {
  const cached = branches.get(ins);
  if (cached) return cached;
  const a = reach(ins.then);
  const b = ins.else ? reach(ins.else) : { writes: [], leaves: false, returns: false };
  const both = {
    writes: [...new Set([...a.writes, ...b.writes])],
    leaves: a.leaves || b.leaves,
    returns: a.returns || b.returns,
  };
  branches.set(ins, both);
  return both;
}

/** The reach of a block. Blocks are never changed once linked, so it is worked out once. */
export function reach(block: Instruction[]): BlockReach {
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
