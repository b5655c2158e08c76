/**
 * The error classes of mvm, one per phase. Each has a stable string code, structured data
 * and an optional cause; messages are lowercase and short.
 *
 * ```ts
 * try { await run(...) } catch (e) { if (e instanceof MvmError) console.log(e.kind, e.code) }
 * ```
 */
export type ErrorKind =
  | 'verify'
  | 'config'
  | 'policy'
  | 'flow'
  | 'trap'
  | 'budget'
  | 'driver'
  | 'provider'
  | 'store'
  | 'replay'
  | 'internal';

export class MvmError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    data: Record<string, unknown> = {},
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.kind = kind;
    this.code = code;
    this.data = data;
    this.name = `${kind[0]!.toUpperCase()}${kind.slice(1)}Error`;
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, code: this.code, message: this.message, ...this.data };
  }
}

/** One problem the verifier found, pointing at its instruction. */
export interface VerifyIssue {
  code: string;
  message: string;
  /** Where, as `procedures.main.body[2].then[0]`, or a top-level key. */
  at: string;
}

export class VerifyError extends MvmError {
  readonly issues: VerifyIssue[];

  constructor(issues: VerifyIssue[], file?: string) {
    const first = issues[0];
    const head = first ? `${first.at}: ${first.message}` : 'invalid image';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super('verify', first?.code ?? 'invalid', `${file ? `${file}: ` : ''}${head}${more}`, {
      file,
      issues,
    });
    this.issues = issues;
  }
}

/** A host configuration, image file or replay file that cannot be read or is malformed. */
export class ConfigError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('config', code, message, data, cause);
  }
}

export class PolicyError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}) {
    super('policy', code, message, data);
  }
}

/** The running program did something its verified shape allows but its values do not. */
export class TrapError extends MvmError {
  constructor(code: string, message: string, at?: string, data: Record<string, unknown> = {}) {
    super('trap', code, at ? `${at}: ${message}` : message, { at, ...data });
  }
}

export class BudgetError extends MvmError {
  constructor(budget: string, limit: number, used: number, at?: string) {
    super('budget', `budget_${budget}`, `budget exhausted: ${budget} (limit ${limit})`, {
      budget,
      limit,
      used,
      at,
    });
  }
}

export class DriverError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('driver', code, message, data, cause);
  }
}

export class ProviderError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('provider', code, message, data, cause);
  }
}

export class StoreError extends MvmError {
  constructor(code: string, message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('store', code, message, data, cause);
  }
}

/** A state that cannot happen in a verified image, or a broken invariant of the machine. */
export class InternalError extends MvmError {
  constructor(message: string, data: Record<string, unknown> = {}, cause?: unknown) {
    super('internal', 'internal', `cannot happen: ${message}`, data, cause);
  }
}

/** An error read back from its journaled form (`toJSON`), keeping kind, code and data. */
export function errorFromJson(o: Record<string, unknown>): MvmError {
  const { kind, code, message, ...data } = o;
  return new MvmError(
    (kind as ErrorKind | undefined) ?? 'internal',
    typeof code === 'string' ? code : 'unknown',
    typeof message === 'string' ? message : 'error',
    data,
  );
}
