/**
 * The defences the benchmark compares, each a way of configuring the host (and, for plan
 * mode, of writing the image). A defence that this build of mvm cannot run names why and is
 * reported as such.
 */
import type { Environment } from './types.js';

/** What one run needs to know to be configured. */
export interface RunSetting {
  env: Environment<unknown>;
  /** The model driver that fills the slot: `oracle` or `adversary`. */
  driver: string;
  /** How to start the environment's server. */
  command: string;
  args: string[];
  /** The server's own environment: where its state comes from and goes. */
  serverEnv: Record<string, string>;
}

/** A host configuration (as an object, the shape of mvm.yaml) and the image to run under it. */
export interface Setup {
  config: Record<string, unknown>;
  image: Record<string, unknown>;
}

export interface Defence {
  name: string;
  summary: string;
  /** Why this build cannot run it; set when `build` is not. */
  unavailable?: string;
  build?: (run: RunSetting) => Setup;
}

/** The image every loop-mode defence runs: load the namespace, then std.chat on the prompt. */
export function loopImage(env: Environment<unknown>): Record<string, unknown> {
  return {
    mvm: 1,
    name: `security-${env.name}`,
    description: `An assistant in the ${env.name} environment of the security benchmark.`,
    models: { main: { needs: ['tools'] } },
    tools: { [env.ns]: { description: `the ${env.name} environment` } },
    permissions: ['model:main', `tool:${env.ns}/*`, 'user'],
    inputs: { prompt: { type: 'string' } },
    procedures: {
      main: {
        params: ['prompt'],
        body: [
          { op: 'tool.load', ns: env.ns, dst: 'tools' },
          { op: 'history.new', system: env.system, dst: 'history' },
          { op: 'history.append', history: 'history', role: 'user', src: 'prompt' },
          {
            op: 'call',
            proc: 'std.chat',
            static: { slot: 'main', max_turns: 16 },
            args: { history: 'history', tools: 'tools' },
            dst: 'answer',
          },
          { op: 'user.show', src: 'answer' },
          { op: 'halt', src: 'answer' },
        ],
      },
    },
  };
}

function modes(env: Environment<unknown>): Record<string, 'read'> {
  return Object.fromEntries(env.exposure.readTools.map((t) => [t, 'read' as const]));
}

/** The configuration every defence starts from; `slots` are the image's model slots. */
function baseConfig(
  run: RunSetting,
  server: Record<string, unknown>,
  slots: Record<string, string> = { main: run.driver },
): Record<string, unknown> {
  const { env } = run;
  return {
    models: Object.fromEntries(Object.entries(slots).map(([s, driver]) => [s, { driver }])),
    mcpServers: {
      [env.ns]: {
        command: run.command,
        args: run.args,
        env: run.serverEnv,
        modes: modes(env),
        ...server,
      },
    },
    rules: [
      ...Object.keys(slots).map((s) => ({ allow: `model:${s}` })),
      { allow: `tool:${env.ns}/*` },
      { allow: 'user' },
    ],
    budgets: { modelCalls: 30, toolCalls: 60, wallMs: 60_000 },
  };
}

/** No defence: every result trusted and public, the flow rules off. */
const none: Defence = {
  name: 'none',
  summary: 'every namespace trusted and public; flow checks off',
  build: (run) => ({
    config: {
      ...baseConfig(run, { label: { integrity: 'trusted', readers: 'public' } }),
      flow: { untrusted: 'allow', readers: 'allow' },
    },
    image: loopImage(run.env),
  }),
};

/** How the label defences label a namespace; `confidential` adds the readers. */
function labelOf(env: Environment<unknown>, confidential: boolean) {
  const { exposure } = env;
  return {
    integrity: exposure.attackerControlled ? 'untrusted' : 'trusted',
    readers: confidential && exposure.private ? ['user'] : 'public',
  };
}

/**
 * What a careful operator writes for each tool (the environment's `exposure.tools`): who
 * learns its arguments, and which fields of its results the provider writes, vouched for as
 * trusted. A field anyone may know is public where the readers rule applies; any other keeps
 * the namespace's readers.
 */
