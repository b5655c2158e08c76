import { createPublicKey } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { digest } from '../audit/canonical.js';
import { type JournalEntry, verifyChain } from '../audit/chain.js';
import { buildManifest, checkManifest, type Manifest } from '../audit/manifest.js';
import { checkManifestSignature } from '../audit/manifest-signature.js';
import { loadPrivateKey, loadPublicKey, signDigest } from '../audit/signing.js';
import { BudgetMeter, type Budgets } from '../interpreter/budget.js';
import type { MachineEvent, MachineHost } from '../interpreter/effects.js';
import { Machine } from '../interpreter/machine.js';
import { type Pending, type UserChannel, WAIT } from '../interpreter/people.js';
import { DivergenceError, Tape } from '../interpreter/tape.js';
import type { Label, Readers } from '../labels/label.js';
import type { Value } from '../labels/value.js';
import type { ModelDriver, ModelReply } from '../models/driver.js';
import { type ModelPin, PinnedDriver } from '../models/pin.js';
import { RecordingDriver } from '../models/record.js';
import { Monitor } from '../monitor/monitor.js';
import { ConfigError, StoreError } from '../spec/errors.js';
import type { Image, Json, JsonObject } from '../spec/types.js';
import { DEFAULT_STORE, type Journal, type RunRecord, RunStore } from '../store/store.js';
import { type HostFunction, HostFunctions } from '../tools/host-functions.js';
import { McpProvider, type McpServerSpec } from '../tools/mcp.js';
import type { McpAuth, McpClientHooks, McpEvent } from '../tools/mcp-hooks.js';
import type { ToolProvider } from '../tools/provider.js';
import type { LinkedImage } from '../verifier/expand.js';
import { type Answer, checkAnswers, pendingOf } from './answers.js';
import { bindImage, checkSignature, DRIVERS, type DriverFactory, monitorOptions } from './bind.js';
import { lockUpdateCommand, shellArg } from './command-line.js';
import { type HostConfig, type NamespaceBinding, own, RUN_DIR } from './config.js';
import { type ImageFile, imageFromObject, verifyFile } from './image-file.js';
import {
  auditLock,
  checkLock,
  type Listed,
  type LockFile,
  lockDiff,
  lockPath,
  readLock,
  writeLock,
} from './lock.js';
import { recordedDriver, recordedProviders } from './recorded.js';
import { modeOf, resourceRules, resourcesOf } from './resources.js';
import { chargeRecorded, type ServerHookContext, serverHooks } from './server-hooks.js';
import { RunTelemetry } from './telemetry.js';
import {
  chosenRecipients,
  contentArgs,
  toolLabel,
  toolRecipients,
  vouchedFields,
} from './tool-policy.js';
import { checkToolSettings } from './tool-settings.js';

export type ResumeOptions = Omit<RunOptions, 'inputs'>;

/** What `audit verify` says of the tool lock a run was held to, as the file is now. */
export interface LockStatus {
  path: string;
  status: 'matches' | 'differs' | 'changed' | 'missing' | 'unreadable';
  message: string;
}

/** The tool lock a run is held to: its file as read, where it is, and its digest. */
interface RunLock {
  path: string;
  file: LockFile;
  digest: string;
}

export interface ReplayReport {
  run: string;
  /** The chain verifies, and re-execution produced every entry the journal holds, in order. */
  ok: boolean;
  entries: number;
  /** How many recorded entries re-execution reproduced before it stopped or parted. */
  matched: number;
  head: string;
  chain: boolean;
  status: string;
  output: Json | null;
  /** The first entry where re-execution and the journal part. */
  divergence?: { seq: number; message: string };
}

export interface RunOptions {
  inputs?: Record<string, Json>;
  /** Receives the run's events as they happen. */
  events?: (event: MachineEvent) => void;
  /** Shows output to and asks questions of the user; by default nobody can answer. */
  user?: Partial<UserChannel>;
  signal?: AbortSignal;
  /**
   * Writes each model slot's live replies to a replay file when the run stops, so a real
   * session becomes a reproducible test: the path itself for a single slot, else
   * `<name>.<slot>.yaml` beside it.
   */
  record?: string;
  /** Receives what MCP servers report: log messages, list changes, the progress of calls. */
  serverEvents?: (event: McpEvent) => void;
  /**
   * Called once the run is in the store and about to execute: after it, a failure ends the
   * run in its journal; before it, the call rejects with nothing written (or, on resume,
   * with the run as it was).
   */
  started?: (runId: string) => void;
}

export interface RunResult {
  runId: string;
  /** `interrupted`: stopped by the signal given to it, and resumable as a waiting run is. */
  status: 'done' | 'failed' | 'waiting' | 'interrupted';
  output: Json | null;
  error: JsonObject | null;
  /** What a waiting run waits on. */
  pending: Pending[];
  manifest: Manifest;
  manifestPath: string;
  runDir: string;
  journal: { head: string; count: number };
}

