import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DriverError } from '../spec/errors.js';
import type { ModelDescription, ModelDriver, ModelReply, ModelRequest } from './driver.js';
import { OpenAICompatibleDriver } from './openai-compatible.js';
import { RecordingDriver } from './record.js';
import { ReplayDriver } from './replay.js';
import { closeAll, send, serve } from './test-helpers/loopback.js';

afterEach(closeAll);

/** A driver that answers from a script, and fails when the script says so. */
class Scripted implements ModelDriver {
  resumed: number | undefined;
  closed = false;
  private next = 0;

  constructor(private readonly script: (ModelReply | Error)[]) {}

  describe(): ModelDescription {
    return {
      driver: 'scripted',
      provider: 'test',
      model: 'scripted-1',
      capabilities: { tools: true, parallelToolCalls: true, jsonSchema: true, streaming: false },
    };
  }

  async call(): Promise<ModelReply> {
    const step = this.script[this.next++];
    if (step === undefined || step instanceof Error) throw step ?? new Error('script ended');
    return step;
  }

  resumeAfter(replies: ModelReply[]): void {
    this.resumed = replies.length;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const tools = [
  { name: 'fs/read_file', description: '', inputSchema: { type: 'object' } },
  { name: 'web/search', description: '', inputSchema: { type: 'object' } },
];

function request(offered = tools, slot = 'main'): ModelRequest {
  return { slot, messages: [{ role: 'user', content: 'go' }], tools: offered };
}

const awkward: ModelReply[] = [
  {
    text: 'yes',
    toolCalls: [
      { id: 'c1', name: 'fs/read_file', arguments: '{"path": "a.md",\n "n": 1}' },
      { id: 'c2', name: 'ghost/tool', arguments: '{"s": "\\u0000", trunc' },
      { id: '0x1F', name: 'web/search', arguments: '' },
    ],
    stop: 'tool_calls',
    usage: { inputTokens: 10, outputTokens: 5, cost: 0.000105 },
    model: 'scripted-1',
  },
  {
    text: 'nul \u0000, lone \ud800, line\nbreak, 123, null, ~, "quoted": #not a comment',
    toolCalls: [],
    stop: 'length',
    usage: { inputTokens: 0, outputTokens: 7 },
    model: 'scripted-1',
  },
];

describe('RecordingDriver', () => {
  it('saves YAML that the replay driver plays back as the same replies', async () => {
    const recorder = new RecordingDriver(new Scripted(awkward));
    const requests = [request(), request([], 'judge')];
    const live = [];
    for (const each of requests) live.push(await recorder.call(each));
    const path = join(mkdtempSync(join(tmpdir(), 'mvm-record-')), 'replies.yaml');

    recorder.save(path);
    const replay = ReplayDriver.fromFile(path);
    const replayed = [];
    for (const each of requests) replayed.push(await replay.call(each));

    expect(live).toEqual(awkward);
    expect(replayed).toEqual(awkward);
    expect(replay.describe().model).toBe('scripted-1');
    expect(readFileSync(path, 'utf8')).toContain('mvmReplay: 1');
  });

  it('records the slot, the offered tool names and usage of each reply', async () => {
    const recorder = new RecordingDriver(new Scripted(awkward));

    await recorder.call(request());

    expect(recorder.toReplayFile()).toEqual({
      mvmReplay: 1,
      model: 'scripted-1',
      replies: [
        {
          slot: 'main',
          tools: ['fs/read_file', 'web/search'],
          text: 'yes',
          toolCalls: awkward[0]?.toolCalls,
          stop: 'tool_calls',
          usage: { inputTokens: 10, outputTokens: 5, cost: 0.000105 },
          model: 'scripted-1',
        },
      ],
    });
  });

  it('records nothing for a failed call and names no model when a reply had none', async () => {
    const plain: ModelReply = {
      text: 'x',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 1, outputTokens: 1 },
    };
    const recorder = new RecordingDriver(new Scripted([new DriverError('timeout', 'late'), plain]));

    await expect(recorder.call(request())).rejects.toThrow('late');
    await recorder.call(request());
    const file = recorder.toReplayFile();

    expect(file.replies).toHaveLength(1);
    expect(file.model).toBeUndefined();
    expect(await new ReplayDriver(file, 'memory').call(request())).toEqual(plain);
  });

  it('forwards describe, resumeAfter and close to the driver it wraps', async () => {
    const inner = new Scripted([]);
    const recorder = new RecordingDriver(inner);

    recorder.resumeAfter(awkward);
    await recorder.close();

    expect(recorder.describe().driver).toBe('scripted');
    expect([inner.resumed, inner.closed]).toEqual([2, true]);
  });

  it('records a live driver against a loopback server', async () => {
    const server = await serve((_, res) =>
      send(res, 200, {
        model: 'served',
        choices: [
          {
            message: {
              content: null,
              tool_calls: [
                {
                  id: 'k',
                  type: 'function',
                  function: { name: 'fs__read_file', arguments: '{"path":"a"}' },
                },
              ],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 2 },
      }),
    );
    const recorder = new RecordingDriver(
      new OpenAICompatibleDriver({
        baseUrl: server.baseUrl,
        model: 'm',
        price: { inputPerMTok: 1, outputPerMTok: 2 },
      }),
    );

    const live = await recorder.call(request());
    const replayed = await new ReplayDriver(recorder.toReplayFile(), 'memory').call(request());

    expect(replayed).toEqual(live);
    expect(live.usage).toEqual({ inputTokens: 3, outputTokens: 2, cost: 7e-6 });
  });
});
