import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { JsonObject } from '../spec/types.js';
import { closeAll } from './test-helpers/loopback.js';
import { serveRecorded, WIRE_DRIVERS, type WireDriver } from './test-helpers/recorded.js';

/**
 * Pins read from the wire: each HTTP driver parses which model answered (and, where the
 * format carries one, its fingerprint) from a loopback server speaking that provider's
 * format, streamed and not, and the pin holds the reply to it.
 */

let open: Mvm[] = [];
afterEach(async () => {
  for (const m of open) m.close();
  open = [];
  await closeAll();
});

const image = imageFromObject({
  mvm: 1,
  name: 'pinned-wire',
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

/** Only the chat completions format names a fingerprint (`system_fingerprint`). */
const FINGERPRINTED: ReadonlySet<WireDriver> = new Set(['openai-compatible']);

async function run(driver: WireDriver, stream: boolean, pin: JsonObject, answered: JsonObject) {
  const server = await serveRecorded(driver, [{ text: 'hi', ...answered }]);
  const config = parseConfig(
    {
      models: {
        main: {
          driver,
          baseUrl: server.baseUrl,
          model: 'm1',
          stream,
          maxRetries: 0,
          timeoutMs: 10_000,
          pin,
        },
      },
      rules: [{ allow: 'model:main' }],
    },
    { path: null, dir: process.cwd() },
  );
  const mvm = new Mvm({ config, storeDir: mkdtempSync(join(tmpdir(), 'mvm-pin-wire-')) });
  open.push(mvm);
  const result = await mvm.run(image);
  const reply = mvm.store.entries(result.runId).find((e) => e.type === 'model.reply');
  return { result, reply: (reply?.data as JsonObject | undefined)?.reply as JsonObject };
}

describe.each(WIRE_DRIVERS.flatMap((d) => [false, true].map((s) => [d, s] as const)))(
  'a pin on %s (stream: %s)',
  (driver, stream) => {
    it('reads the answering model from the wire and lets the pinned one through', async () => {
      const { result, reply } = await run(driver, stream, { model: 'm1' }, { model: 'm1' });

      expect(result.status).toBe('done');
      expect(reply.model).toBe('m1');
    });

    it('fails the call with model_mismatch when the wire names another model', async () => {
      const { result } = await run(driver, stream, { model: 'm1' }, { model: 'm1-2026-12' });

      expect(result.status).toBe('failed');
      expect(result.error).toMatchObject({
        code: 'model_mismatch',
        model: 'm1-2026-12',
        message: "slot 'main': model 'm1-2026-12' answered, the pin is 'm1'",
      });
    });

    if (FINGERPRINTED.has(driver)) {
      it('holds the fingerprint the wire carries, and warns when set to', async () => {
        const answered = { model: 'm1', fingerprint: 'fp_b' };
        const strict = await run(driver, stream, { fingerprint: 'fp_a' }, answered);
        const lenient = await run(
          driver,
          stream,
          { fingerprint: 'fp_a', onMismatch: 'warn' },
          answered,
        );
        const same = await run(driver, stream, { fingerprint: 'fp_b' }, answered);

        expect(strict.result.error).toMatchObject({ code: 'model_mismatch' });
        expect(lenient.result.status).toBe('done');
        expect(lenient.result.manifest.models[0]!.mismatches).toEqual([
          "fingerprint 'fp_b', the pin is 'fp_a'",
        ]);
        expect(same.reply.fingerprint).toBe('fp_b');
      });
    } else {
      it('has no fingerprint in its format, so a fingerprint pin holds only the model', async () => {
        const { result, reply } = await run(
          driver,
          stream,
          { model: 'm1', fingerprint: 'fp_a' },
          { model: 'm1', fingerprint: 'fp_b' },
        );

        expect(result.status).toBe('done');
        expect(reply.fingerprint).toBeUndefined();
      });
    }
  },
);