export type { DriverFactory } from './bind.js';

export interface MvmOptions {
  config: HostConfig;
  /** The run store's folder; default the configuration's `store.dir`, else `.mvm`. */
  storeDir?: string;
  /** Tool namespaces served by functions of the application. */
  functions?: Record<string, Record<string, HostFunction>>;
  /** Drivers beyond the built-in ones, by the name a binding's `driver` gives. */
  drivers?: Record<string, DriverFactory>;
  /** OAuth for Streamable HTTP servers, by namespace; the tokens stay with each provider. */
  mcpAuth?: Record<string, McpAuth>;
}

function recordPath(path: string, slot: string, slots: number): string {
  if (slots === 1) return path;
  const dot = path.lastIndexOf('.');
  return dot > path.lastIndexOf('/')
    ? `${path.slice(0, dot)}.${slot}${path.slice(dot)}`
    : `${path}.${slot}.yaml`;
}

/** How many linked images an Mvm keeps; a host serves a handful of images, not thousands. */
const LINKED_KEPT = 32;

/** Nobody answers now: questions and confirmations suspend the run. */
const nobody: UserChannel = {
  async show() {},
  async ask() {
    return WAIT;
  },
  async confirm() {
    return WAIT;
  },
};

/** The placeholder for a run's own folder, filled when the run starts. */

function expandRunDir<T>(node: T, runDir: string): T {
  if (typeof node === 'string') return node.replaceAll(RUN_DIR, runDir) as T;
  if (Array.isArray(node)) return node.map((n) => expandRunDir(n, runDir)) as T;
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node).map(([k, v]) => [k, expandRunDir(v, runDir)]),
    ) as T;
  }
  return node;
}

/**
 * The machine as a library: binds images to a host configuration, runs them, and keeps
 * their journals and manifests in a run store.
 *
 * ```ts
 * const mvm = new Mvm({ config: loadConfig('mvm.yaml') });
 * const result = await mvm.run(readImageFile('image.yaml'), { inputs: { question: 'hi' } });
 * console.log(result.status, result.output);
 * mvm.close();
 * ```
 */
export class Mvm {
  readonly config: HostConfig;
  readonly store: RunStore;
  private readonly functions: Record<string, Record<string, HostFunction>>;
  private readonly drivers: Record<string, DriverFactory>;
  private readonly mcpAuth: Record<string, McpAuth>;
  /** Images verified and linked, by digest, most recently used last. */
  private readonly linkedImages = new Map<string, LinkedImage>();

  constructor(options: MvmOptions) {
    this.config = options.config;
    this.functions = options.functions ?? {};
    this.drivers = { ...DRIVERS, ...options.drivers };
    this.mcpAuth = options.mcpAuth ?? {};
    const dir = options.storeDir ?? options.config.store.dir ?? DEFAULT_STORE;
    this.store = RunStore.open(dir, { durability: options.config.store.durability });
  }

  /**
   * Checks that the configuration can fill every model slot and tool namespace the image
   * declares, and that the inputs are complete; throws ConfigError before anything is written.
   */
  bind(
    linked: LinkedImage,
    inputs: Record<string, Json>,
  ): {
    drivers: Map<string, ModelDriver>;
    inputs: Record<string, Json>;
  } {
    const image = linked.image;
    const ctx = { config: this.config, drivers: this.drivers, functions: this.functions };
    const { drivers, problems } = bindImage(image, ctx);
    if (problems.length > 0) throw problems[0]!;
    return { drivers, inputs: this.inputs(image, inputs) };
  }

  private inputs(image: Image, given: Record<string, Json>): Record<string, Json> {
    const out: Record<string, Json> = {};
    const decls = image.inputs ?? {};
    for (const key of Object.keys(given)) {
      if (!Object.hasOwn(decls, key)) {
        throw new ConfigError('unknown_input', `input '${key}' is not declared by the image`, {
          input: key,
        });
      }
    }
    for (const [key, decl] of Object.entries(decls)) {
      const v = Object.hasOwn(given, key)
        ? given[key]!
        : Object.hasOwn(this.config.inputs, key)
          ? this.config.inputs[key]!
          : decl.default;
      if (v === undefined) {
        throw new ConfigError('missing_input', `input '${key}' is required`, { input: key });
      }
      const type = Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v;
      if (decl.type && decl.type !== type) {
        throw new ConfigError('bad_input', `input '${key}': expected ${decl.type}, found ${type}`, {
          input: key,
        });
      }
      out[key] = v;
    }
    return out;
  }

