import { BudgetError } from '../spec/errors.js';

export interface Budgets {
  /** Instructions executed. */
  steps: number;
  modelCalls: number;
  /** Input and output tokens, summed over model calls. */
  tokens: number;
  /** Wall-clock time of the run, in milliseconds. */
  wallMs: number;
  /** Tool calls performed. */
  toolCalls: number;
}

export const DEFAULT_BUDGETS: Budgets = {
  steps: 10_000,
  modelCalls: 50,
  tokens: 1_000_000,
  wallMs: 600_000,
  toolCalls: 200,
};

export type BudgetUse = Budgets;

/** Counts what a run uses and ends it with a BudgetError when a limit is passed. */
export class BudgetMeter {
  readonly limits: Budgets;
  readonly used: BudgetUse = { steps: 0, modelCalls: 0, tokens: 0, wallMs: 0, toolCalls: 0 };
  private readonly started = Date.now();

  constructor(limits: Partial<Budgets> = {}) {
    this.limits = { ...DEFAULT_BUDGETS, ...limits };
  }

  /** Counts one instruction; also checks the clock. */
  step(at?: string): void {
    this.used.steps++;
    if (this.used.steps > this.limits.steps) {
      throw new BudgetError('steps', this.limits.steps, this.used.steps, at);
    }
    this.clock(at);
  }

  /** Brings the wall-clock figure up to date without judging it. */
  elapsed(): number {
    this.used.wallMs = Date.now() - this.started;
    return this.used.wallMs;
  }

  clock(at?: string): void {
    this.elapsed();
    if (this.used.wallMs > this.limits.wallMs) {
      throw new BudgetError('wallMs', this.limits.wallMs, this.used.wallMs, at);
    }
  }

  /** The milliseconds left before the wall-clock budget runs out. */
  remainingMs(): number {
    return Math.max(0, this.limits.wallMs - (Date.now() - this.started));
  }

  /**
   * A timer's length for an effect that may take at most `limit`: no longer than the wall
   * clock has left, at least 1 ms, and at most 2^31-1 ms, past which a timer fires at once.
   */
  timerMs(limit = Number.POSITIVE_INFINITY): number {
    return Math.min(limit, 2 ** 31 - 1, Math.max(1, this.remainingMs()));
  }

  beforeModelCall(at?: string): void {
    const over = this.modelCallOverrun();
    if (over) throw new BudgetError(over.budget, over.limit, over.used, at);
    this.used.modelCalls++;
  }

  afterModelCall(tokens: number, at?: string): void {
    this.used.tokens += tokens;
    if (this.used.tokens > this.limits.tokens) {
      throw new BudgetError('tokens', this.limits.tokens, this.used.tokens, at);
    }
  }

  /** Why a model call could not start now, when the calls or tokens are spent; else undefined. */
  noRoomForModelCall(): string | undefined {
    const over = this.modelCallOverrun();
    if (!over) return undefined;
    const what = over.budget === 'modelCalls' ? 'model calls' : 'tokens';
    return `the run's budget of ${over.limit} ${what} is spent`;
  }

  /** The budget one more model call would overrun: the calls', or the tokens' already spent. */
  private modelCallOverrun() {
    if (this.used.modelCalls + 1 > this.limits.modelCalls) {
      const used = this.used.modelCalls + 1;
      return { budget: 'modelCalls' as const, limit: this.limits.modelCalls, used };
    }
    if (this.used.tokens >= this.limits.tokens) {
      return { budget: 'tokens' as const, limit: this.limits.tokens, used: this.used.tokens };
    }
    return undefined;
  }

  /**
   * Counts a model call made for a server's sampling request, during a tool call. It never
   * throws, since the call is the server's and has happened: a run it takes past the budget
   * stops at the image's next model call.
   */
  chargeForServer(tokens: number): void {
    this.used.modelCalls++;
    this.used.tokens += tokens;
  }

  beforeToolCall(at?: string): void {
    if (this.used.toolCalls + 1 > this.limits.toolCalls) {
      throw new BudgetError('toolCalls', this.limits.toolCalls, this.used.toolCalls + 1, at);
    }
    this.used.toolCalls++;
  }
}
