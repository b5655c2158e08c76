import { canonicalJson } from '../audit/canonical.js';
import { join, joinAll, type Label, PUBLIC_TRUSTED, sourced } from '../labels/label.js';
import { type Value, value } from '../labels/value.js';
import type { Monitor } from '../monitor/monitor.js';
import { InternalError, MvmError, TrapError } from '../spec/errors.js';
import type { Instruction, InstructionOf, Json, JsonObject } from '../spec/types.js';
import { type LinkedImage, type LinkedProcedure, walk } from '../verifier/expand.js';
import type { BudgetMeter } from './budget.js';
import { Effects, type MachineEvent, type MachineHost } from './effects.js';
import { Frame, getPath, render, textOf } from './frame.js';
import { type Pending, Suspend } from './people.js';
import { DivergenceError, type Tape } from './tape.js';
import { appendMessages, checkSize, decodeToolCalls, parseJsonText } from './values.js';

/** How a block ended, when it did not simply run to its end. */
type Flow =
  | { kind: 'break' }
  | { kind: 'continue' }
  | { kind: 'return'; value: Value }
  | { kind: 'halt'; value: Value };

const BREAK: Flow = { kind: 'break' };
const CONTINUE: Flow = { kind: 'continue' };
const NULL = value(null);

export type RunStatus = 'done' | 'failed' | 'waiting';

export interface RunOutcome {
  status: RunStatus;
  output: Value | null;
  error: MvmError | null;
  /** What the run waits on, when it is waiting. */
  pending: Pending[];
}

export interface MachineOptions {
  linked: LinkedImage;
  host: MachineHost;
  monitor: Monitor;
  /** The journal, and what it already holds when the run is resumed or replayed. */
  tape: Tape;
  meter: BudgetMeter;
  events?: (event: MachineEvent) => void;
  signal?: AbortSignal;
  /**
   * Whether the machine commits the journal when the run ends or suspends; by default it
   * does. A host that commits the end together with its own record of the run, in one
   * transaction, says false and must commit it before it reports the outcome.
   */
  commitEnd?: boolean;
}

/**
 * The machine: runs a verified, linked image. Structured control only; every effect goes
 * through `Effects`, which asks the monitor and journals intent and outcome.
 *
 * ```ts
 * const outcome = await new Machine({ linked, host, monitor, journal, meter }).run(inputs);
 * ```
 */
export class Machine {
  private readonly linked: LinkedImage;
  private readonly meter: BudgetMeter;
  private readonly effects: Effects;
  private readonly tape: Tape;
  private readonly emit: (event: MachineEvent) => void;
  /** The label of the branch conditions the current instruction runs under. */
  private pc: Label = PUBLIC_TRUSTED;
  /** Where the instruction being dispatched stands, for traps raised on writing its result. */
  private at: string | undefined;
  /** The procedures calls resolve to: the image's, or while a plan runs, the plan's. */
  private procedures: Map<string, LinkedProcedure>;
  private readonly commitEnd: boolean;

  constructor(options: MachineOptions) {
    this.commitEnd = options.commitEnd ?? true;
    this.linked = options.linked;
    this.procedures = options.linked.procedures;
    this.meter = options.meter;
    this.tape = options.tape;
    this.emit = options.events ?? (() => {});
    this.effects = new Effects({ ...options, pc: () => this.pc });
  }

