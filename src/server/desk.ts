import type { Answer } from '../host/answers.js';
import type { Mvm, RunOptions, RunResult } from '../host/host.js';
import type { ImageFile } from '../host/image-file.js';
import { type UserChannel, WAIT } from '../interpreter/people.js';
import { ConfigError, StoreError } from '../spec/errors.js';
import type { Json } from '../spec/types.js';

/** An image the server may start, by name. */
export interface ServeTarget {
  name: string;
  image: ImageFile;
}

/** What the server reports; the CLI prints these, a test collects them. */
export type ServeEvent =
  | { type: 'listening'; url: string; host: string; port: number }
  | { type: 'run.started'; runId: string; target: string }
  | { type: 'run.resumed'; runId: string; answers: string[] }
  | { type: 'run.stopped'; runId: string; status: RunResult['status'] }
  | { type: 'run.crashed'; runId: string; message: string }
  | { type: 'refused'; method: string; path: string; status: number; message: string }
  /** A request the server could not handle: a fault of its own, with the stack. */
  | { type: 'internal'; message: string };

export type ServeLog = (event: ServeEvent) => void;

/** Nobody is at a terminal: every question and confirmation suspends the run. */
const inbox: Partial<UserChannel> = {
  async ask() {
    return WAIT;
  },
  async confirm() {
    return WAIT;
  },
};

/**
 * The runs a server carries on in the background: it starts them, resumes them with
 * people's answers, and knows which are under way here, so that no run is carried on twice.
 * `start` and `answer` settle once the run is under way, or reject, with nothing written,
 * when it cannot start: bad inputs, or answers that do not meet what the run waits on.
 */
export class RunDesk {
  private readonly busy = new Set<string>();
  private readonly going = new Set<Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly mvm: Mvm,
    private readonly targets: readonly ServeTarget[],
    private readonly log: ServeLog,
  ) {}

  /** Whether this server is carrying the run on now. */
  carrying(runId: string): boolean {
    return this.busy.has(runId);
  }

  targetNames(): string[] {
    return this.targets.map((t) => t.name);
  }

  async start(name: string | undefined, inputs: Record<string, Json>): Promise<string> {
    const target = name === undefined ? this.targets[0] : this.targets.find((t) => t.name === name);
    if (!target) {
      const known = this.targetNames().join(', ') || 'none';
      throw new ConfigError('unknown_target', `no target '${name ?? ''}' (known: ${known})`, {
        target: name,
      });
    }
    const runId = await this.launch((o) => this.mvm.run(target.image, { ...o, inputs }));
    this.log({ type: 'run.started', runId, target: target.name });
    return runId;
  }

  async answer(idOrPrefix: string, answers: Answer[]): Promise<string> {
    const run = this.mvm.store.findRun(idOrPrefix);
    if (this.busy.has(run.id)) {
      throw new StoreError('run_in_progress', `run ${run.id} is under way in this server`, {
        run: run.id,
      });
    }
    const runId = await this.launch((o) => this.mvm.resume(run.id, answers, o), run.id);
    this.log({ type: 'run.resumed', runId, answers: answers.map((a) => a.id) });
    return runId;
  }

  /** Cancels the runs under way and waits until each has written its end. */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.going]);
  }

  /** Runs `go` in the background; a run known ahead is held from the start, not once begun. */
  private launch(go: (o: RunOptions) => Promise<RunResult>, known?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let runId: string | undefined;
      if (known !== undefined) this.busy.add(known);
      const options: RunOptions = {
        user: inbox,
        signal: this.stop.signal,
        started: (id) => {
          runId = id;
          this.busy.add(id);
          resolve(id);
        },
      };
      const settled = go(options)
        .then(
          (r) => this.log({ type: 'run.stopped', runId: r.runId, status: r.status }),
          (e: unknown) => {
            if (runId === undefined) reject(e);
            else this.log({ type: 'run.crashed', runId, message: (e as Error).message });
          },
        )
        .finally(() => {
          const held = runId ?? known;
          if (held !== undefined) this.busy.delete(held);
          this.going.delete(settled);
        });
      this.going.add(settled);
    });
  }
}

const VERDICTS = new Set(['approve', 'deny', 'always']);

/**
 * Answers from a request body: a list as `resume` takes them, or `{ answers: [...] }`.
 * Only the shape is checked here; whether they meet the pending requests is resume's to say.
 */
export function answersFrom(body: unknown): Answer[] {
  const list = Array.isArray(body) ? body : (body as { answers?: unknown } | null)?.answers;
  const bad = (why: string, at?: number): never => {
    const where = at === undefined ? '' : `[${at}]: `;
    throw new ConfigError('bad_answers', `${where}${why}`, at === undefined ? {} : { at });
  };
  if (!Array.isArray(list)) return bad('expected a list of answers');
  return list.map((a: unknown, i): Answer => {
    if (a === null || typeof a !== 'object' || Array.isArray(a))
      return bad('expected an object', i);
    const o = a as Record<string, unknown>;
    if (typeof o.id !== 'string') return bad("expected an 'id' string", i);
    if ('answer' in o) {
      if ('verdict' in o) return bad("expected 'answer' or 'verdict', not both", i);
      return { id: o.id, answer: o.answer as Json };
    }
    if (typeof o.verdict !== 'string' || !VERDICTS.has(o.verdict)) {
      return bad("expected 'verdict': approve | deny | always, or an 'answer'", i);
    }
    const verdict = o.verdict as 'approve' | 'deny' | 'always';
    if (o.reason === undefined) return { id: o.id, verdict };
    if (typeof o.reason !== 'string') return bad("expected 'reason' to be a string", i);
    return { id: o.id, verdict, reason: o.reason };
  });
}
