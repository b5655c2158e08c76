import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { JournalEntry } from '../src/audit/chain.js';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { readImageFile } from '../src/host/image-file.js';
import type { RecordedReply } from '../src/models/replay.js';
import type { JsonObject } from '../src/spec/types.js';

const example = join(import.meta.dirname, '..', 'examples', 'notes');
const store = mkdtempSync(join(tmpdir(), 'mvm-notes-openai-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

/** A Chat Completions endpoint on loopback that answers with the example's recorded replies. */
async function chatCompletions(replies: RecordedReply[]) {
  const bodies: JsonObject[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    req.on('end', () => {
      bodies.push(JSON.parse(text) as JsonObject);
      const r = replies[bodies.length - 1]!;
      const calls = (r.toolCalls ?? []).map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name.replace('/', '__'), arguments: c.arguments },
      }));
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: `chatcmpl-${bodies.length}`,
          object: 'chat.completion',
          model: 'loopback-model',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: r.text ?? null,
                tool_calls: calls.length ? calls : undefined,
              },
              finish_reason: calls.length ? 'tool_calls' : 'stop',
            },
          ],
          usage: {
            prompt_tokens: r.usage?.inputTokens ?? 0,
            completion_tokens: r.usage?.outputTokens ?? 0,
          },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, bodies, close: () => server.close() };
}

function toolCalls(entries: JournalEntry[]) {
  return entries
    .filter((e) => e.type === 'tool.intent' || e.type === 'tool.refused')
    .map((e) => {
      const d = e.data as JsonObject;
      return `${e.type} ${d.name} ${JSON.stringify(d.args ?? d.arguments)}`;
    });
}

describe('the notes example over the openai-compatible driver', () => {
  it('makes the same tool calls as with recorded replies, and pairs every result', async () => {
    const raw = parse(readFileSync(join(example, 'mvm.yaml'), 'utf8')) as JsonObject;
    const replays = parse(readFileSync(join(example, 'replies.yaml'), 'utf8')) as {
      replies: RecordedReply[];
    };
    const server = await chatCompletions(replays.replies);
    const image = readImageFile(join(example, 'image.yaml'));
    const run = async (models: JsonObject) => {
      const config = parseConfig(
        { ...raw, models },
        { path: join(example, 'mvm.yaml'), dir: example },
      );
      const mvm = new Mvm({ config, storeDir: store });
      try {
        const result = await mvm.run(image);
        return { result, entries: mvm.store.entries(result.runId) };
      } finally {
        mvm.close();
      }
    };
    try {
      const replayed = await run(raw.models as JsonObject);
      const wired = await run({
        main: { driver: 'openai-compatible', baseUrl: server.url, model: 'loopback-model' },
      });
      expect(wired.result.status).toBe('done');
      expect(wired.result.output).toBe(replayed.result.output);
      expect(toolCalls(wired.entries)).toEqual(toolCalls(replayed.entries));
      expect(wired.result.manifest.models[0]).toMatchObject({
        driver: 'openai-compatible',
        calls: 5,
        inputTokens: replayed.result.manifest.models[0]!.inputTokens,
      });

      // Every tool call id in an assistant turn is answered by exactly one tool message.
      const last = server.bodies.at(-1)!.messages as JsonObject[];
      const asked = last.flatMap((m) => ((m.tool_calls as JsonObject[]) ?? []).map((c) => c.id));
      const answered = last.filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
      expect(answered).toEqual(asked);
      expect(asked).toContain('call_write');
      const denial = last.find((m) => m.tool_call_id === 'call_write')!;
      expect(denial.content).toContain('denied by policy');
    } finally {
      server.close();
    }
  });
});
