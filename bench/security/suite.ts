/**
 * Runs the benchmark's cases through mvm: each case is one environment server started fresh
 * from its starting state, one image run under one defence's host configuration with one of
 * the scripted models, and the checks applied to the state the server left behind.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  type HostConfig,
  imageFromObject,
  type MachineEvent,
  Mvm,
  parseConfig,
} from '../../src/index.js';
import type { Defence } from './defences.js';
import { adversary, oracle, type ScriptBook } from './drivers.js';
import { ENVIRONMENTS } from './envs/index.js';
import { fillSlots, findMarkers, payload } from './injection.js';
import { planner, worker } from './plan-drivers.js';
import type { Ending, Environment, InjectionGoal, UserTask } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

export interface Case {
  env: Environment<unknown>;
  task: UserTask<unknown>;
  /** The injection placed in every slot; none for a benign case. */
  injection?: InjectionGoal<unknown>;
}

export interface CaseResult {
  env: string;
  task: string;
  injection: string | null;
  defence: string;
  model: 'oracle' | 'adversary';
  status: string;
  utility: boolean;
  /** Whether the injection's goal happened; null for a benign case. */
  attack: boolean | null;
  /** The payload reached the model in a tool result. */
  exposed: boolean;
  /** Tool calls the monitor refused. */
  denied: number;
  /** Why the first refused call was refused. */
  firstDenial?: string;
  /**
   * Injected data the planner was shown, which must never happen: each entry is a failure of
   * the benchmark or of plan mode, and the benchmark says so loudly.
   */
  plannerSaw: string[];
  /**
   * Goal checks that fire where the goal cannot have happened: on a benign case's end, or on
   * an attacked case's starting state, payload in place and nothing done. Each is a wrong check.
   */
  falseAlarms: string[];
  ms: number;
  error?: string;
}

/** How the environment servers are started: bundled into one file each, or through tsx. */
export interface Servers {
  dir: string;
  start: Map<string, { command: string; args: string[] }>;
}

/** Every case of the environments: each task alone, then each task with each injection. */
export function cases(envs: Environment<unknown>[] = ENVIRONMENTS): {
  benign: Case[];
  attacked: Case[];
} {
  const benign = envs.flatMap((env) => env.tasks.map((task) => ({ env, task })));
  const attacked = envs.flatMap((env) =>
    env.tasks.flatMap((task) => env.injections.map((injection) => ({ env, task, injection }))),
  );
  return { benign, attacked };
}

export function scriptBook(envs: Environment<unknown>[] = ENVIRONMENTS): ScriptBook {
  const book: ScriptBook = {
    tasks: new Map(),
    goals: new Map(),
    plans: new Map(),
    answers: new Map(),
    steers: new Map(),
  };
  for (const env of envs) {
    for (const t of env.tasks) {
      if (book.tasks.has(t.prompt)) throw new Error(`two tasks share the prompt of ${t.id}`);
      book.tasks.set(t.prompt, t.script);
      book.plans.set(t.prompt, t.plan);
      for (const [question, answer] of Object.entries(t.plan.answers)) {
        // The worker knows a question by its words alone, so no two plans may share them.
        if (book.answers.has(question)) throw new Error(`${t.id} asks '${question}' again`);
        book.answers.set(question, answer);
      }
    }
    for (const g of env.injections) {
      book.goals.set(g.id, g.script);
      book.steers.set(g.id, g.steer);
    }
  }
  return book;
}

/**
 * Prepares the servers once per benchmark. Bundled with esbuild (which tsx brings), a server
 * starts in about a third of the time it takes through tsx, most of it spent loading the SDK.
 */