  private provider(ns: string, runDir: string, hooks?: McpClientHooks): ToolProvider {
    const fns = own(this.functions, ns);
    if (fns) return new HostFunctions(ns, fns);
    const binding = expandRunDir(this.config.tools[ns] as NamespaceBinding, runDir);
    const {
      label: _l,
      timeoutMs: _t,
      resources: _r,
      resourceBase: _b,
      modes: _m,
      recipients: _rc,
      handles: _h,
      idempotent: _i,
      roots: _ro,
      sampling: _s,
      logLevel: _ll,
      tools: _tl,
      ...spec
    } = binding;
    const auth = this.mcpAuth[ns];
    return new McpProvider(ns, spec as McpServerSpec, { clientName: 'mvm', hooks, auth });
  }

  /**
   * What a run lends its servers' requests: a monitor over the configuration's rules, the
   * run's user, and drivers of their own, so that a sampling call does not take a recorded
   * reply meant for the image.
   */
  private lendToServers(
    user: UserChannel,
    runDir: string,
    events?: (event: McpEvent) => void,
  ): ServerHookContext {
    // The rules alone: a server's request is not the image's doing, so its permissions do
    // not bound it, and the image cannot lend a server what the operator has not granted.
    const rules = expandRunDir(this.config.rules, runDir);
    const monitor = new Monitor(rules, undefined, this.monitorOptions());
    const drivers = new Map<string, ModelDriver>();
    const driver = (slot: string) => {
      const binding = own(this.config.models, slot);
      const factory = binding && own(this.drivers, binding.driver);
      if (!binding || !factory) {
        throw new ConfigError('unbound_slot', `sampling: no model slot '${slot}'`, { slot });
      }
      // A server's sampling calls are held to the slot's pin as the image's own are.
      const pin = binding.pin as ModelPin | undefined;
      const made =
        drivers.get(slot) ??
        (pin
          ? new PinnedDriver(factory(binding, this.config), pin)
          : factory(binding, this.config));
      drivers.set(slot, made);
      return made;
    };
    return { config: this.config, monitor, user, driver, ...(events ? { events } : {}) };
  }

  /** How the arguments of a call to a tool of namespace `ns` name files and URLs. */
  private resourceRulesOf(ns: string, tool: string, runDir: string) {
    const binding = own(this.config.tools, ns);
    return resourceRules(binding && expandRunDir(binding, runDir), tool);
  }

  /**
   * How the configuration labels what tools give, and which results come as handles: the
   * same for a live run and for a replay, which must give the model what the run gave it.
   */
  private labelHooks(): Pick<MachineHost, 'namespaceLabel' | 'toolLabel' | 'vouched' | 'handles'> {
    const tools = this.config.tools;
    return {
      namespaceLabel: (ns) => this.namespaceLabel(ns),
      toolLabel: (ns, tool, hints) => toolLabel(own(tools, ns), ns, tool, hints),
      vouched: (ns, tool, hints) => vouchedFields(own(tools, ns), tool, hints),
      handles: (ns) => this.handlesOf(ns),
    };
  }

  private handlesOf(ns: string): boolean | string[] {
    return own(this.config.tools, ns)?.handles ?? false;
  }

  private namespaceLabel(ns: string): Label {
    const l = own(this.config.tools, ns)?.label;
    return {
      readers: l?.readers ?? 'public',
      integrity: l?.integrity ?? 'untrusted',
      sources: [`tool:${ns}`],
    };
  }

  private configDigestText: string | undefined;

  /** The configuration's digest, which every run records and every resume compares. */
  private configDigest(): string {
    this.configDigestText ??= digest(this.config.raw);
    return this.configDigestText;
  }

  /**
   * The tool lock beside the configuration, read once for a run: what it pins, and its
   * identity (path and digest) for the journal and the manifest. Undefined when there is none.
   */
  private readRunLock(): RunLock | undefined {
    if (!this.config.path) return undefined;
    const path = lockPath(this.config.path);
    const file = readLock(path, this.config.path);
    return file ? { path, file, digest: digest(file as unknown as Json) } : undefined;
  }

  private monitorOptions() {
    return monitorOptions(this.config);
  }

  /**
   * Who learns what reaches a sink; a model works for the principal unless told otherwise.
   * A tool's own recipients may be drawn from the call's arguments.
   */
  private recipientsOf(sink: string, args?: JsonObject): Readers {
    const principal = [this.config.principal];
    if (sink === 'user') return principal;
    if (sink.startsWith('model:')) {
      const r = own(this.config.models, sink.slice(6))?.recipients;
      return (r as Readers | undefined) ?? principal;
    }
    // tool:NS/NAME, resource:NS/URI or prompt:NS/NAME: the namespace's server learns it,
    // and a tool may say who else does.
    const ns = sink.slice(sink.indexOf(':') + 1, sink.indexOf('/'));
    const binding = own(this.config.tools, ns);
    const tool = sink.startsWith('tool:')
      ? toolRecipients(binding, sink.slice(sink.indexOf('/') + 1), args)
      : undefined;
    return tool ?? binding?.recipients ?? 'public';
  }

