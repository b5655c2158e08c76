import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { JsonObject } from '../spec/types.js';
import type { ModelDriver, ModelReply } from './driver.js';
import { PinnedDriver } from './pin.js';

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

const image = imageFromObject({
  mvm: 1,
  name: 'pinned',
  models: { main: {} },
  permissions: ['model:main'],
  procedures: {
    main: {
      body: [
        { op: 'history.new', system: 'say hi', dst: 'h' },
        { op: 'model.call', slot: 'main', history: 'h', dst: 'r' },
        { op: 'parse.text', src: 'r', dst: 't' },
        { op: 'halt', src: 't' },
      ],
    },
  },
});

async function run(pin: JsonObject, answered: string) {
  const config = parseConfig(
    {
      models: { main: { driver: 'replay', replies: [{ text: 'hi', model: answered }], pin } },
      rules: [{ allow: 'model:main' }],
    },
    { path: null, dir: process.cwd() },
  );
  const mvm = new Mvm({ config, storeDir: mkdtempSync(join(tmpdir(), 'mvm-pin-')) });
  open.push(mvm);
  return { mvm, result: await mvm.run(image) };
}

describe('model pins', () => {
  it('let a reply from the pinned model through', async () => {
    const { result } = await run({ model: 'm1' }, 'm1');
    expect(result.output).toBe('hi');
    expect(result.manifest.models[0]!.mismatches).toBeUndefined();
  });

  it('fail the call when another model answered, and journal why', async () => {
    const { mvm, result } = await run({ model: 'm1' }, 'm2');
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ kind: 'driver', code: 'model_mismatch', model: 'm2' });
    const error = mvm.store.entries(result.runId).find((e) => e.type === 'model.error')!;
    expect(JSON.stringify(error.data)).toContain("model 'm2' answered, the pin is 'm1'");
  });

  it('let it through with a warning in the journal and the manifest, when set to warn', async () => {
    const { result } = await run({ model: 'm1', onMismatch: 'warn' }, 'm2');
    expect(result.output).toBe('hi');
    expect(result.manifest.models[0]!.mismatches).toEqual(["model 'm2' answered, the pin is 'm1'"]);
  });

  it('hold a fingerprint the provider reports, and not one it does not', async () => {
    const reply = (fingerprint?: string): ModelReply => ({
      text: '',
      toolCalls: [],
      stop: 'end',
      usage: { inputTokens: 0, outputTokens: 0 },
      model: 'm1',
      ...(fingerprint === undefined ? {} : { fingerprint }),
    });
    const inner = (r: ModelReply): ModelDriver => ({
      describe: () => ({
        driver: 'x',
        provider: 'x',
        model: 'm1',
        capabilities: { tools: true, parallelToolCalls: true, jsonSchema: true, streaming: true },
      }),
      call: async () => r,
    });
    const request = { slot: 'main', messages: [], tools: [] };
    const pin = { model: 'm1', fingerprint: 'fp_a' };
    await expect(new PinnedDriver(inner(reply('fp_a')), pin).call(request)).resolves.toBeTruthy();
    await expect(new PinnedDriver(inner(reply()), pin).call(request)).resolves.toBeTruthy();
    await expect(new PinnedDriver(inner(reply('fp_b')), pin).call(request)).rejects.toMatchObject({
      code: 'model_mismatch',
      message: "slot 'main': fingerprint 'fp_b', the pin is 'fp_a'",
    });
  });

  it('hold a recorded fingerprint on replay, as the live run held it', async () => {
    const config = parseConfig(
      {
        models: {
          main: {
            driver: 'replay',
            replies: [{ text: 'hi', model: 'm1', fingerprint: 'fp_b' }],
            pin: { fingerprint: 'fp_a' },
          },
        },
        rules: [{ allow: 'model:main' }],
      },
      { path: null, dir: process.cwd() },
    );
    const mvm = new Mvm({ config, storeDir: mkdtempSync(join(tmpdir(), 'mvm-pin-')) });
    open.push(mvm);
    const result = await mvm.run(image);

    expect(result.error).toMatchObject({ code: 'model_mismatch' });
  });

  it('refuse to bind a slot whose driver is not the pinned provider, before anything runs', async () => {
    const config = (provider: string) =>
      parseConfig(
        {
          models: { main: { driver: 'replay', replies: [{ text: 'hi' }], pin: { provider } } },
          rules: [{ allow: 'model:main' }],
        },
        { path: null, dir: process.cwd() },
      );
    const mvm = new Mvm({
      config: config('anthropic'),
      storeDir: mkdtempSync(join(tmpdir(), 'p-')),
    });
    open.push(mvm);
    const same = new Mvm({ config: config('replay'), storeDir: mkdtempSync(join(tmpdir(), 'p-')) });
    open.push(same);

    await expect(mvm.run(image)).rejects.toMatchObject({
      code: 'model_mismatch',
      message: expect.stringContaining(
        "models.main.pin.provider: the pin is provider 'anthropic', the binding's driver is provider 'replay'",
      ),
    });
    expect(mvm.store.listRuns()).toEqual([]);
    expect((await same.run(image)).status).toBe('done');
  });

  it('refuse a pin the configuration cannot read', () => {
    expect(() =>
      parseConfig(
        { models: { main: { driver: 'replay', pin: { model: 'm1', onMismatch: 'shrug' } } } },
        { path: null, dir: process.cwd() },
      ),
    ).toThrow(/models\.main\.pin\.onMismatch/);
  });
});
