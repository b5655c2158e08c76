import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Image } from '../spec/types.js';
import { loadConfig, parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject, readImageFile } from './image-file.js';

const example = join(import.meta.dirname, '..', '..', 'examples', 'notes');

describe('replay', () => {
  it('re-executes the bundled example against its journal and reproduces every entry', async () => {
    const mvm = new Mvm({
      config: loadConfig(join(example, 'mvm.yaml')),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-replay-')),
    });
    const image = readImageFile(join(example, 'image.yaml'));
    const run = await mvm.run(image);
    const report = await mvm.replay(run.runId);
    expect(report).toMatchObject({
      ok: true,
      chain: true,
      entries: run.journal.count,
      matched: run.journal.count,
      head: run.journal.head,
      status: 'done',
      output: run.output,
    });
    // Nothing was written by the replay.
    expect(mvm.store.getRun(run.runId)!.count).toBe(run.journal.count);

    // Another version of the image parts from the journal at its first changed instruction.
    const changed = structuredClone(image.data) as Image;
    const body = changed.procedures.main!.body;
    body.splice(3, 1, { ...body[3]!, system: 'You answer in one word.' } as (typeof body)[number]);
    const other = await mvm.replay(run.runId, { image: imageFromObject(changed) });
    expect(other.ok).toBe(false);
    const firstModel = mvm.store.entries(run.runId).find((e) => e.type === 'model.intent')!;
    expect(other.divergence).toMatchObject({ seq: firstModel.seq });
    expect(other.divergence!.message).toContain('model.intent');
    mvm.close();
  });

  it('replays a run that was suspended and resumed in another process', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'mvm-replay-'));
    const config = parseConfig(
      {
        models: {
          main: {
            driver: 'replay',
            replies: [
              { toolCalls: [{ id: 'a', name: 'mail/send', arguments: '{"to":"ann"}' }] },
              { text: 'sent' },
            ],
          },
        },
        rules: [{ allow: 'model:main' }, { allow: 'tool:mail/*' }, { confirm: 'tool:mail/send' }],
      },
      { path: null, dir: '.' },
    );
    const functions = { mail: { send: { description: 'send', run: () => 'ok' } } };
    const image = imageFromObject({
      mvm: 1,
      name: 'mailer',
      models: { main: {} },
      tools: { mail: {} },
      permissions: ['model:main', 'tool:mail/*'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'mail', dst: 't' },
            { op: 'history.new', dst: 'h' },
            {
              op: 'call',
              proc: 'std.chat',
              static: { slot: 'main', max_turns: 3 },
              args: { history: 'h', tools: 't' },
              dst: 'a',
            },
            { op: 'halt', src: 'a' },
          ],
        },
      },
    });
    const a = new Mvm({ config, storeDir, functions });
    const first = await a.run(image);
    a.close();
    expect(first.status).toBe('waiting');
    const waiting = new Mvm({ config, storeDir, functions });
    expect(await waiting.replay(first.runId)).toMatchObject({ ok: true, status: 'waiting' });
    waiting.close();

    const b = new Mvm({ config, storeDir, functions });
    const done = await b.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]);
    expect(done.status).toBe('done');
    const report = await b.replay(first.runId);
    expect(report).toMatchObject({
      ok: true,
      status: 'done',
      output: 'sent',
      head: done.journal.head,
    });
    b.close();
  });
});
