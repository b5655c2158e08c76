import { canonicalJson } from '../audit/canonical.js';
import type { JournalEntry } from '../audit/chain.js';
import { InternalError, MvmError } from '../spec/errors.js';
import type { Json, JsonObject } from '../spec/types.js';
import type { Journal } from '../store/store.js';

/**
 * The tape is how the machine writes its journal, and how it reads one back. A fresh run only
 * writes. A resumed run re-executes the image from the start against the entries already
 * recorded: each entry the machine produces must match the recorded one (else the run has
 * diverged), and each effect whose outcome is recorded is served from the journal instead of
 * happening again. Past the recorded entries, the run goes on live, on the same chain.
 */

/**
 * Entries the host writes about the run rather than the machine about what it did: skipped
 * when matching. Answers are read where their request stands.
 */
const MARKERS = new Set([
  'run.start',
  'run.suspend',
  'run.interrupt',
  'run.resume',
  'confirm.answer',
  'user.answer',
  // What a server asked of the host during a tool call: re-executed, the call's recorded
  // result is served and the server asks nothing.
  'server.decision',
  'server.sample',
  // A server's log messages, where the namespace asks for them: they say what the server
  // did, which re-execution does not make it do again.
  'server.log',
]);

/** Fields of a produced entry that depend on the clock, left out of the comparison. */
const VOLATILE = new Set(['ms', 'wallMs', 'server']);

export class DivergenceError extends MvmError {
  constructor(seq: number, expected: string, found: string, at?: string) {
    super(
      'replay',
      'diverged',
      `re-execution diverged from the journal at entry ${seq}: recorded ${expected}, produced ${found}`,
      { seq, expected, found, at },
    );
  }
}

function comparable(data: Json): string {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return canonicalJson(data);
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(data)) if (!VOLATILE.has(k)) out[k] = v;
  return canonicalJson(out);
}

export class Tape {
  private cursor = 0;
  private readonly recorded: readonly JournalEntry[];
  /** What this tape appended, after the recorded entries. */
  private readonly appended: JournalEntry[] = [];

  /**
   * `readOnly` replays: everything must come from the recorded entries, and a run that
   * would go on past them has diverged.
   */
  constructor(
    readonly journal: Journal,
    recorded: readonly JournalEntry[] = [],
    readonly readOnly = false,
  ) {
    this.recorded = recorded;
  }

  /**
   * The run's whole journal as this tape knows it: the recorded entries, then those it
   * appended. A host builds the manifest from it without reading the journal back.
   */
  get entries(): readonly JournalEntry[] {
    return this.appended.length === 0 ? this.recorded : [...this.recorded, ...this.appended];
  }

  private append(type: string, data: Json, at?: string): JournalEntry {
    const entry = this.journal.append(type, data, at);
    this.appended.push(entry);
    return entry;
  }

  /** How many recorded entries the re-execution has gone through. */
  get position(): number {
    return this.cursor;
  }

  private pastTheEnd(type: string, at?: string): never {
    const last = this.recorded[this.recorded.length - 1];
    throw new DivergenceError(
      (last?.seq ?? 0) + 1,
      'the end of the journal',
      `${type}${at ? ` at ${at}` : ''}`,
      at,
    );
  }

  /** Journals a mark on the run (a suspension, a divergence's end); nothing when replaying. */
  mark(type: string, data: Json): void {
    if (!this.readOnly) this.append(type, data);
  }

  /** True while the machine is re-executing what the journal already holds. */
  get catchingUp(): boolean {
    this.skipMarkers();
    return this.cursor < this.recorded.length;
  }

  /**
   * Receives each mark re-execution steps over, where it stands: what a server did during a
   * call whose outcome is served, such as a sampling call to charge to the budgets again.
   */
  onMark?: (entry: JournalEntry) => void;

  private skipMarkers(): void {
    while (this.cursor < this.recorded.length && MARKERS.has(this.recorded[this.cursor]!.type)) {
      this.onMark?.(this.recorded[this.cursor]!);
      this.cursor++;
    }
  }

  /**
   * Journals an entry the machine produced. While catching up, the recorded entry in its
   * place must have the same type, place and content; it is returned instead.
   */
  write(type: string, data: Json, at?: string): JournalEntry {
    if (!this.catchingUp) {
      if (this.readOnly) this.pastTheEnd(type, at);
      return this.append(type, data, at);
    }
    const rec = this.recorded[this.cursor]!;
    const same =
      rec.type === type &&
      (rec.at ?? null) === (at ?? null) &&
      comparable(rec.data) === comparable(data);
    if (!same) {
      const found = `${type}${at ? ` at ${at}` : ''}`;
      const expected = `${rec.type}${rec.at ? ` at ${rec.at}` : ''}`;
      throw new DivergenceError(
        rec.seq,
        expected,
        rec.type === type ? `${found} with other content` : found,
        at,
      );
    }
    this.cursor++;
    return rec;
  }

  /**
   * While catching up, the next recorded entry if it has this type and place, taken; else
   * undefined, and nothing taken. For entries that are written only when there is something
   * to say.
   */
  take(type: string, at?: string): JournalEntry | undefined {
    if (!this.catchingUp) return undefined;
    const rec = this.recorded[this.cursor]!;
    if (rec.type !== type || (rec.at ?? null) !== (at ?? null)) return undefined;
    this.cursor++;
    return rec;
  }

  /**
   * While catching up, the recorded entry that stands where the machine would now write one
   * of this type at this place (it must be there, else the run has diverged); undefined when
   * live. For what was decided then and must not be decided again, such as a decision under
   * a rule that has since expired.
   */
  recall(type: string, at?: string): JournalEntry | undefined {
    if (!this.catchingUp) return undefined;
    const rec = this.recorded[this.cursor]!;
    if (rec.type !== type || (rec.at ?? null) !== (at ?? null)) {
      const found = `${type}${at ? ` at ${at}` : ''}`;
      throw new DivergenceError(rec.seq, `${rec.type}${rec.at ? ` at ${rec.at}` : ''}`, found, at);
    }
    this.cursor++;
    return rec;
  }

  /**
   * The recorded outcome of the effect just intended, when the journal holds one: the next
   * recorded entry, if it has one of the given types. Undefined while live, and when the
   * journal ends after the intent (the effect was under way when the process stopped).
   */
  outcome(...types: string[]): JournalEntry | undefined {
    this.skipMarkers();
    const rec = this.recorded[this.cursor];
    if (!rec || !types.includes(rec.type)) return undefined;
    this.cursor++;
    return rec;
  }

  /** A recorded answer to request `id`, wherever it stands after the request. */
  answer(type: 'confirm.answer' | 'user.answer', id: string): JournalEntry | undefined {
    for (let i = this.cursor; i < this.recorded.length; i++) {
      const e = this.recorded[i]!;
      if (e.type === type && (e.data as JsonObject).id === id) return e;
      if (!MARKERS.has(e.type)) return undefined;
    }
    return undefined;
  }

  /** Makes everything journaled so far durable; called before each effect on the world. */
  flush(): void {
    if (!this.readOnly) this.journal.flush();
  }

  /** Journals an outcome. While catching up it must be recorded: re-execution does not invent one. */
  record(type: string, data: Json, at?: string): JournalEntry {
    if (this.catchingUp) {
      throw new InternalError(`outcome ${type} produced while re-executing`, { at });
    }
    if (this.readOnly) this.pastTheEnd(type, at);
    return this.append(type, data, at);
  }
}