  /**
   * Verifies an image once per digest. The verifier reads the image alone (the grants are
   * checked by `bind`, on every run), so the same digest links the same way; an image file's
   * digest must be its data's, as `readImageFile` and `imageFromObject` make it, which the
   * signature check and the journal rely on already. A linked image is not changed by runs.
   */
  private link(file: ImageFile): LinkedImage {
    const known = this.linkedImages.get(file.digest);
    if (known) {
      this.linkedImages.delete(file.digest);
      this.linkedImages.set(file.digest, known);
      return known;
    }
    const linked = verifyFile(file);
    if (this.linkedImages.size >= LINKED_KEPT) {
      this.linkedImages.delete(this.linkedImages.keys().next().value!);
    }
    this.linkedImages.set(file.digest, linked);
    return linked;
  }

  /** Verifies, binds and runs an image; the journal and manifest stay in the store. */
  async run(file: ImageFile, options: RunOptions = {}): Promise<RunResult> {
    checkSignature(file, this.config);
    if (options.record && !existsSync(dirname(resolve(options.record)))) {
      throw new ConfigError('bad_record_path', `--record ${options.record}: no such folder`, {
        file: options.record,
      });
    }
    const linked = this.link(file);
    const bound = this.bind(linked, options.inputs ?? {});
    const image = linked.image;
    const lock = this.readRunLock();
    const start: JsonObject = {
      image: { name: image.name, digest: file.digest, path: file.path },
      config: { path: this.config.path, digest: this.configDigest() },
      lock: lock ? { path: lock.path, digest: lock.digest } : null,
      inputs: bound.inputs,
      budgets: { ...new BudgetMeter(this.config.budgets).limits },
      source: file.data as Json,
    };

    // What the run is must be on disk before it does anything: resume starts from it. The
    // run and its first entry are committed together.
    let run: RunRecord | undefined;
    let tape: Tape;
    try {
      tape = this.store.transaction(() => {
        run = this.store.createRun({
          imageName: image.name,
          imageDigest: file.digest,
          configPath: this.config.path,
        });
        const t = new Tape(this.store.journal(run.id));
        t.mark('run.start', start);
        t.flush();
        return t;
      });
    } catch (e) {
      if (run) this.store.release(run.id);
      throw e;
    }
    options.started?.(run!.id);
    return this.execute(run!, linked, bound, tape, lock, options);
  }

