import type { Manifest } from '../audit/manifest.js';
import type { ModelBinding } from '../models/driver.js';
import { ConfigError, MvmError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import type { LinkedImage } from '../verifier/expand.js';
import { callsOf, checkOutcome, globToRegExp } from './checks.js';
import { type HostConfig, loadConfig, parseConfig } from './config.js';
import { Mvm, type MvmOptions } from './host.js';
import { type ImageFile, readImageFile, resolveTarget, verifyFile } from './image-file.js';
import type { Suite, SuiteTask } from './suite.js';

/**
 * Runs a suite's tasks once per model and sums up each model from the runs' manifests.
 *
 * A model is a named binding, a driver and its options: one of the suite's `models`, else one
 * of the configuration's `catalogue`. For a run it fills the slots the task names (every
 * slot of the image when it names none); the other slots keep the configuration's bindings.
 * `${task}` in a binding's strings is the task's id, so a replay model keeps a file per task.
 */
export interface EvalOptions {
  /** Model names, in the order the table shows them; default: the suite's own models. */
  models?: string[];
  /** Task ids, or patterns where `*` stands for any characters; default: every task. */
  tasks?: string[];
  /** Runs per task and model; default 1. */
  repeat?: number;
  /** The run store; default each configuration's. */
  storeDir?: string;
  /** Told of each run as it ends. */
  onRun?: (run: EvalRun) => void;
  /** Stops the run under way, as an interrupt does, and makes no more. */
  signal?: AbortSignal;
  /** Drivers and host functions beyond the built-in ones, as `new Mvm` takes them. */
  mvm?: Pick<MvmOptions, 'drivers' | 'functions'>;
}

/** The name under which a run uses the configuration's own bindings, when no model is named. */
export const CONFIGURED = '(configured)';

export interface EvalRun {
  model: string;
  task: string;
  /** 1 for the first run of a task with a model, 2 for its repeat, and so on. */
  repeat: number;
  runId: string | null;
  /** The run's status; `error` when it could not start (a binding or input the host refused). */
  status: 'done' | 'failed' | 'waiting' | 'interrupted' | 'error';
  passed: boolean;
  /** Each check the run failed, in a line. */
  failures: string[];
  output: Json | null;
  error: JsonObject | null;
  /** From the manifest: the run's wall time, first journal entry to last. */
  durationMs: number | null;
  /** From the manifest, over the slots the model filled: time in model calls, tokens, cost. */
  modelMs: number;
  inputTokens: number;
  outputTokens: number;
  cost: number;
  manifest: string | null;
}

export interface ModelSummary {
  model: string;
  /** The driver and model id of its binding, as the table says them. */
  driver: string;
  runs: number;
  passed: number;
  /** Passed over runs, 0 to 1. */
  successRate: number;
  /** The median of the runs' wall times; null when no run got as far as a manifest. */
  medianLatencyMs: number | null;
  medianModelMs: number | null;
  inputTokens: number;
  outputTokens: number;
  cost: number;
}

export interface EvalReport {
  suite: { name: string; path: string; tasks: number };
  models: ModelSummary[];
  runs: EvalRun[];
  /** Whether an interrupt stopped the evaluation before every run was made. */
  interrupted: boolean;
}

/** A task read and bound: its image verified, its configuration loaded, its slots known. */
interface Prepared {
  task: SuiteTask;
  file: ImageFile;
  linked: LinkedImage;
  config: HostConfig;
  slots: string[];
}

/**
 * Runs every task of the suite with every model, one after another, and reports each run and
 * each model's figures. A suite that names an image, a configuration, a slot or a model that
 * is not there is refused with a ConfigError before any run is made. A run the host refuses
 * to start (say, a model lacking a capability the image needs) is a failed run of its model.
 *
 * ```ts
 * const report = await evaluate(loadSuite('suite.yaml'), { models: ['a', 'b'] });
 * for (const m of report.models) console.log(m.model, m.successRate);
 * ```
 */
export async function evaluate(suite: Suite, options: EvalOptions = {}): Promise<EvalReport> {
  const prepared = prepare(chosen(suite, options.tasks));
  const names = options.models ?? Object.keys(suite.models);
  const models = names.length > 0 ? names : [CONFIGURED];
  for (const name of models) for (const p of prepared) bindingOf(suite, p, name);
  const repeat = options.repeat ?? 1;

  const runs: EvalRun[] = [];
  let interrupted = false;
  outer: for (const model of models) {
    for (const p of prepared) {
      for (let r = 1; r <= repeat; r++) {
        if (options.signal?.aborted) {
          interrupted = true;
          break outer;
        }
        const run = await runOnce(suite, p, model, r, options);
        runs.push(run);
        options.onRun?.(run);
      }
    }
  }
  if (options.signal?.aborted) interrupted = true;
  const summaries = models.map((m) => summarise(m, describeModel(suite, prepared, m), runs));
  return {
    suite: { name: suite.name, path: suite.path, tasks: prepared.length },
    models: summaries,
    runs,
    interrupted,
  };
}

/** The suite with only the tasks named; a name that picks none is refused. */
function chosen(suite: Suite, names: string[] | undefined): Suite {
  if (names === undefined) return suite;
  const patterns = names.map((n) => ({ name: n, re: globToRegExp(n) }));
  for (const p of patterns) {
    if (!suite.tasks.some((t) => p.re.test(t.id))) {
      throw new ConfigError(
        'unknown_task',
        `${suite.path}: no task '${p.name}' (tasks: ${suite.tasks.map((t) => t.id).join(', ')})`,
        { file: suite.path, task: p.name },
      );
    }
  }
  return { ...suite, tasks: suite.tasks.filter((t) => patterns.some((p) => p.re.test(t.id))) };
}

function prepare(suite: Suite): Prepared[] {
  const configs = new Map<string, HostConfig>();
  const images = new Map<string, { file: ImageFile; linked: LinkedImage }>();
  return suite.tasks.map((task) => {
    const where = `${suite.path}: task '${task.id}'`;
    const target = resolveTarget(task.image);
    let image = images.get(target.image);
    if (!image) {
      const file = readImageFile(target.image);
      image = { file, linked: verifyFile(file) };
      images.set(target.image, image);
    }
    const configPath = task.config ?? target.config ?? null;
    let config = configPath === null ? undefined : configs.get(configPath);
    if (!config) {
      config = configPath
        ? loadConfig(configPath)
        : parseConfig({}, { path: null, dir: process.cwd() });
      if (configPath) configs.set(configPath, config);
    }
    const declared = Object.keys(image.linked.image.models ?? {});
    const slots = task.slots ?? declared;
    for (const slot of slots) {
      if (!declared.includes(slot)) {
        throw new ConfigError(
          'unknown_slot',
          `${where}: the image has no model slot '${slot}' (it has: ${declared.join(', ') || 'none'})`,
          { file: suite.path, task: task.id, slot },
        );
      }
    }
    return { task, file: image.file, linked: image.linked, config, slots };
  });
}

/** The binding a model name stands for in a task: the suite's, else the configuration's. */
function bindingOf(suite: Suite, p: Prepared, name: string): ModelBinding | undefined {
  if (name === CONFIGURED) return undefined;
  if (Object.hasOwn(suite.models, name)) return suite.models[name];
  if (Object.hasOwn(p.config.catalogue, name)) return p.config.catalogue[name];
  const known = [...Object.keys(suite.models), ...Object.keys(p.config.catalogue)];
  throw new ConfigError(
    'unknown_model',
    `${suite.path}: task '${p.task.id}': no model '${name}' in the suite's models or in the catalogue of ${p.config.path ?? 'its configuration'} (known: ${known.join(', ') || 'none'})`,
    { file: suite.path, task: p.task.id, model: name },
  );
}

/** The configuration with the model's binding in the task's slots, `${task}` filled. */
function boundConfig(suite: Suite, p: Prepared, model: string): HostConfig {
  const found = bindingOf(suite, p, model);
  if (found === undefined) return p.config;
  const binding = fillTask(found as Json, p.task.id) as ModelBinding;
  const put = <T>(record: Record<string, T>, value: T): Record<string, T> =>
    Object.fromEntries([...Object.entries(record), ...p.slots.map((s) => [s, value] as const)]);
  // The configuration as run, so that the run's recorded digest is of what bound it.
  const raw = {
    ...p.config.raw,
    models: put((p.config.raw.models ?? {}) as JsonObject, binding as Json),
  };
  // The slots' bindings are the suite's now: the file's places for them would mislead.
  const locate = p.config.locate;
  const located = locate && ((at: string) => (at.startsWith('models.') ? undefined : locate(at)));
  return {
    ...p.config,
    models: put(p.config.models, binding),
    raw,
    ...(located ? { locate: located } : {}),
  };
}

/** The placeholder for a task's id in a model's binding. */
const TASK = ['$', '{task}'].join('');

function fillTask(node: Json, id: string): Json {
  if (typeof node === 'string') return node.replaceAll(TASK, id);
  if (Array.isArray(node)) return node.map((n) => fillTask(n, id));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fillTask(v, id)]));
  }
  return node;
}