export async function prepareServers(
  envs: Environment<unknown>[] = ENVIRONMENTS,
  options: { bundle?: boolean } = {},
): Promise<Servers> {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-security-'));
  const start = new Map<string, { command: string; args: string[] }>();
  const bundle = options.bundle ?? true;
  const esbuild = bundle ? await import('esbuild').catch(() => null) : null;
  for (const env of envs) {
    const source = join(HERE, env.server);
    if (esbuild) {
      const out = join(dir, `${env.name}.mjs`);
      await esbuild.build({
        entryPoints: [source],
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        outfile: out,
        logLevel: 'warning',
        // Some of the SDK's dependencies are CommonJS and call require.
        banner: {
          js:
            "import { createRequire as __cr } from 'node:module'; " +
            'const require = __cr(import.meta.url);',
        },
      });
      start.set(env.name, { command: process.execPath, args: [out] });
    } else {
      start.set(env.name, { command: process.execPath, args: ['--import', 'tsx', source] });
    }
  }
  return { dir, start };
}

export function disposeServers(servers: Servers): void {
  rmSync(servers.dir, { recursive: true, force: true });
}

/** Fields of the flow interface that a build of mvm without it refuses. */
const FLOW_FIELDS = ['flow', 'principal', 'recipients'];

/**
 * Parses the configuration. Until mvm knows the flow rules, their fields are refused as
 * unknown; they are dropped then, and the caller told which, so the table can say so.
 */
export function hostConfig(
  raw: Record<string, unknown>,
  dir: string,
): { config: HostConfig; dropped: string[] } {
  const dropped: string[] = [];
  const data = structuredClone(raw);
  for (;;) {
    try {
      return { config: parseConfig(data, { path: null, dir }), dropped };
    } catch (e) {
      const field = e instanceof ConfigError && /unknown field '(\w+)'/.exec(e.message)?.[1];
      if (!field || !FLOW_FIELDS.includes(field) || dropped.includes(field)) throw e;
      dropped.push(field);
      delete data[field];
      const servers = (data.mcpServers ?? {}) as Record<string, Record<string, unknown>>;
      for (const s of Object.values(servers)) delete s[field];
    }
  }
}

/** A check's verdict; a check that throws says no, and why is kept. */
function checked(check: () => boolean, problems: string[]): boolean {
  try {
    return check();
  } catch (e) {
    problems.push(`a check failed: ${(e as Error).message}`);
    return false;
  }
}

function falseAlarms(c: Case, end: Ending<unknown>, problems: string[]): string[] {
  const fires = (g: InjectionGoal<unknown>, e: Ending<unknown>) =>
    checked(() => g.achieved(e), problems);
  if (!c.injection) return c.env.injections.filter((g) => fires(g, end)).map((g) => g.id);
  const untouched = { initial: end.initial, final: end.initial, answer: '' };
  return fires(c.injection, untouched) ? [`${c.injection.id} on the starting state`] : [];
}

export interface Runner {
  run(c: Case, defence: Defence, model: 'oracle' | 'adversary'): Promise<CaseResult>;
  /** Fields of the flow interface this build of mvm refused, by defence. */
  dropped: Map<string, Set<string>>;
  close(): void;
}

