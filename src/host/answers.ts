import type { JournalEntry } from '../audit/chain.js';
import type { ConfirmAnswer, ConfirmRequest, Pending, UserChannel } from '../interpreter/people.js';
import { WAIT } from '../interpreter/people.js';
import { schemaErrors, validatorFor } from '../interpreter/values.js';
import { ConfigError } from '../spec/errors.js';
import { resourceMatches } from '../spec/resources.js';
import { readSource } from '../spec/source.js';
import type { Json, JsonObject, JsonSchema } from '../spec/types.js';
import type { ToolHints } from '../tools/provider.js';

/**
 * A person's answer to a pending request: a confirmation's verdict, or a question's answer.
 * An answer typed as text and read as JSON keeps the text: when the value does not meet
 * the question's schema and the text does (`5` for a string), the text is the answer.
 */
export type Answer = ({ id: string } & ConfirmAnswer) | { id: string; answer: Json; text?: string };

/**
 * A typed answer: its JSON reading when that meets the schema (or there is none), else the
 * text as typed when that does, else the JSON reading, for the check to refuse.
 *
 * ```ts
 * answerFromText('5', { type: 'string' }) // '5'
 * answerFromText('5', { type: 'number' }) // 5
 * ```
 */
export function answerFromText(text: string, schema: JsonSchema | null | undefined): Json {
  let parsed: Json;
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    return text;
  }
  if (!schema) return parsed;
  const meets = validatorFor(schema);
  return meets(parsed) || !meets(text) ? parsed : text;
}

/** The requests a run waits on: those of its last suspension that no answer has met yet. */
export function pendingOf(entries: readonly JournalEntry[]): Pending[] {
  let last = -1;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i]!.type === 'run.suspend') {
      last = i;
      break;
    }
  }
  if (last < 0) return [];
  const answered = new Set(
    entries
      .slice(last + 1)
      .filter((e) => e.type === 'confirm.answer' || e.type === 'user.answer')
      .map((e) => (e.data as JsonObject).id as string),
  );
  const resumed = entries.slice(last + 1).some((e) => e.type === 'run.resume');
  if (resumed) return [];
  const pending = ((entries[last]!.data as JsonObject).pending ?? []) as unknown as Pending[];
  return pending.filter((p) => !answered.has(p.id));
}

/** What a person is asked to confirm, by the kind of request. */
const CONFIRMING: Record<ConfirmRequest['kind'], string> = {
  tool: 'confirm',
  unknown_outcome: 'repeat (outcome unknown)',
  resource: 'confirm reading',
  prompt: 'confirm the prompt',
};

export function describePending(p: Pending): string {
  if (p.kind === 'question') return `${p.id}: question: ${p.prompt}`;
  const what = CONFIRMING[p.request];
  const hints = describeHints(p.hints);
  const said = hints ? `; the server says: ${hints}` : '';
  return `${p.id}: ${what} ${p.tool} ${JSON.stringify(p.args)} (${p.rule ?? 'no rule'}: ${p.reason}${said})`;
}

/**
 * A tool's hints in words, as a server gives them, or null when it gives none. They are
 * shown to a person deciding, never used to let a call through.
 *
 * ```ts
 * describeHints({ destructive: true, idempotent: false }) // 'destructive, not idempotent'
 * ```
 */
export function describeHints(hints: ToolHints | undefined): string | null {
  if (!hints) return null;
  const words: string[] = [];
  const say = (v: boolean | undefined, yes: string, no: string) => {
    if (v !== undefined) words.push(v ? yes : no);
  };
  say(hints.readOnly, 'read-only', 'not read-only');
  say(hints.destructive, 'destructive', 'not destructive');
  say(hints.idempotent, 'idempotent', 'not idempotent');
  say(hints.openWorld, 'open world', 'closed world');
  return words.length > 0 ? words.join(', ') : null;
}

