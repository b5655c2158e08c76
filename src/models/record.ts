import { renameSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import type {
  ModelDescription,
  ModelDriver,
  ModelReply,
  ModelRequest,
  ToolCallRequest,
} from './driver.js';
import type { RecordedReply, ReplayFile } from './replay.js';

/**
 * Wraps any driver and keeps each reply it gives as a RecordedReply, so that a run against a
 * live model can be played again offline by the replay driver. A call that fails records
 * nothing: the replay file holds replies, and a failure is not one.
 *
 * ```ts
 * const recorder = new RecordingDriver(anthropicFromBinding(binding, process.env));
 * await recorder.call({ slot: 'main', messages, tools });
 * recorder.save('replies.yaml'); // ReplayDriver.fromFile('replies.yaml') plays it back
 * ```
 */
export class RecordingDriver implements ModelDriver {
  private readonly recorded: RecordedReply[] = [];

  constructor(private readonly inner: ModelDriver) {}

  describe(): ModelDescription {
    return this.inner.describe();
  }

  async call(request: ModelRequest): Promise<ModelReply> {
    const reply = await this.inner.call(request);
    this.recorded.push(recordOf(request, reply));
    return reply;
  }

  resumeAfter(replies: ModelReply[]): void {
    this.inner.resumeAfter?.(replies);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  /** The replies recorded so far, oldest first. */
  get replies(): readonly RecordedReply[] {
    return this.recorded;
  }

  /**
   * The replay file of what was recorded. It names the driver's model only when every reply
   * names its own, since the replay driver gives the file's model to a reply that has none.
   */
  toReplayFile(): ReplayFile {
    const replies = this.recorded.map((reply) => structuredClone(reply));
    const named = replies.every((reply) => reply.model !== undefined);
    return { mvmReplay: 1, ...(named ? { model: this.describe().model } : {}), replies };
  }

  /**
   * Writes the replay file as YAML, through a temporary file so that a reader never sees half
   * of one. Strings keep every character: YAML escapes NUL and lone surrogates.
   */
  save(path: string): void {
    const text = stringify(this.toReplayFile(), { lineWidth: 0, aliasDuplicateObjects: false });
    const temporary = `${path}.${process.pid}.tmp`;
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  }
}

function recordOf(request: ModelRequest, reply: ModelReply): RecordedReply {
  const usage = reply.usage;
  return {
    slot: request.slot,
    tools: request.tools.map((tool) => tool.name),
    text: reply.text,
    toolCalls: reply.toolCalls.map((call: ToolCallRequest) => ({
      id: call.id,
      name: call.name,
      arguments: call.arguments,
    })),
    stop: reply.stop,
    usage: {
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      ...(usage.cost === undefined ? {} : { cost: usage.cost }),
    },
    ...(reply.model === undefined ? {} : { model: reply.model }),
    ...(reply.fingerprint === undefined ? {} : { fingerprint: reply.fingerprint }),
  };
}