function toolsOf(env: Environment<unknown>, confidential: boolean) {
  return Object.fromEntries(
    Object.entries(env.exposure.tools).map(([tool, t]) => {
      const out: Record<string, unknown> = {};
      if (t.recipients !== undefined) out.recipients = t.recipients;
      if (t.content !== undefined) out.content = t.content;
      if (t.fields) {
        out.fields = Object.fromEntries(
          Object.entries(t.fields).map(([path, kind]) => [
            path,
            confidential && kind === 'public'
              ? { integrity: 'trusted', readers: 'public' }
              : { integrity: 'trusted' },
          ]),
        );
      }
      return [tool, out];
    }),
  );
}

/**
 * Both flow rules deny; the user's data may go to recipients that trusted arguments name,
 * which in loop mode means a context no untrusted data has reached.
 */
const FLOW = { flow: { untrusted: 'deny', readers: 'deny', release: 'chosen' }, principal: 'user' };

/**
 * Loop mode with labels: a namespace that serves what others wrote is untrusted, and the
 * flow rules deny. With `confidential`, a namespace that serves the user's own data is also
 * readable by the user only, and its tools disclose their arguments to anyone unless the
 * operator says otherwise per tool (`perTool`): reads to the user's own provider, a mail to
 * the addresses it is sent to. So the readers rule applies too.
 */
function labelled(
  name: string,
  confidential: boolean,
  summary: string,
  perTool = confidential,
): Defence {
  return {
    name,
    summary,
    build: (run) => {
      const server: Record<string, unknown> = {
        label: labelOf(run.env, confidential),
        recipients: 'public',
      };
      if (perTool) server.tools = toolsOf(run.env, confidential);
      return { config: { ...baseConfig(run, server), ...FLOW }, image: loopImage(run.env) };
    },
  };
}

const integrity = labelled(
  'integrity',
  false,
  'attacker-writable namespaces untrusted, all data public; flow checks deny',
);

const labels = labelled(
  'labels',
  true,
  'attacker-writable namespaces untrusted, private ones readable by the user, per-tool recipients; deny',
);

/**
 * The image of plan mode: the planner is given the request and the environment's tools and
 * writes the program; the machine verifies it and runs it; its output is the run's.
 */
export function planImage(env: Environment<unknown>): Record<string, unknown> {
  return {
    mvm: 1,
    name: `security-${env.name}-plan`,
    description: `A planned assistant in the ${env.name} environment of the security benchmark.`,
    models: { planner: {}, worker: {} },
    tools: { [env.ns]: { description: `the ${env.name} environment` } },
    permissions: ['model:planner', 'model:worker', `tool:${env.ns}/*`, 'user'],
    inputs: { prompt: { type: 'string' } },
    procedures: {
      main: {
        params: ['prompt'],
        body: [
          { op: 'tool.load', ns: env.ns, dst: 'tools' },
          {
            op: 'model.plan',
            slot: 'planner',
            request: '{{prompt}}',
            tools: ['tools'],
            attempts: 2,
            dst: 'answer',
          },
          { op: 'halt', src: 'answer' },
        ],
      },
    },
  };
}

/**
 * Plan mode under a label defence's configuration: the privileged planner sees only the
 * request and writes an image; untrusted data reaches a model only through model.extract,
 * on the worker slot, which the obeying model fills when the case is attacked.
 */
function planned(name: string, confidential: boolean, summary: string): Defence {
  return {
    name,
    summary,
    build: (run) => {
      const slots = { planner: 'planner', worker: `worker-${run.driver}` };
      const server = {
        label: labelOf(run.env, confidential),
        recipients: 'public',
        tools: toolsOf(run.env, confidential),
      };
      return {
        config: { ...baseConfig(run, server, slots), ...FLOW },
        image: planImage(run.env),
      };
    },
  };
}

const plan = planned(
  'plan',
  true,
  'plan mode, labelled as under labels, with vouched fields and per-tool recipients; deny',
);

/** The same plans with the integrity rule only: what the readers rule costs plan mode. */
const planIntegrity = planned(
  'plan-integrity',
  false,
  'plan mode, labelled as under integrity (untrusted, public), with vouched fields; deny',
);

export const DEFENCES: Defence[] = [none, integrity, labels, plan, planIntegrity];