  async run(inputs: Record<string, Json>): Promise<RunOutcome> {
    const entry = this.procedure(this.linked.entry);
    const frame = new Frame(entry.name);
    for (const p of entry.params) {
      frame.set(p, value(inputs[p] ?? null, sourced(`input:${p}`)));
    }

    let outcome: RunOutcome;
    try {
      const flow = await this.block(entry.body, frame);
      const out = flow && (flow.kind === 'return' || flow.kind === 'halt') ? flow.value : NULL;
      outcome = { status: 'done', output: out, error: null, pending: [] };
    } catch (e) {
      if (e instanceof Suspend) {
        outcome = { status: 'waiting', output: null, error: null, pending: [e.pending] };
      } else {
        const error =
          e instanceof MvmError ? e : new InternalError('uncaught exception in the machine', {}, e);
        outcome = { status: 'failed', output: null, error, pending: [] };
      }
    } finally {
      await this.effects.close();
    }
    this.meter.elapsed();
    const { wallMs, ...used } = this.meter.used;
    if (outcome.status === 'waiting') {
      // A mark on the run, not something the program did: re-execution steps over it.
      this.tape.mark('run.suspend', {
        pending: outcome.pending as unknown as Json,
        used: { ...used },
        wallMs,
      });
      if (this.commitEnd) this.tape.flush();
      this.emit({ type: 'run.suspend', pending: outcome.pending });
      return outcome;
    }
    const endOf = (o: RunOutcome): Json => ({
      status: o.status,
      output: o.output?.data ?? null,
      label: (o.output?.label ?? null) as unknown as Json,
      error: o.error ? (o.error.toJSON() as JsonObject) : null,
      used: { ...used },
      wallMs,
    });
    // A run that diverged from its journal ends after what it holds, not in its place.
    if (outcome.error instanceof DivergenceError) this.tape.mark('run.end', endOf(outcome));
    else {
      try {
        this.tape.write('run.end', endOf(outcome));
      } catch (e) {
        if (!(e instanceof DivergenceError)) throw e;
        outcome = { status: 'failed', output: null, error: e, pending: [] };
        this.tape.mark('run.end', endOf(outcome));
      }
    }
    if (this.commitEnd) this.tape.flush();
    this.emit({ type: 'run.end', status: outcome.status, error: outcome.error ?? undefined });
    return outcome;
  }

  private procedure(name: string): LinkedProcedure {
    const p = this.procedures.get(name);
    if (!p) throw new InternalError(`procedure '${name}' is not linked`);
    return p;
  }

  /**
   * Runs a verified plan's main procedure in a frame of its own, on this machine: the same
   * budgets, monitor and journal. Its instructions are located under the one that planned.
   */
  private async runPlan(plan: LinkedImage, at: string | undefined): Promise<Value> {
    for (const proc of plan.procedures.values()) {
      walk(proc.body, '', (ins) => {
        ins.at = `${at ?? '?'}:plan:${ins.at ?? '?'}`;
      });
    }
    const saved = this.procedures;
    this.procedures = plan.procedures;
    try {
      const main = this.procedure(plan.entry);
      const flow = await this.block(main.body, new Frame(`plan:${main.name}`));
      return flow && (flow.kind === 'return' || flow.kind === 'halt') ? flow.value : NULL;
    } finally {
      this.procedures = saved;
    }
  }

  private async block(body: Instruction[], frame: Frame): Promise<Flow | undefined> {
    for (const ins of body) {
      const flow = await this.step(ins, frame);
      if (flow) return flow;
    }
    return undefined;
  }

  /** Writes a register; the value also carries the label of the branch it was written in. */
  private put(frame: Frame, reg: string, v: Value): void {
    checkSize(v.data, this.at);
    frame.set(
      reg,
      this.pc === PUBLIC_TRUSTED ? v : { data: v.data, label: join(v.label, this.pc) },
    );
  }