async function runOnce(
  suite: Suite,
  p: Prepared,
  model: string,
  repeat: number,
  options: EvalOptions,
): Promise<EvalRun> {
  const base = { model, task: p.task.id, repeat };
  // A signal of the run's own: what a run leaves listening on it goes with the run, rather
  // than piling up on the evaluation's, one run after another.
  const own = new AbortController();
  const stop = () => own.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  let mvm: Mvm | undefined;
  try {
    const config = boundConfig(suite, p, model);
    mvm = new Mvm({
      config,
      ...options.mvm,
      ...(options.storeDir ? { storeDir: options.storeDir } : {}),
    });
    const result = await mvm.run(p.file, {
      inputs: p.task.inputs,
      signal: own.signal,
    });
    const calls = callsOf(mvm.store.entries(result.runId));
    const failures = checkOutcome(p.task.expect, { ...result, calls });
    const use = usageOf(result.manifest, model === CONFIGURED ? undefined : p.slots);
    return {
      ...base,
      runId: result.runId,
      status: result.status,
      passed: failures.length === 0,
      failures,
      output: result.output,
      error: result.error,
      durationMs: result.manifest.durationMs,
      ...use,
      manifest: result.manifestPath,
    };
  } catch (e) {
    // What the host refuses for this model is a failure of the model's run, not of the suite.
    if (!(e instanceof MvmError) || e.kind === 'internal') throw e;
    const error = e.toJSON() as JsonObject;
    return {
      ...base,
      runId: null,
      status: 'error',
      passed: false,
      failures: [`the run did not start: ${e.message} [${e.code}]`],
      output: null,
      error,
      durationMs: null,
      modelMs: 0,
      inputTokens: 0,
      outputTokens: 0,
      cost: 0,
      manifest: null,
    };
  } finally {
    options.signal?.removeEventListener('abort', stop);
    mvm?.close();
  }
}

