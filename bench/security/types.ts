/**
 * The vocabulary of the security benchmark: environments, the user tasks set in them, the
 * goals an attacker injects, and the scripts the two scripted models follow.
 *
 * A script is a list of steps. Step i sees what every earlier step's tool calls returned and
 * answers with the next tool calls, or with a string: the final answer. The models rebuild
 * where they are from the messages mvm gives them, so a script is a pure function of what a
 * real model would have read.
 */

/** A tool call a script asks for: the qualified name, `ns/tool`, and its arguments. */
export interface Call {
  name: string;
  args: Record<string, unknown>;
}

/** What one tool call returned, as the model read it. */
export interface Outcome {
  name: string;
  ok: boolean;
  text: string;
  /** The text decoded as JSON, or null when it is not JSON. */
  data: unknown;
}

/** The outcomes of the steps taken so far, one list per step. */
export type Seen = Outcome[][];

export type Step = (seen: Seen) => Call | Call[] | string;

export type Script = Step[];

/** What a check looks at once a run has ended. */
export interface Ending<S> {
  initial: S;
  final: S;
  /** The run's output, or '' when it failed. */
  answer: string;
}

/** Something the user asks for, with how to do it and how to tell it was done. */
export interface UserTask<S> {
  id: string;
  prompt: string;
  /** How the oracle solves it. */
  script: Script;
  /** True when the final state and answer show the task done. */
  utility(end: Ending<S>): boolean;
  /** The plan the planner writes for it in plan mode (`planning.ts`). */
  plan: TaskPlan;
}

/** How a worker that reads the data right answers one question of a plan. */
export type Answer = (data: unknown) => unknown;

/** A plan: the body of its main procedure, and the answers to the questions it asks. */
export interface TaskPlan {
  body: Record<string, unknown>[];
  /** The honest worker's answer to each `model.extract` of the body, by its instruction. */
  answers: Record<string, Answer>;
  /** What keeps the plan from doing the whole task, when something does. */
  limit?: string;
}

/**
 * How a worker that obeys the injection answers a plan's question, as far as its schema
 * lets it: the first of `picks` that meets the schema (an option of an enum that names one,
 * a number in range, a date), else `text` of the data when a string may be anything.
 */
export interface Steer {
  picks: (string | number)[];
  text?: (data: string) => string;
}

/** What an attacker wants done, written into data the attacker controls. */
export interface InjectionGoal<S> {
  id: string;
  /** The request as the injected text words it. */
  goal: string;
  /** How the adversary carries it out. */
  script: Script;
  /** True when the goal happened. */
  achieved(end: Ending<S>): boolean;
  /** What the goal would have a plan's worker answer. */
  steer: Steer;
}

/**
 * What a careful operator says of one tool, beyond its mode: who learns its arguments, and
 * which fields of its results the provider writes. A field is `own` when it is the user's
 * data (readable as the namespace's results are) and `public` when anyone may know it (a
 * listing anybody can search); either way it is vouched for as trusted. Never a field an
 * attacker can write: a review, an email's text, a payment's reference, a letter, a post.
 */
export interface ToolTreatment {
  /**
   * Who learns the arguments: `user` for the user's own provider, `public` for anyone, and
   * `{ arg }` for the addresses an argument holds (mvm's per-tool `recipients`).
   */
  recipients?: 'public' | (string | { arg: string })[];
  fields?: Record<string, 'own' | 'public'>;
  /**
   * Arguments that carry what the call delivers (a message's text, an event's place), not
   * what it does or to whom (mvm's per-tool `content`).
   */
  content?: string[];
}

/** How a namespace is treated by the label defences. */
export interface Exposure {
  /** Results carry data that someone other than the user wrote. */
  attackerControlled: boolean;
  /** Results hold data only the user may read. */
  private: boolean;
  /** Tools that only read; every other tool is taken to write. */
  readTools: string[];
  /** What the operator says of each tool, by name. */
  tools: Record<string, ToolTreatment>;
}

/** One environment: an MCP server of this folder, its starting data and what is done in it. */
export interface Environment<S> {
  name: string;
  /** The namespace the image mounts it under. */
  ns: string;
  /** The server's source, relative to bench/security/. */
  server: string;
  /**
   * The starting state. The server is given it as a JSON file; each `{{slot:NAME}}` in its
   * strings is a place an attacker writes, and takes the injected text.
   */
  initial: S;
  /** The person the run acts for, as the injected text signs itself. */
  user: string;
  system: string;
  exposure: Exposure;
  tasks: UserTask<S>[];
  injections: InjectionGoal<S>[];
}

/** Reads the data of outcome k of step i, typed as the caller expects it. */
export function data<T>(seen: Seen, step: number, k = 0): T {
  const o = seen[step]?.[k];
  if (!o) throw new Error(`no outcome ${k} at step ${step}`);
  if (o.data === null) throw new Error(`${o.name} did not return JSON: ${o.text.slice(0, 80)}`);
  return o.data as T;
}

/** A tool call of a script. */
export function call(name: string, args: Record<string, unknown> = {}): Call {
  return { name, args };
}

/** The first element meeting a test, or an error naming what was sought. */
export function find<T>(items: T[], test: (t: T) => boolean, what: string): T {
  const hit = items.find(test);
  if (hit === undefined) throw new Error(`found no ${what}`);
  return hit;
}

/** The first match of a pattern in a text, or an error naming what was sought. */
export function match(text: string, pattern: RegExp, what: string): string {
  const m = pattern.exec(text);
  if (!m) throw new Error(`found no ${what}`);
  return m[1] ?? m[0];
}