  /** Fetch, count against the budget, dispatch. */
  private async step(ins: Instruction, frame: Frame): Promise<Flow | undefined> {
    const at = ins.at;
    this.at = at;
    this.meter.step(at);
    if (!this.tape.catchingUp)
      this.emit({ type: 'step', at, op: ins.op, steps: this.meter.used.steps });

    switch (ins.op) {
      case 'model.load':
        await this.effects.loadModel(ins.slot, at);
        return;
      case 'model.unload':
        this.effects.unloadModel(ins.slot);
        return;
      case 'model.call':
        this.put(frame, ins.dst, await this.effects.callModel(ins, frame));
        return;
      case 'model.extract':
        this.put(frame, ins.dst, await this.effects.extract(ins, frame));
        return;
      case 'model.plan': {
        const plan = await this.effects.plan(ins, frame, this.linked.image);
        this.put(frame, ins.dst, await this.runPlan(plan, at));
        return;
      }
      case 'parse.text': {
        const src = frame.get(ins.src, at);
        this.put(frame, ins.dst, value(textOf(src.data), src.label));
        return;
      }
      case 'parse.tool_calls': {
        const src = frame.get(ins.src, at);
        this.put(frame, ins.dst, value(decodeToolCalls(src.data), src.label));
        return;
      }
      case 'parse.json':
        return this.parseJson(ins, frame);
      case 'tool.load': {
        const list = await this.effects.loadTools(ins.ns, at);
        if (ins.dst) this.put(frame, ins.dst, list);
        return;
      }
      case 'tool.unload':
        await this.effects.unloadTools(ins.ns, at);
        return;
      case 'tool.call':
        this.put(frame, ins.dst, await this.effects.callTool(ins, frame));
        return;
      case 'mem.store':
        this.effects.memStore(render(ins.key, frame, at), frame.get(ins.src, at), at);
        return;
      case 'mem.load': {
        const key = render(ins.key, frame, at);
        this.put(frame, ins.dst, this.effects.memLoad(key, ins.default ?? null, at));
        return;
      }
      case 'history.new': {
        const sys = ins.system === undefined ? undefined : render(ins.system, frame, at);
        const messages: Json = sys ? [{ role: 'system', content: sys.data as string }] : [];
        this.put(frame, ins.dst, value(messages, sys?.label ?? PUBLIC_TRUSTED));
        return;
      }
      case 'history.append': {
        const history = frame.get(ins.history, at);
        const src = frame.get(ins.src, at);
        const messages = appendMessages(history.data, ins.role, src.data, at);
        this.put(frame, ins.history, value(messages, join(history.label, src.label)));
        return;
      }
      case 'user.ask':
        this.put(frame, ins.dst, await this.effects.ask(ins, frame));
        return;
      case 'user.show':
        await this.effects.show(frame.get(ins.src, at), at);
        return;
      case 'data.const':
        this.put(frame, ins.dst, value(ins.value));
        return;
      case 'data.move':
        this.put(frame, ins.dst, frame.get(ins.src, at));
        return;
      case 'data.get': {
        const src = frame.get(ins.src, at);
        this.put(frame, ins.dst, value(getPath(src.data, ins.path), src.label));
        return;
      }
      case 'data.template':
        this.put(frame, ins.dst, render(ins.template, frame, at));
        return;
      case 'data.object': {
        const entries: Array<[string, Json]> = [];
        const labels: Label[] = [];
        for (const [k, reg] of Object.entries(ins.fields)) {
          const v = frame.get(reg, at);
          entries.push([k, v.data]);
          labels.push(v.label);
        }
        // fromEntries keeps a `__proto__` field as a field; assigning it would not.
        const out: JsonObject = Object.fromEntries(entries);
        this.put(frame, ins.dst, value(out, joinAll(labels)));
        return;
      }
      case 'data.concat': {
        const out: Json[] = [];
        const labels: Label[] = [];
        for (const reg of ins.srcs) {
          const v = frame.get(reg, at);
          if (!Array.isArray(v.data)) {
            throw new TrapError('not_a_list', `'${reg}' is not a list`, at);
          }
          // Not push(...): spreading a long list overflows the stack.
          for (const x of v.data) out.push(x);
          labels.push(v.label);
        }
        this.put(frame, ins.dst, value(out, joinAll(labels)));
        return;
      }
      case 'data.len': {
        const src = frame.get(ins.src, at);
        const d = src.data;
        let n: number;
        if (Array.isArray(d) || typeof d === 'string') n = d.length;
        else if (d !== null && typeof d === 'object') n = Object.keys(d).length;
        else throw new TrapError('no_length', `'${ins.src}' has no length`, at);
        this.put(frame, ins.dst, value(n, src.label));
        return;
      }
      case 'data.compare':
        return this.compare(ins, frame);
      case 'if':
        return this.branch(ins, frame);
      case 'loop':
        return this.loop(ins, frame);
      case 'foreach':
        return this.foreach(ins, frame);
      case 'break':
        return BREAK;
      case 'continue':
        return CONTINUE;
      case 'call':
        return this.call(ins, frame);
      case 'return':
        return { kind: 'return', value: ins.src ? frame.get(ins.src, at) : NULL };
      case 'halt':
        return { kind: 'halt', value: ins.src ? frame.get(ins.src, at) : NULL };
      case 'fail': {
        const message = render(ins.message, frame, at).data as string;
        throw new TrapError(ins.code ?? 'fail', message, at);
      }
      default: {
        const never: never = ins;
        throw new InternalError(`unknown opcode ${JSON.stringify(never)}`);
      }
    }
  }

  private parseJson(ins: InstructionOf<'parse.json'>, frame: Frame): undefined {
    const src = frame.get(ins.src, ins.at);
    const parsed = parseJsonText(textOf(src.data), ins.schema);
    if (!parsed.ok && !ins.ok) {
      throw new TrapError('parse_failed', parsed.error, ins.at, { raw: textOf(src.data) });
    }
    this.put(frame, ins.dst, value(parsed.ok ? parsed.value : null, src.label));
    if (ins.ok) this.put(frame, ins.ok, value(parsed.ok, src.label));
    return undefined;
  }

