import { resolve } from 'node:path';
import { ConfigError, DriverError } from '../spec/errors.js';
import { readSource } from '../spec/source.js';
import type { Json, JsonObject } from '../spec/types.js';
import { type Price, priceField } from './binding.js';
import type {
  ModelBinding,
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  StopReason,
  ToolCallRequest,
} from './driver.js';

/**
 * A recorded reply. `tools`, when present, is the set of tool names the run offered when the
 * reply was recorded; a run that offers a different set is told so instead of being served a
 * reply meant for another situation.
 */
export interface RecordedReply {
  slot?: string;
  tools?: string[];
  text?: string;
  toolCalls?: Array<{ id?: string; name: string; arguments?: string | JsonObject }>;
  stop?: StopReason;
  usage?: { inputTokens?: number; outputTokens?: number; cost?: number };
  model?: string;
  /** The provider's fingerprint of the model, as the live reply gave it. */
  fingerprint?: string;
}

export interface ReplayFile {
  mvmReplay: 1;
  model?: string;
  replies: RecordedReply[];
}

function checkFile(data: unknown, path: string): ReplayFile {
  const bad = (at: string, what: string) =>
    new ConfigError('bad_replay_file', `${path}: ${at}: ${what}`, { file: path, at });
  if (data === null || typeof data !== 'object') throw bad('(file)', 'expected an object');
  const f = data as JsonObject;
  if (f.mvmReplay !== 1) throw bad('mvmReplay', 'expected 1');
  if (!Array.isArray(f.replies)) throw bad('replies', 'expected a list');
  f.replies.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r))
      throw bad(`replies[${i}]`, 'expected an object');
    const usage = r.usage as JsonObject | undefined;
    for (const k of ['inputTokens', 'outputTokens', 'cost'] as const) {
      const n = usage?.[k];
      if (n !== undefined && (typeof n !== 'number' || !Number.isFinite(n) || n < 0)) {
        throw bad(`replies[${i}].usage.${k}`, 'expected a non-negative number');
      }
    }
    if (r.text !== undefined && typeof r.text !== 'string')
      throw bad(`replies[${i}].text`, 'expected a string');
    if (r.toolCalls !== undefined && !Array.isArray(r.toolCalls)) {
      throw bad(`replies[${i}].toolCalls`, 'expected a list');
    }
    for (const [j, c] of ((r.toolCalls as Json[] | undefined) ?? []).entries()) {
      if (c === null || typeof c !== 'object' || Array.isArray(c) || typeof c.name !== 'string') {
        throw bad(`replies[${i}].toolCalls[${j}]`, "expected an object with a 'name'");
      }
    }
  });
  return data as ReplayFile;
}

/**
 * Plays a file of recorded replies in order, provider-neutral. Fails with a DriverError when
 * the run asks for more replies than were recorded, or offers a different tool set.
 *
 * ```yaml
 * mvmReplay: 1
 * replies:
 *   - tools: [fs/read_text_file]
 *     toolCalls: [{ id: c1, name: fs/read_text_file, arguments: { path: notes.md } }]
 *   - text: The notes say hello.
 * ```
 */
export class ReplayDriver implements ModelDriver {
  private next = 0;

  constructor(
    private readonly file: ReplayFile,
    private readonly source: string,
    /** Gives a recorded reply without a cost of its own the cost its tokens would have. */
    private readonly price?: Price,
  ) {}

  static fromFile(path: string, price?: Price): ReplayDriver {
    const src = readSource(path, 'replay file');
    return new ReplayDriver(checkFile(src.data, path), path, price);
  }

  /**
   * From a host binding: `file` names a replay file, or `replies` lists the replies inline;
   * `price` prices the recorded tokens, as a hosted model's binding would.
   */
  static fromBinding(binding: ModelBinding, dir: string): ReplayDriver {
    const price = priceField(binding.price);
    if (Array.isArray(binding.replies)) {
      const file = { mvmReplay: 1, model: binding.model, replies: binding.replies };
      return new ReplayDriver(checkFile(file, 'inline replies'), 'inline replies', price);
    }
    if (typeof binding.file !== 'string') {
      throw new ConfigError('bad_model_binding', "a replay binding needs 'file' or 'replies'", {
        binding: binding as Json,
      });
    }
    return ReplayDriver.fromFile(resolve(dir, binding.file), price);
  }

  describe(): ModelDescription {
    return {
      driver: 'replay',
      provider: 'replay',
      model: this.file.model ?? 'recorded',
      capabilities: { tools: true, parallelToolCalls: true, jsonSchema: true, streaming: false },
    };
  }

  resumeAfter(replies: ModelReply[]): void {
    this.next = replies.length;
  }

  /** How many replies have been played. */
  get played(): number {
    return this.next;
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const index = this.next;
    const recorded = this.file.replies[index];
    if (!recorded) {
      throw new DriverError(
        'replay_exhausted',
        `${this.source}: the run asked for reply ${index + 1}, but only ${this.file.replies.length} were recorded`,
        { file: this.source, asked: index + 1, recorded: this.file.replies.length },
      );
    }
    if (recorded.slot !== undefined && recorded.slot !== request.slot) {
      throw new DriverError(
        'replay_slot_mismatch',
        `${this.source}: reply ${index + 1} was recorded for slot '${recorded.slot}', asked by '${request.slot}'`,
        { file: this.source, reply: index + 1 },
      );
    }
    if (recorded.tools !== undefined) {
      const offered = request.tools.map((t) => t.name).sort();
      const expected = [...recorded.tools].sort();
      if (offered.join('\n') !== expected.join('\n')) {
        const missing = expected.filter((t) => !offered.includes(t));
        const extra = offered.filter((t) => !expected.includes(t));
        throw new DriverError(
          'replay_tool_set_mismatch',
          `${this.source}: reply ${index + 1} was recorded with a different tool set` +
            `${missing.length ? `; not offered now: ${missing.join(', ')}` : ''}` +
            `${extra.length ? `; offered now but not then: ${extra.join(', ')}` : ''}`,
          { file: this.source, reply: index + 1, missing, extra },
        );
      }
    }
    this.next++;
    const toolCalls: ToolCallRequest[] = (recorded.toolCalls ?? []).map((c, i) => ({
      id: c.id ?? `call_${index + 1}_${i}`,
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}),
    }));
    const inputTokens = recorded.usage?.inputTokens ?? 0;
    const outputTokens = recorded.usage?.outputTokens ?? 0;
    const cost =
      recorded.usage?.cost ??
      (this.price &&
        (inputTokens * this.price.inputPerMTok + outputTokens * this.price.outputPerMTok) / 1e6);
    const reply: ModelReply = {
      text: recorded.text ?? '',
      toolCalls,
      stop: recorded.stop ?? (toolCalls.length > 0 ? 'tool_calls' : 'end'),
      usage: { inputTokens, outputTokens, ...(cost === undefined ? {} : { cost }) },
    };
    const model = recorded.model ?? this.file.model;
    if (model !== undefined) reply.model = model;
    if (typeof recorded.fingerprint === 'string') reply.fingerprint = recorded.fingerprint;
    return reply;
  }
}