  /**
   * Resumes a waiting run (or one whose process stopped while it was running) in this
   * process: records the answers, then re-executes the image against its journal, serving
   * every recorded outcome, and goes on live from where it stopped.
   *
   * ```ts
   * await mvm.resume(runId, [{ id: 'c1', verdict: 'approve' }]);
   * ```
   */
  async resume(idOrPrefix: string, answers: Answer[], options: ResumeOptions = {}) {
    const run = this.store.findRun(idOrPrefix);
    // Read once: the audit, the answers, the replies and the tape all work from these.
    const entries = this.store.entries(run.id);
    const chain = this.audit(run, entries).report;
    if (!chain.ok) {
      throw new ConfigError(
        'journal_invalid',
        `run ${run.id}: the journal does not verify: ${chain.problems[0]!.message}`,
        {
          run: run.id,
        },
      );
    }
    if (run.status === 'done' || run.status === 'failed') {
      throw new ConfigError(
        'not_resumable',
        `run ${run.id} has ended (${run.status}); only a waiting or stopped run resumes`,
        {
          run: run.id,
        },
      );
    }
    if (entries[0]?.type !== 'run.start') {
      throw new ConfigError(
        'not_started',
        `run ${run.id} stopped before it began; run the image again`,
        {
          run: run.id,
        },
      );
    }
    const start = entries[0].data as JsonObject;
    const config = start.config as JsonObject;
    if (config.digest !== this.configDigest()) {
      throw new ConfigError(
        'config_changed',
        config.path === this.config.path
          ? `run ${run.id} was started under ${String(config.path)} as it was then, and the file has changed since; put it back as it was, or resume with --config naming a copy of it as it was`
          : config.path === null
            ? `run ${run.id} was started under another host configuration, given as an object; resume it under the same one`
            : `run ${run.id} was started under another host configuration, ${String(config.path)}; resume it with --config ${shellArg(String(config.path))}`,
        { run: run.id, config: config.path ?? null },
      );
    }
    const pending = pendingOf(entries);
    const checked = checkAnswers(run.id, run.status, pending, answers);
    // The run goes on held to the lock it started with: the manifest names that one. A lock
    // that cannot be read, or that changed, stops the resume before the run is claimed.
    const lock = this.readRunLock();
    const was = (start.lock ?? null) as { path: string; digest: string } | null;
    if ((lock?.digest ?? null) !== (was?.digest ?? null)) {
      const path = lock?.path ?? was?.path;
      throw new ConfigError(
        'lock_changed',
        !was
          ? `run ${run.id} was started with no tool lock, and ${path} has been written since; resume it without one`
          : !lock
            ? `run ${run.id} was started held to ${path}, which is gone; put it back to resume`
            : `run ${run.id} was started held to ${path} as it was then, and the lock has changed since; resume it under the same lock`,
        { run: run.id, lock: path ?? null },
      );
    }

    const file = imageFromObject(start.source);
    const linked = this.link(file);
    const bound = this.bind(linked, start.inputs as Record<string, Json>);
    for (const [slot, driver] of bound.drivers) {
      const replies = entries
        .filter((e) => e.type === 'model.reply' && (e.data as JsonObject).slot === slot)
        .map((e) => (e.data as JsonObject).reply as unknown as ModelReply);
      driver.resumeAfter?.(replies);
    }

    // Taking the run, its answers and its status are one commit: until then it is as it was.
    const recorded = [...entries];
    let journal: Journal | undefined;
    let appended = false;
    try {
      journal = this.store.transaction(() => {
        this.store.claim(run.id);
        const j = this.store.journal(run.id);
        if (j.head !== run.head || j.count !== run.count) {
          throw new StoreError('run_changed', `run ${run.id} moved on while it was read`, {
            run: run.id,
          });
        }
        appended = true;
        for (const a of checked) recorded.push(j.append(...answerEntry(a)));
        const resumed = { answers: checked.map((a) => a.id), after: run.status };
        recorded.push(j.append('run.resume', resumed));
        j.flush();
        this.store.setStatus(run.id, 'running');
        return j;
      });
    } catch (e) {
      // What this appended was rolled back with the transaction: the object must not go on
      // from it. One this did not write to is left alone: this process may be running it.
      if (appended) this.store.release(run.id);
      throw e;
    }
    options.started?.(run.id);
    return this.execute(run, linked, bound, new Tape(journal, recorded), lock, options);
  }

  /**
   * Re-executes a run against its journal without touching the world: every model reply,
   * tool result and answer comes from the journal, and each entry the machine produces must
   * match the recorded one. Reports the first entry where they part. `image` replays another
   * version of the image against the same journal.
   *
   * ```ts
   * const r = await mvm.replay(runId); // r.ok, r.divergence?.seq
   * ```
   */
  async replay(idOrPrefix: string, options: { image?: ImageFile } = {}): Promise<ReplayReport> {
    const run = this.store.findRun(idOrPrefix);
    const entries = this.store.entries(run.id);
    const chain = verifyChain(entries, { head: run.head, count: run.count });
    const start = entries[0]?.data as JsonObject;
    const file = options.image ?? imageFromObject(start.source);
    const linked = this.link(file);
    const slots = Object.keys(linked.image.models ?? {});
    const drivers = new Map(slots.map((s) => [s, recordedDriver(s, entries)] as const));
    const providerOf = recordedProviders(entries);
    const answersOnly: UserChannel = { ...nobody };
    const host: MachineHost = {
      model: async (slot) => drivers.get(slot)!,
      provider: async (ns) => providerOf(ns),
      ...this.labelHooks(),
      memory: { get: () => undefined, put: () => {} },
      user: answersOnly,
      toolTimeoutMs: this.config.toolTimeoutMs,
    };
    const tape = new Tape(this.store.journal(run.id), entries, true);
    const meter = new BudgetMeter({ ...((start.budgets ?? {}) as Partial<Budgets>) });
    chargeSamples(tape, meter);
    const machine = new Machine({
      linked,
      host,
      monitor: new Monitor([], [], this.monitorOptions()),
      tape,
      meter,
    });
    let outcome: Awaited<ReturnType<Machine['run']>>;
    try {
      outcome = await machine.run(start.inputs as Record<string, Json>);
    } finally {
      // A replay only reads: the journal object it opened is not kept.
      this.store.release(run.id);
    }
    const diverged = outcome.error instanceof DivergenceError ? outcome.error : undefined;
    const consumed = tape.catchingUp ? tape.position : entries.length;
    const report: ReplayReport = {
      run: run.id,
      ok: chain.ok && !diverged && !tape.catchingUp,
      entries: entries.length,
      matched: diverged ? Number(diverged.data.seq) - 1 : consumed,
      head: chain.head,
      chain: chain.ok,
      status: outcome.status,
      output: outcome.output?.data ?? null,
    };
    if (diverged) report.divergence = { seq: Number(diverged.data.seq), message: diverged.message };
    else if (tape.catchingUp) {
      report.divergence = {
        seq: entries[tape.position]?.seq ?? entries.length,
        message: `re-execution ended before the journal did, at entry ${entries[tape.position]?.seq}`,
      };
    }
    return report;
  }