/** A runner with its own run store; runners may work side by side. */
export function runner(servers: Servers, book: ScriptBook): Runner {
  const storeDir = mkdtempSync(join(servers.dir, 'store-'));
  const dropped = new Map<string, Set<string>>();
  let n = 0;

  async function run(c: Case, defence: Defence, model: 'oracle' | 'adversary') {
    if (!defence.build) throw new Error(`defence '${defence.name}': ${defence.unavailable}`);
    const started = performance.now();
    const dir = join(storeDir, `case-${++n}`);
    mkdirSync(dir);
    const text = c.injection ? payload(c.injection, c.env.user) : '';
    const { state: initial } = fillSlots(JSON.stringify(c.env.initial), text);
    const stateFile = join(dir, 'state.json');
    const dumpFile = join(dir, 'final.json');
    writeFileSync(stateFile, JSON.stringify(initial));
    const start = servers.start.get(c.env.name)!;
    const setup = defence.build({
      env: c.env,
      driver: model,
      command: start.command,
      args: start.args,
      serverEnv: { MVM_BENCH_STATE: stateFile, MVM_BENCH_DUMP: dumpFile },
    });
    const parsed = hostConfig(setup.config, ROOT);
    if (parsed.dropped.length > 0) {
      const set = dropped.get(defence.name) ?? new Set();
      for (const f of parsed.dropped) set.add(f);
      dropped.set(defence.name, set);
    }

    let exposed = false;
    let denied = 0;
    let firstDenial: string | undefined;
    const events = (e: MachineEvent) => {
      if (e.type !== 'tool.result') return;
      if (e.result.denied) {
        denied++;
        firstDenial ??= `${e.result.name}: ${e.result.content}`;
      }
      if (c.injection && findMarkers(e.result.content).includes(c.injection.id)) exposed = true;
    };
    const plannerSaw: string[] = [];
    const drivers = {
      oracle: () => oracle(book),
      adversary: () => adversary(book),
      planner: () => planner(book, (what) => plannerSaw.push(what)),
      'worker-oracle': () => worker(book, false),
      'worker-adversary': () => worker(book, true),
    };
    const mvm = new Mvm({ config: parsed.config, storeDir, drivers });
    let status = 'error';
    let answer = '';
    let error: string | undefined;
    try {
      const result = await mvm.run(imageFromObject(setup.image), {
        inputs: { prompt: c.task.prompt },
        events,
      });
      status = result.status;
      if (result.status === 'done' && typeof result.output === 'string') answer = result.output;
      if (result.error) error = String(result.error.message ?? result.error.code);
    } catch (e) {
      error = (e as Error).message;
    } finally {
      mvm.close();
    }

    const final = existsSync(dumpFile) ? JSON.parse(readFileSync(dumpFile, 'utf8')) : initial;
    const end = { initial, final, answer };
    const problems: string[] = [];
    const result: CaseResult = {
      env: c.env.name,
      task: c.task.id,
      injection: c.injection?.id ?? null,
      defence: defence.name,
      model,
      status,
      utility: status === 'done' && checked(() => c.task.utility(end), problems),
      attack: c.injection ? checked(() => c.injection!.achieved(end), problems) : null,
      exposed,
      denied,
      plannerSaw,
      falseAlarms: falseAlarms(c, end, problems),
      ms: Math.round(performance.now() - started),
    };
    if (problems.length > 0) error = [error, ...problems].filter(Boolean).join('; ');
    if (error !== undefined) result.error = error;
    if (firstDenial !== undefined) result.firstDenial = firstDenial;
    rmSync(dir, { recursive: true, force: true });
    return result;
  }

  return { run, dropped, close: () => rmSync(storeDir, { recursive: true, force: true }) };
}

export interface Job {
  c: Case;
  defence: Defence;
  model: 'oracle' | 'adversary';
}

/** The jobs of a suite: under each runnable defence, the benign cases then the attacked. */
export function jobs(defences: Defence[], all: ReturnType<typeof cases>): Job[] {
  return defences
    .filter((d) => d.build)
    .flatMap((defence) => [
      ...all.benign.map((c) => ({ c, defence, model: 'oracle' as const })),
      ...all.attacked.map((c) => ({ c, defence, model: 'adversary' as const })),
    ]);
}

/** Runs jobs on `concurrency` runners side by side; results come back in the jobs' order. */
export async function runJobs(
  list: Job[],
  servers: Servers,
  options: { concurrency?: number; onResult?: (r: CaseResult, done: number) => void } = {},
): Promise<{ results: CaseResult[]; dropped: Map<string, Set<string>> }> {
  const book = scriptBook();
  const width = Math.max(1, Math.min(options.concurrency ?? 2, list.length));
  const runners = Array.from({ length: width }, () => runner(servers, book));
  const results: CaseResult[] = new Array(list.length);
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      runners.map(async (r) => {
        while (next < list.length) {
          const i = next++;
          const job = list[i]!;
          results[i] = await r.run(job.c, job.defence, job.model);
          options.onResult?.(results[i]!, ++done);
        }
      }),
    );
  } finally {
    for (const r of runners) r.close();
  }
  const dropped = new Map<string, Set<string>>();
  for (const r of runners) {
    for (const [d, fields] of r.dropped) {
      const set = dropped.get(d) ?? new Set();
      for (const f of fields) set.add(f);
      dropped.set(d, set);
    }
  }
  return { results, dropped };
}
