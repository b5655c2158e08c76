import { canonicalJson } from '../audit/canonical.js';
import { join, joinAll, type Label, PUBLIC_TRUSTED, sourced } from '../labels/label.js';
import { formOf, type Part } from '../labels/parts.js';
import { taint, type Value, value, valueAt } from '../labels/value.js';
import type { Monitor } from '../monitor/monitor.js';
import { InternalError, MvmError, TrapError } from '../spec/errors.js';
import type { Instruction, InstructionOf, Json, JsonObject } from '../spec/types.js';
import { type LinkedImage, type LinkedProcedure, walk } from '../verifier/expand.js';
import type { BudgetMeter } from './budget.js';
import { Effects, type MachineEvent, type MachineHost } from './effects.js';
import { Frame, render, textOf } from './frame.js';
import { type Pending, Suspend } from './people.js';
import { Interrupt, stopIfAborted } from './stop.js';
import { DivergenceError, type Tape } from './tape.js';
import { appendMessages, checkSize, decodeToolCalls, parseJsonText } from './values.js';
import { reach, reachOfBranches } from './written.js';

/** How a block ended, when it did not simply run to its end. */
type Flow =
  | { kind: 'break' }
  | { kind: 'continue' }
  | { kind: 'return'; value: Value }
  | { kind: 'halt'; value: Value };

const BREAK: Flow = { kind: 'break' };
const CONTINUE: Flow = { kind: 'continue' };
const NULL = value(null);