  private compare(ins: InstructionOf<'data.compare'>, frame: Frame): undefined {
    const a = frame.get(ins.a, ins.at);
    const b = ins.b !== undefined ? frame.get(ins.b, ins.at) : value(ins.value ?? null);
    const x = a.data;
    const y = b.data;
    let result: boolean;
    switch (ins.cmp) {
      case 'eq':
      case 'ne': {
        // Key order is not part of a value: the journal does not keep it.
        const same = canonicalJson(x) === canonicalJson(y);
        result = ins.cmp === 'eq' ? same : !same;
        break;
      }
      default: {
        const comparable =
          (typeof x === 'number' && typeof y === 'number') ||
          (typeof x === 'string' && typeof y === 'string');
        if (!comparable) {
          throw new TrapError('not_comparable', `cannot order ${typeof x} and ${typeof y}`, ins.at);
        }
        const xs = x as number | string;
        const ys = y as number | string;
        result =
          ins.cmp === 'lt'
            ? xs < ys
            : ins.cmp === 'le'
              ? xs <= ys
              : ins.cmp === 'gt'
                ? xs > ys
                : xs >= ys;
      }
    }
    this.put(frame, ins.dst, value(result, join(a.label, b.label)));
    return undefined;
  }

  /** Runs a block with the branch label raised by `cond`, then restores it. */
  private async guarded(cond: Label, body: Instruction[], frame: Frame) {
    const saved = this.pc;
    this.pc = join(saved, cond);
    try {
      return await this.block(body, frame);
    } finally {
      this.pc = saved;
    }
  }

  private async branch(ins: InstructionOf<'if'>, frame: Frame) {
    const cond = frame.get(ins.cond, ins.at);
    const body = truthy(cond.data) ? ins.then : (ins.else ?? []);
    return this.guarded(cond.label, body, frame);
  }

  private async loop(ins: InstructionOf<'loop'>, frame: Frame): Promise<Flow | undefined> {
    for (let i = 0; ; i++) {
      let label = PUBLIC_TRUSTED;
      if (ins.while !== undefined) {
        const cond = frame.get(ins.while, ins.at);
        if (!truthy(cond.data)) return undefined;
        label = cond.label;
      }
      if (i >= ins.max) {
        if (ins.onLimit === 'stop') return undefined;
        throw new TrapError('loop_limit', `loop reached its bound of ${ins.max}`, ins.at, {
          max: ins.max,
        });
      }
      const flow = await this.guarded(label, ins.body, frame);
      if (flow?.kind === 'break') return undefined;
      if (flow && flow.kind !== 'continue') return flow;
    }
  }

  private async foreach(ins: InstructionOf<'foreach'>, frame: Frame): Promise<Flow | undefined> {
    const src = frame.get(ins.src, ins.at);
    if (!Array.isArray(src.data)) {
      throw new TrapError('not_a_list', `'${ins.src}' is not a list`, ins.at);
    }
    const items = src.data;
    for (let i = 0; i < items.length; i++) {
      this.put(frame, ins.as, value(items[i]!, src.label));
      if (ins.index) this.put(frame, ins.index, value(i, src.label));
      // How many times the body runs is the list's doing, so the body runs under its label.
      const flow = await this.guarded(src.label, ins.body, frame);
      if (flow?.kind === 'break') return undefined;
      if (flow && flow.kind !== 'continue') return flow;
    }
    return undefined;
  }

  private async call(ins: InstructionOf<'call'>, frame: Frame): Promise<Flow | undefined> {
    const proc = this.procedure(ins.proc);
    const inner = new Frame(proc.name);
    for (const p of proc.params) inner.set(p, frame.get(ins.args![p]!, ins.at));
    const flow = await this.block(proc.body, inner);
    if (flow?.kind === 'halt') return flow;
    const result = flow?.kind === 'return' ? flow.value : NULL;
    if (ins.dst) this.put(frame, ins.dst, result);
    return undefined;
  }
}

function truthy(data: Json): boolean {
  if (Array.isArray(data)) return data.length > 0;
  if (data !== null && typeof data === 'object') return Object.keys(data).length > 0;
  return Boolean(data);
}