function usageOf(manifest: Manifest, slots: string[] | undefined) {
  const used = manifest.models.filter((m) => slots === undefined || slots.includes(m.slot));
  const sum = (f: (m: Manifest['models'][number]) => number) => used.reduce((n, m) => n + f(m), 0);
  return {
    modelMs: Math.round(sum((m) => m.latencyMs) * 1000) / 1000,
    inputTokens: sum((m) => m.inputTokens),
    outputTokens: sum((m) => m.outputTokens),
    cost: Math.round(sum((m) => m.cost) * 1e6) / 1e6,
  };
}

/** `driver model` of a binding, or of the configuration's slots for the configured runs. */
function describeModel(suite: Suite, prepared: Prepared[], name: string): string {
  if (name === CONFIGURED) return 'the configuration';
  const b = prepared[0] && bindingOf(suite, prepared[0], name);
  if (!b) return '';
  return typeof b.model === 'string' ? `${b.driver} ${b.model}` : b.driver;
}

/** A model's figures over its runs. */
export function summarise(model: string, driver: string, all: readonly EvalRun[]): ModelSummary {
  const runs = all.filter((r) => r.model === model);
  const passed = runs.filter((r) => r.passed).length;
  const durations = runs.flatMap((r) => (r.durationMs === null ? [] : [r.durationMs]));
  const modelMs = runs.filter((r) => r.runId !== null).map((r) => r.modelMs);
  const sum = (f: (r: EvalRun) => number) => runs.reduce((n, r) => n + f(r), 0);
  return {
    model,
    driver,
    runs: runs.length,
    passed,
    successRate: runs.length === 0 ? 0 : passed / runs.length,
    medianLatencyMs: median(durations),
    medianModelMs: median(modelMs),
    inputTokens: sum((r) => r.inputTokens),
    outputTokens: sum((r) => r.outputTokens),
    cost: Math.round(sum((r) => r.cost) * 1e6) / 1e6,
  };
}

/** The median; of an even count, the mean of the two middle values. */
export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