export type RunStatus = 'done' | 'failed' | 'waiting' | 'interrupted';

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
  /** Whether anyone receives events: with nobody, an instruction's are not even made. */
  private readonly listened: boolean;
  /** The label of the branch conditions the current instruction runs under. */
  private pc: Label = PUBLIC_TRUSTED;
  /** Where the instruction being dispatched stands, for traps raised on writing its result. */
  private at: string | undefined;
  /** The procedures calls resolve to: the image's, or while a plan runs, the plan's. */
  private procedures: Map<string, LinkedProcedure>;
  /**
   * For each loop running in the current frame, innermost last: the label of what decided
   * how many times it went round (its list, its conditions, a branch that could break out).
   */
  private loops: { decided: Label }[] = [];
  /**
   * The label of the branches that could have returned from the current procedure before
   * here: the rest of it runs only because they did not, so it runs under their label.
   */
  private stayed: Label = PUBLIC_TRUSTED;
  private readonly commitEnd: boolean;
  private readonly signal: AbortSignal | undefined;

  constructor(options: MachineOptions) {
    this.commitEnd = options.commitEnd ?? true;
    this.linked = options.linked;
    this.procedures = options.linked.procedures;
    this.meter = options.meter;
    this.tape = options.tape;
    this.emit = options.events ?? (() => {});
    this.listened = options.events !== undefined;
    this.signal = options.signal;
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
      } else if (e instanceof Interrupt) {
        outcome = { status: 'interrupted', output: null, error: null, pending: [] };
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
    if (outcome.status === 'waiting' || outcome.status === 'interrupted') {
      // Waiting for a person, or stopped from outside: not ended, and resumed from its
      // journal. A mark on the run, not something the program did: re-execution steps over it.
      const waiting = outcome.status === 'waiting';
      const pending = outcome.pending as unknown as Json;
      this.tape.mark(
        waiting ? 'run.suspend' : 'run.interrupt',
        waiting ? { pending, used: { ...used }, wallMs } : { used: { ...used }, wallMs },
      );
      if (this.commitEnd) this.tape.flush();
      this.emit(
        waiting
          ? { type: 'run.suspend', pending: outcome.pending }
          : { type: 'run.end', status: outcome.status, error: undefined },
      );
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
    const outer = this.enter();
    this.procedures = plan.procedures;
    try {
      const main = this.procedure(plan.entry);
      const flow = await this.block(main.body, new Frame(`plan:${main.name}`));
      return flow && (flow.kind === 'return' || flow.kind === 'halt') ? flow.value : NULL;
    } finally {
      this.procedures = saved;
      this.leave(outer);
    }
  }

  /** Starts a procedure's own control state: its loops, and what it has not returned on. */
  private enter() {
    const outer = { loops: this.loops, stayed: this.stayed, pc: this.pc };
    this.loops = [];
    this.stayed = PUBLIC_TRUSTED;
    return outer;
  }

  private leave(outer: ReturnType<Machine['enter']>): void {
    this.loops = outer.loops;
    this.stayed = outer.stayed;
    this.pc = outer.pc;
  }

  /**
   * Runs instructions in order. A live instruction is announced, to whoever listens, by `step`
   * before it runs and closed by `step.end` once it has, however it ended; what re-execution
   * serves from the journal is neither. Closing it here rather than in `step` costs no extra
   * await.
   */
  private async block(body: Instruction[], frame: Frame): Promise<Flow | undefined> {
    for (const ins of body) {
      const announced = this.fetch(ins);
      let flow: Flow | undefined;
      try {
        // Most instructions finish at once; only effects and blocks are awaited.
        const stepped = this.step(ins, frame);
        flow = stepped instanceof Promise ? await stepped : stepped;
      } catch (e) {
        if (announced) this.ended(ins, e);
        throw e;
      }
      if (announced) this.emit({ type: 'step.end', at: ins.at, op: ins.op, ended: 'ok' });
      if (flow) return flow;
    }
    return undefined;
  }

  /**
   * Fetch: counts the instruction against the budget, and announces it when it runs live and
   * someone listens; true when it was announced.
   */
  private fetch(ins: Instruction): boolean {
    const at = ins.at;
    this.at = at;
    this.meter.step(at);
    if (this.tape.catchingUp) return false;
    stopIfAborted(this.signal);
    if (!this.listened) return false;
    this.emit({ type: 'step', at, op: ins.op, steps: this.meter.used.steps });
    return true;
  }

  private ended(ins: Instruction, e: unknown): void {
    const { at, op } = ins;
    if (e instanceof Suspend || e instanceof Interrupt) {
      this.emit({ type: 'step.end', at, op, ended: 'suspended' });
    } else {
      const error = e instanceof MvmError ? e : undefined;
      this.emit({ type: 'step.end', at, op, ended: 'failed', error });
    }
  }

  /** Writes a register; the value also carries the label of the branch it was written in. */
  private put(frame: Frame, reg: string, v: Value): void {
    checkSize(v.data, this.at);
    frame.set(reg, taint(v, this.pc));
  }

  /**
   * Dispatch an instruction `fetch` has counted. An effect, or a block of instructions, ends
   * when the promise it gives settles; any other instruction has ended on return.
   */
  private step(ins: Instruction, frame: Frame): Flow | undefined | Promise<Flow | undefined> {
    const at = ins.at;
    switch (ins.op) {
      case 'model.load':
        return this.effects.loadModel(ins.slot, at).then(nothing);
      case 'model.unload':
        this.effects.unloadModel(ins.slot);
        return;
      case 'model.call':
        return this.written(frame, ins.dst, this.effects.callModel(ins, frame));
      case 'model.extract':
        return this.written(frame, ins.dst, this.effects.extract(ins, frame));
      case 'model.plan':
        return this.planned(ins, frame);
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
      case 'tool.load':
        return this.written(frame, ins.dst, this.effects.loadTools(ins.ns, at));
      case 'tool.unload':
        return this.effects.unloadTools(ins.ns, at).then(nothing);
      case 'tool.call':
        return this.written(frame, ins.dst, this.effects.callTool(ins, frame));
      case 'resource.list':
        return this.written(frame, ins.dst, this.effects.listResources(ins.ns, at));
      case 'resource.read':
        return this.written(frame, ins.dst, this.effects.readResource(ins, frame));
      case 'prompt.list':
        return this.written(frame, ins.dst, this.effects.listPrompts(ins.ns, at));
      case 'prompt.get':
        return this.written(frame, ins.dst, this.effects.getPrompt(ins, frame));
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
        return this.written(frame, ins.dst, this.effects.ask(ins, frame));
      case 'user.show':
        return this.effects.show(frame.get(ins.src, at), at).then(nothing);
      case 'data.const':
        this.put(frame, ins.dst, value(ins.value));
        return;
      case 'data.move':
        this.put(frame, ins.dst, frame.get(ins.src, at));
        return;
      case 'data.get':
        this.put(frame, ins.dst, valueAt(frame.get(ins.src, at), ins.path));
        return;
      case 'data.template':
        this.put(frame, ins.dst, render(ins.template, frame, at));
        return;
      case 'data.object':
        this.put(frame, ins.dst, objectOf(ins.fields, frame, at));
        return;
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
        // How long a list is, or which keys an object has, is its form; a string's parts
        // are those of its JSON, not of its text.
        const form = typeof d === 'string' ? src.label : formOf(src.label, src.parts);
        this.put(frame, ins.dst, value(n, form));
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
      // Which value leaves, and whether it leaves here, is decided by the branches around.
      case 'return':
        return { kind: 'return', value: taint(ins.src ? frame.get(ins.src, at) : NULL, this.pc) };
      case 'halt':
        return { kind: 'halt', value: taint(ins.src ? frame.get(ins.src, at) : NULL, this.pc) };
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

  /** Writes what an effect gives, once it has; `dst` absent, the value is dropped. */
  private async written(
    frame: Frame,
    dst: string | undefined,
    effect: Promise<Value>,
  ): Promise<undefined> {
    const v = await effect;
    if (dst) this.put(frame, dst, v);
    return undefined;
  }

  private async planned(ins: InstructionOf<'model.plan'>, frame: Frame): Promise<undefined> {
    const plan = await this.effects.plan(ins, frame, this.linked.image);
    this.put(frame, ins.dst, await this.runPlan(plan, ins.at));
    return undefined;
  }

  private parseJson(ins: InstructionOf<'parse.json'>, frame: Frame): undefined {
    const src = frame.get(ins.src, ins.at);
    const parsed = parseJsonText(textOf(src.data), ins.schema);
    if (!parsed.ok && !ins.ok) {
      throw new TrapError('parse_failed', parsed.error, ins.at, { raw: textOf(src.data) });
    }
    // A string's parts describe its JSON, so the decoded value takes them.
    const decoded: Value =
      parsed.ok && src.parts
        ? { data: parsed.value, label: src.label, parts: src.parts }
        : value(parsed.ok ? parsed.value : null, src.label);
    this.put(frame, ins.dst, decoded);
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
      this.pc = join(saved, this.stayed);
    }
  }

  private async branch(ins: InstructionOf<'if'>, frame: Frame) {
    const cond = frame.get(ins.cond, ins.at);
    const body = truthy(cond.data) ? ins.then : (ins.else ?? []);
    const flow = await this.guarded(cond.label, body, frame);
    const { writes, leaves, returns } = reachOfBranches(ins);
    // A register the other branch would have written keeps its value because of cond.
    this.decidedBy(cond.label, writes, frame);
    // A branch that could leave the loop, or return, decides the rest of the loop or of the
    // procedure, whichever way it went.
    const loop = this.loops.at(-1);
    if (leaves && loop) {
      loop.decided = join(loop.decided, cond.label);
      this.pc = join(this.pc, cond.label);
    }
    if (returns) {
      this.stayed = join(this.stayed, cond.label);
      this.pc = join(this.pc, cond.label);
    }
    return flow;
  }

  /** Joins `label` into each of `regs` that the frame holds. */
  private decidedBy(label: Label, regs: readonly string[], frame: Frame): void {
    if (label === PUBLIC_TRUSTED) return;
    for (const reg of regs) {
      if (frame.has(reg)) frame.set(reg, taint(frame.get(reg), label));
    }
  }

  /**
   * Runs a loop's iterations through `next`, which says whether another one starts and what
   * decided that. Each iteration runs under what decided the loop so far; afterwards the
   * registers its body writes carry it too, since how many times they were written, and
   * which write came last, are its doing.
   */
  private async iterate(
    body: Instruction[],
    frame: Frame,
    decided: Label,
    next: (i: number) => { go: boolean; label: Label },
  ): Promise<Flow | undefined> {
    const loop = { decided };
    this.loops.push(loop);
    try {
      for (let i = 0; ; i++) {
        const { go, label } = next(i);
        loop.decided = join(loop.decided, label);
        if (!go) return undefined;
        const flow = await this.guarded(loop.decided, body, frame);
        if (flow?.kind === 'break') return undefined;
        if (flow && flow.kind !== 'continue') return flow;
      }
    } finally {
      this.loops.pop();
      this.decidedBy(loop.decided, reach(body).writes, frame);
    }
  }

  private async loop(ins: InstructionOf<'loop'>, frame: Frame): Promise<Flow | undefined> {
    return this.iterate(ins.body, frame, PUBLIC_TRUSTED, (i) => {
      let label = PUBLIC_TRUSTED;
      if (ins.while !== undefined) {
        const cond = frame.get(ins.while, ins.at);
        if (!truthy(cond.data)) return { go: false, label: cond.label };
        label = cond.label;
      }
      if (i >= ins.max) {
        if (ins.onLimit === 'stop') return { go: false, label };
        throw new TrapError('loop_limit', `loop reached its bound of ${ins.max}`, ins.at, {
          max: ins.max,
        });
      }
      return { go: true, label };
    });
  }

  private async foreach(ins: InstructionOf<'foreach'>, frame: Frame): Promise<Flow | undefined> {
    const src = frame.get(ins.src, ins.at);
    if (!Array.isArray(src.data)) {
      throw new TrapError('not_a_list', `'${ins.src}' is not a list`, ins.at);
    }
    const items = src.data;
    // How many times the body runs, and in what order, is the list's doing: its form.
    const form = formOf(src.label, src.parts);
    const flow = await this.iterate(ins.body, frame, form, (i) => {
      if (i >= items.length) return { go: false, label: PUBLIC_TRUSTED };
      this.put(frame, ins.as, valueAt(src, String(i)));
      if (ins.index) this.put(frame, ins.index, value(i, form));
      return { go: true, label: PUBLIC_TRUSTED };
    });
    this.decidedBy(form, ins.index ? [ins.as, ins.index] : [ins.as], frame);
    return flow;
  }

  private async call(ins: InstructionOf<'call'>, frame: Frame): Promise<Flow | undefined> {
    const proc = this.procedure(ins.proc);
    const inner = new Frame(proc.name);
    for (const p of proc.params) inner.set(p, frame.get(ins.args![p]!, ins.at));
    // The callee runs under the caller's branches, with loops and returns of its own.
    const outer = this.enter();
    let flow: Flow | undefined;
    try {
      flow = await this.block(proc.body, inner);
    } finally {
      this.leave(outer);
    }
    if (flow?.kind === 'halt') return flow;
    const result = flow?.kind === 'return' ? flow.value : NULL;
    if (ins.dst) this.put(frame, ins.dst, result);
    return undefined;
  }
}

/** An object of registers; each field keeps its own label and parts as a part. */
function objectOf(fields: Record<string, string>, frame: Frame, at: string | undefined): Value {
  const entries: Array<[string, Json]> = [];
  const parts: Record<string, Part> = {};
  const labels: Label[] = [];
  let own = false;
  // Labels join in the order of the keys: the journal keeps an image's keys sorted, so a
  // resumed run reads its fields in that order, and its sources must come out alike.
  for (const k of Object.keys(fields).sort()) {
    const v = frame.get(fields[k]!, at);
    entries.push([k, v.data]);
    labels.push(v.label);
    parts[k] = v.parts ? { label: v.label, parts: v.parts } : { label: v.label };
    own ||= v.parts !== undefined || v.label !== labels[0];
  }
  // fromEntries keeps a `__proto__` field as a field; assigning it would not.
  const out: JsonObject = Object.fromEntries(entries);
  const label = joinAll(labels);
  // The keys are the instruction's own; only the fields' labels differ.
  return own
    ? { data: out, label, parts: { form: PUBLIC_TRUSTED, fields: parts } }
    : value(out, label);
}

const nothing = (): undefined => undefined;

function truthy(data: Json): boolean {
  if (Array.isArray(data)) return data.length > 0;
  if (data !== null && typeof data === 'object') return Object.keys(data).length > 0;
  return Boolean(data);
}