  private async execute(
    run: RunRecord,
    linked: LinkedImage,
    bound: ReturnType<Mvm['bind']>,
    tape: Tape,
    lock: RunLock | undefined,
    options: RunOptions,
  ): Promise<RunResult> {
    const providers: ToolProvider[] = [];
    const scope = linked.image.name;
    const user: UserChannel = { ...nobody, ...options.user };
    // How a tool's arguments name files and URLs, worked out once per run.
    const rules = new Map<string, ReturnType<typeof resourceRules>>();
    const touched = (ns: string, tool: string, args: JsonObject) => {
      const key = `${ns}/${tool}`;
      if (!rules.has(key)) rules.set(key, this.resourceRulesOf(ns, tool, run.dir));
      return resourcesOf(args, rules.get(key));
    };
    // A person asked to confirm a tool call sees what it would touch, too.
    const ask = user.confirm.bind(user);
    user.confirm = (request) => {
      if (request.kind !== 'tool' && request.kind !== 'unknown_outcome') return ask(request);
      const slash = Math.max(0, request.tool.indexOf('/'));
      const [ns, tool] = [request.tool.slice(0, slash), request.tool.slice(slash + 1)];
      return ask({ ...request, touches: touched(ns, tool, request.args) });
    };
    const meter = new BudgetMeter(this.config.budgets);
    const offered = new Map<string, Set<string>>();
    // Spans only when the host application registered an SDK that records the run's.
    const telemetry = RunTelemetry.start(
      { runId: run.id, image: scope, imageDigest: run.imageDigest, resumed: tape.catchingUp },
      this.config.telemetry,
    );
    const lend = this.lendToServers(user, run.dir, options.serverEvents);
    lend.record = (type, data) => tape.mark(type, data);
    // A server's sampling calls are charged to the run like its own, and traced alike.
    lend.meter = meter;
    chargeSamples(tape, meter);
    if (telemetry) {
      const made = lend.driver;
      lend.driver = (slot) => telemetry.driver(slot, made(slot), own(this.config.models, slot));
    }
    const host: MachineHost = {
      model: async (slot) => bound.drivers.get(slot)!,
      provider: async (ns) => {
        const p = this.provider(ns, run.dir, serverHooks(ns, lend));
        providers.push(p);
        await p.connect();
        return telemetry ? telemetry.provider(p) : p;
      },
      ...this.labelHooks(),
      memory: {
        get: (key) => {
          const found = this.store.memoryGet(scope, key);
          return found ? ({ data: found.data, label: found.label } as unknown as Value) : undefined;
        },
        put: (key, v) =>
          this.store.memoryPut(scope, key, v.data, v.label as unknown as Json, run.id),
      },
      user,
      toolTimeoutMs: this.config.toolTimeoutMs,
      toolTimeout: (ns) => this.config.tools[ns]?.timeoutMs,
      modeOf: (ns, tool, hints) => modeOf(own(this.config.tools, ns), tool, hints),
      recipientsOf: (sink, args) => this.recipientsOf(sink, args),
      // Only a policy that releases to them needs to know whom a call's arguments chose.
      ...(this.config.flow.release === 'chosen'
        ? {
            chosenRecipients: (
              ns: string,
              tool: string,
              args: JsonObject,
              trusted: (arg: string) => boolean,
            ) => ({
              by: this.config.principal,
              recipients: chosenRecipients(own(this.config.tools, ns), tool, args, trusted),
            }),
          }
        : {}),
      contentArgs: (ns, tool) => contentArgs(own(this.config.tools, ns), tool),
      idempotent: (ns, tool) => {
        const which = own(this.config.tools, ns)?.idempotent ?? false;
        return Array.isArray(which) ? which.includes(tool) : which;
      },
      // Held to the lock as it was read when the run started or resumed; the settings of
      // single tools must name tools and arguments the server has. A tool offered once and
      // dropped by a later list keeps its settings.
      checkTools: (ns, defs, server) => {
        if (lock) checkLock(lock.file, ns, { server, defs }, lock.path, this.config.path);
        const seen = offered.get(ns) ?? new Set<string>();
        for (const d of defs) seen.add(d.name);
        offered.set(ns, seen);
        checkToolSettings(this.config, ns, defs, seen);
      },
      resourcesOf: touched,
    };

    const recorders = new Map<string, RecordingDriver>();
    if (options.record) {
      for (const [slot, driver] of bound.drivers) {
        const r = new RecordingDriver(driver);
        recorders.set(slot, r);
        bound.drivers.set(slot, r);
      }
    }
    if (telemetry) {
      for (const [slot, d] of bound.drivers) {
        bound.drivers.set(slot, telemetry.driver(slot, d, this.config.models[slot]));
      }
    }

    const machine = new Machine({
      linked,
      host,
      monitor: new Monitor(
        expandRunDir(this.config.rules, run.dir),
        linked.image.permissions ?? [],
        this.monitorOptions(),
      ),
      tape,
      meter,
      events: telemetry ? telemetry.listen(options.events) : options.events,
      signal: options.signal,
      // The end is committed below, with the run's status and its manifest.
      commitEnd: false,
    });
    let outcome: Awaited<ReturnType<Machine['run']>>;
    try {
      const running = () => machine.run(bound.inputs);
      outcome = await (telemetry ? telemetry.within(running) : running());
    } catch (e) {
      telemetry?.end('failed', e);
      throw e;
    } finally {
      await Promise.allSettled(providers.map((p) => p.close()));
      for (const [slot, r] of recorders) r.save(recordPath(options.record!, slot, recorders.size));
    }
    telemetry?.end(outcome.status, outcome.error ?? undefined, outcome.pending.length);
    const error = outcome.error ? (outcome.error.toJSON() as JsonObject) : null;
    const output = outcome.output?.data ?? null;

    const manifest = buildManifest(run.id, tape.entries);
    if (this.config.manifestKey) {
      manifest.signature = signDigest(digest(manifest), loadPrivateKey(this.config.manifestKey));
    }
    // The journal's last entries, the run's status and its manifest: one commit.
    this.store.settle(run.id, outcome.status, {
      output,
      error,
      manifest: manifest as unknown as Json,
    });
    const manifestPath = join(run.dir, 'manifest.json');
    writeOver(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    const journal = tape.journal;
    return {
      runId: run.id,
      status: outcome.status,
      output,
      error,
      pending: outcome.pending,
      manifest,
      manifestPath,
      runDir: run.dir,
      journal: { head: journal.head, count: journal.count },
    };
  }

  /**
   * The files and URLs a call of a run to `tool` (`NS/NAME`) with these arguments touches,
   * as the configuration's resource rules name them: what a person asked to confirm the
   * call is shown.
   *
   * ```ts
   * mvm.touches(runId, 'fs/write_file', { path: 'a.md' }); // ['fs:/srv/notes/a.md']
   * ```
   */
  touches(runId: string, tool: string, args: JsonObject): string[] {
    const slash = tool.indexOf('/');
    if (slash <= 0) return [];
    const run = this.store.findRun(runId);
    const ns = tool.slice(0, slash);
    return resourcesOf(args, this.resourceRulesOf(ns, tool.slice(slash + 1), run.dir));
  }

  /** Checks a run's journal against its hash chain and the anchor kept beside it. */
  auditRun(idOrPrefix: string, publicKeys: string[] = []) {
    const run = this.store.findRun(idOrPrefix);
    return this.audit(run, this.store.entries(run.id), publicKeys);
  }

  private audit(run: RunRecord, entries: readonly JournalEntry[], publicKeys: string[] = []) {
    const report = verifyChain(entries, { head: run.head, count: run.count });
    const manifest = this.store.getManifest(run.id) as unknown as Manifest | undefined;
    const keys = publicKeys.map(loadPublicKey);
    if (this.config.manifestKey)
      keys.push(createPublicKey(loadPrivateKey(this.config.manifestKey)));
    const { signature, problems } = checkManifestSignature(manifest, keys, entries.length);
    report.problems.push(...problems);
    Object.assign(report, { signature });
    if (signature.state === 'verified') Object.assign(report, { signedBy: signature.key });
    if (manifest) report.problems.push(...checkManifest(manifest, entries));
    const lock = this.auditedLock(entries);
    if (lock) {
      report.problems.push(...lock.problems);
      Object.assign(report, { lock: lock.said });
    }
    report.ok = report.problems.length === 0;
    // A run still under way (or stopped mid-way) may have gone on since its last manifest,
    // from a suspension; the journal must then extend what that manifest saw.
    const extends_ =
      run.status === 'running' && manifest && entries.some((e) => e.hash === manifest.journal.head);
    if (manifest && manifest.journal.head !== report.head && !extends_) {
      report.ok = false;
      report.problems.push({
        seq: entries.length,
        code: 'head_mismatch',
        message: `journal head ${report.head.slice(0, 12)} differs from the manifest's ${manifest.journal.head.slice(0, 12)}`,
      });
    }
    return { run, report };
  }

  /**
   * The tool lock a run was held to, as it is now: the same file (same digest), and then the
   * tools the journal pins must be the ones it pins; changed since, gone, or unreadable, in
   * which case nothing more is checked, since a lock may be updated after review. Undefined
   * for a run held to no lock.
   */
  private auditedLock(entries: readonly JournalEntry[]) {
    const start = entries[0]?.type === 'run.start' ? (entries[0].data as JsonObject) : undefined;
    const held = (start?.lock ?? null) as { path: string; digest: string } | null;
    if (!held) return undefined;
    const said = (status: LockStatus['status'], message: string): LockStatus => ({
      path: held.path,
      status,
      message,
    });
    let file: LockFile | undefined;
    try {
      file = readLock(held.path);
    } catch (e) {
      return { problems: [], said: said('unreadable', `${(e as Error).message}; not checked`) };
    }
    if (!file) {
      return { problems: [], said: said('missing', 'no longer there; the tools are not checked') };
    }
    const now = digest(file as unknown as Json);
    if (now !== held.digest) {
      const was = `${held.digest.slice(0, 19)}…, now ${now.slice(0, 19)}…`;
      return {
        problems: [],
        said: said('changed', `changed since the run (held to ${was}); the tools are not checked`),
      };
    }
    const problems = auditLock(file, held.path, entries);
    return {
      problems,
      said: said(
        problems.length === 0 ? 'matches' : 'differs',
        problems.length === 0
          ? 'the one the run was held to; every tool the run loaded is pinned there'
          : 'the one the run was held to, but the tools the journal pins are not',
      ),
    };
  }

  /**
   * Lists every tool namespace of the configuration and writes `mvm.lock` beside it. With a
   * lock already there and `update` false, a difference is refused with the diff.
   */
  async lock(update = false): Promise<{ path: string; diff: string[] }> {
    if (!this.config.path) {
      throw new ConfigError('no_config_file', 'a lock is kept beside a configuration file');
    }
    const path = lockPath(this.config.path);
    // A lock that cannot be read is replaced on --update: there is nothing in it to compare.
    let existing: ReturnType<typeof readLock>;
    try {
      existing = readLock(path, this.config.path);
    } catch (e) {
      if (!update || !(e instanceof ConfigError) || e.code !== 'bad_lock') throw e;
    }
    const scratch = mkdtempSync(join(tmpdir(), 'mvm-lock-'));
    const listed: Record<string, Listed> = {};
    try {
      for (const ns of Object.keys(this.config.tools)) {
        // The same capabilities as a run declares: some servers offer tools by them.
        const p = this.provider(ns, scratch, serverHooks(ns, this.lendToServers(nobody, scratch)));
        try {
          await p.connect();
          listed[ns] = { defs: await p.list(), server: p.describe() };
          checkToolSettings(this.config, ns, listed[ns].defs);
        } finally {
          await p.close();
        }
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    const diff = existing
      ? Object.entries(listed).flatMap(([ns, l]) => lockDiff(existing, ns, l))
      : [];
    if (existing && diff.length > 0 && !update) {
      throw new ConfigError(
        'lock_mismatch',
        `the tools differ from ${path}; review, then ${lockUpdateCommand(this.config.path)}:\n  ${diff.join('\n  ')}`,
        {
          diff,
        },
      );
    }
    writeLock(path, listed);
    return { path, diff };
  }

  close(): void {
    this.store.close();
  }
}

/**
 * Writes a file whole, over what it held: a resumed run's manifest replaces the one written
 * when it suspended. Written into the file's place rather than after truncating it, which
 * frees its blocks only to allocate them again, five times slower on this kind of file
 * system. Either way a process killed mid-write leaves the file unreadable until the next
 * write; the store holds the manifest that counts. The run's folder is made again if gone.
 */
function writeOver(path: string, text: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o666);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT, 0o666);
  }
  try {
    const bytes = Buffer.from(text);
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, done);
    ftruncateSync(fd, bytes.length);
  } finally {
    closeSync(fd);
  }
}

/** The journal entry that records an answer: its type and data. */
function answerEntry(a: Answer): [type: string, data: JsonObject] {
  if ('answer' in a) return ['user.answer', { id: a.id, answer: a.answer }];
  const data: JsonObject = { id: a.id, verdict: a.verdict };
  if (a.reason !== undefined) data.reason = a.reason;
  return ['confirm.answer', data];
}

/** The sampling calls a journal records count against the budgets as it is read again. */
function chargeSamples(tape: Tape, meter: BudgetMeter): void {
  tape.onMark = (e) => {
    if (e.type === 'server.sample') chargeRecorded(meter, e.data);
  };
}