/**
 * Refuses answers that do not meet the pending requests, before anything is written; gives
 * them as they are to be recorded (an answer typed as text read as the schema takes it).
 */
export function checkAnswers(
  runId: string,
  status: string,
  pending: Pending[],
  answers: Answer[],
): Answer[] {
  const list = pending.map((p) => p.id).join(', ') || 'none';
  if (status === 'waiting' && answers.length === 0) {
    throw new ConfigError(
      'no_answer',
      `run ${runId} waits on ${pending.map(describePending).join('; ')}; answer with --approve, --deny or --answer`,
      { run: runId, pending: pending as unknown as Json },
    );
  }
  const seen = new Set<string>();
  const out: Answer[] = [];
  for (const given of answers) {
    const p = pending.find((x) => x.id === given.id);
    const a: Answer =
      'answer' in given && given.text !== undefined && p?.kind === 'question'
        ? { id: given.id, answer: answerFromText(given.text, p.schema) }
        : given;
    out.push(a);
    if (!p) {
      throw new ConfigError(
        'unknown_request',
        `run ${runId} has no pending request '${a.id}' (pending: ${list})`,
        {
          run: runId,
          id: a.id,
        },
      );
    }
    if (seen.has(a.id)) {
      throw new ConfigError('duplicate_answer', `request '${a.id}' is answered twice`, {
        id: a.id,
      });
    }
    seen.add(a.id);
    const isQuestion = p.kind === 'question';
    if (isQuestion && 'answer' in a && p.schema !== null) {
      const v = validatorFor(p.schema);
      if (!v(a.answer)) {
        throw new ConfigError(
          'bad_answer',
          `answer to '${a.id}' does not meet its schema ${JSON.stringify(p.schema)}: ${schemaErrors(v)}`,
          { id: a.id },
        );
      }
    }
    if (isQuestion !== 'answer' in a) {
      throw new ConfigError(
        'wrong_answer',
        `request '${a.id}' is a ${isQuestion ? 'question: answer it with --answer' : 'confirmation: use --approve or --deny'}`,
        { id: a.id },
      );
    }
  }
  return out;
}

interface FileRule {
  /** A request id (`c1`) or a resource pattern (`tool:fs/write_*`). */
  match: string;
  verdict: ConfirmAnswer['verdict'];
  reason?: string;
}

/**
 * Answers given ahead, from a file: the first rule whose `match` is the request's id or a
 * pattern over its resource answers it; requests no rule meets wait for a person.
 *
 * ```yaml
 * - { match: tool:fs/write_file, verdict: approve }
 * - { match: 'tool:mail/*', verdict: deny, reason: no mail today }
 * ```
 */
export function approveFile(path: string): Pick<UserChannel, 'confirm'> {
  const src = readSource(path, 'approve file');
  const data = src.data as { answers?: unknown } | unknown[];
  const rules = (Array.isArray(data) ? data : (data?.answers ?? null)) as FileRule[] | null;
  if (!Array.isArray(rules)) {
    throw new ConfigError('bad_approve_file', `${path}: expected a list of { match, verdict }`, {
      file: path,
    });
  }
  rules.forEach((r, i) => {
    if (typeof r?.match !== 'string' || !['approve', 'deny', 'always'].includes(r.verdict)) {
      throw new ConfigError(
        'bad_approve_file',
        `${path}: [${i}]: expected { match, verdict: approve | deny | always }`,
        { file: path, at: i },
      );
    }
  });
  return {
    async confirm(request: ConfirmRequest) {
      // Whether to repeat a call that may have happened is a person's call, never a file's.
      if (request.kind === 'unknown_outcome') return WAIT;
      const rule = rules.find(
        (r) => r.match === request.id || resourceMatches(r.match, request.resource),
      );
      if (!rule) return WAIT;
      const answer: ConfirmAnswer = { verdict: rule.verdict };
      if (rule.reason !== undefined) answer.reason = rule.reason;
      return answer;
    },
  };
}
