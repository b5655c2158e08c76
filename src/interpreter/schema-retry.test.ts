import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { Message, ModelDriver } from '../models/driver.js';

/** A schema answer asked of a model without native support: validated, and asked again. */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

function scripted(answers: string[], jsonSchema: boolean, seen: Message[][]): ModelDriver {
  let i = 0;
  return {
    describe: () => ({
      driver: 'scripted',
      provider: 'test',
      model: 'scripted',
      capabilities: { tools: true, parallelToolCalls: false, jsonSchema, streaming: false },
    }),
    call: async (request) => {
      seen.push(request.messages);
      const text = answers[i++] ?? '';
      return { text, toolCalls: [], stop: 'end', usage: { inputTokens: 1, outputTokens: 1 } };
    },
  };
}

const image = imageFromObject({
  mvm: 1,
  name: 'extract',
  models: { main: {} },
  permissions: ['model:main'],
  procedures: {
    main: {
      body: [
        { op: 'data.const', value: 'Three apples and a pear.', dst: 'text' },
        {
          op: 'model.extract',
          slot: 'main',
          instruction: 'How many apples?',
          input: 'text',
          schema: { type: 'integer', minimum: 0, maximum: 100 },
          dst: 'n',
        },
        { op: 'halt', src: 'n' },
      ],
    },
  },
});

async function run(answers: string[], jsonSchema: boolean) {
  const seen: Message[][] = [];
  const config = parseConfig(
    { models: { main: { driver: 'scripted' } }, rules: [{ allow: 'model:main' }] },
    { path: null, dir: process.cwd() },
  );
  const mvm = new Mvm({
    config,
    storeDir: mkdtempSync(join(tmpdir(), 'mvm-schema-')),
    drivers: { scripted: () => scripted(answers, jsonSchema, seen) },
  });
  open.push(mvm);
  return { mvm, seen, result: await mvm.run(image) };
}

describe('an answer held to a schema', () => {
  it('is asked for again, with what was wrong, when the model has no native support', async () => {
    const { mvm, seen, result } = await run(['three', '"3"', '3'], false);
    expect(result.output).toBe(3);
    expect(seen).toHaveLength(3);
    const retry = seen[1]!.at(-1)!;
    expect(retry.role).toBe('user');
    expect(retry.content).toMatch(/does not meet the schema/);
    expect(seen[1]!.at(-2)).toMatchObject({ role: 'assistant', content: 'three' });
    const replies = mvm.store.entries(result.runId).filter((e) => e.type === 'model.reply');
    expect(replies).toHaveLength(3);
    expect((await mvm.replay(result.runId)).ok).toBe(true);
  });

  it('ends in a typed error once the retries are spent', async () => {
    const { seen, result } = await run(['no', 'still no', 'never'], false);
    expect(result.error).toMatchObject({ code: 'extract_failed' });
    expect(seen).toHaveLength(3);
  });

  it('is not asked again of a model that meets schemas itself', async () => {
    const { seen, result } = await run(['three', '3'], true);
    expect(result.error).toMatchObject({ code: 'extract_failed' });
    expect(seen).toHaveLength(1);
  });
});
