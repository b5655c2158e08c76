import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  closeAll,
  frame,
  type Handler,
  send,
  serve,
  sse,
} from '../../src/models/test-helpers/loopback.js';
import type { JsonObject } from '../../src/spec/types.js';
import { runOnce, watchRejections } from './harness.js';

/**
 * Model endpoints that fail as hosted ones do, on loopback: each case ends in a retry that
 * succeeds or a typed error within the driver's deadline, and the journal verifies.
 */

const dir = mkdtempSync(join(tmpdir(), 'mvm-faults-models-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => closeAll());
const rejections = watchRejections();

const image: JsonObject = {
  mvm: 1,
  name: 'ask',
  models: { main: {} },
  permissions: ['model:main'],
  procedures: {
    main: {
      body: [
        { op: 'data.const', value: 'hello', dst: 'q' },
        {
          op: 'call',
          proc: 'std.ask_once',
          static: { slot: 'main' },
          args: { system: 'q', question: 'q' },
          dst: 'a',
        },
        { op: 'halt', src: 'a' },
      ],
    },
  },
};

const ok = {
  model: 'm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 3, completion_tokens: 1 },
};

async function against(handler: Handler, binding: JsonObject = {}) {
  const server = await serve(handler);
  const { result, ms, mvm } = await runOnce(
    join(dir, 'store'),
    {
      models: {
        main: {
          driver: 'openai-compatible',
          baseUrl: server.baseUrl,
          model: 'm',
          timeoutMs: 2_000,
          maxRetries: 2,
          ...binding,
        },
      },
      rules: [{ allow: 'model:main' }],
    },
    image,
  );
  mvm.close();
  return { result, ms, server };
}

describe('a misbehaving model endpoint', () => {
  it('that answers 429, then succeeds: the driver retries and the run is done', async () => {
    const { result, server } = await against((_seen, res, i) =>
      i === 0
        ? send(res, 429, { error: { message: 'slow down' } }, { 'retry-after': '0' })
        : send(res, 200, ok),
    );
    expect(result.status).toBe('done');
    expect(result.output).toBe('hi');
    expect(server.seen).toHaveLength(2);
    expect(rejections.seen).toEqual([]);
  });

  it('that answers 500 every time: server_error after its retries', async () => {
    const { result, ms, server } = await against(
      (_seen, res) => send(res, 500, { error: { message: 'boom' } }, { 'retry-after': '0' }),
      { maxRetries: 1 },
    );
    expect(result.error?.kind).toBe('driver');
    expect(result.error?.code).toBe('server_error');
    expect(server.seen).toHaveLength(2);
    expect(ms).toBeLessThan(5_000);
    expect(rejections.seen).toEqual([]);
  });

  it('that cuts its stream in the middle of a tool call: stream_cut', async () => {
    const call = (args: string, extra: JsonObject = {}) =>
      frame({
        choices: [
          {
            delta: {
              tool_calls: [{ index: 0, function: { arguments: args }, ...extra }],
            },
          },
        ],
      });
    const { result } = await against(
      (_seen, res) =>
        sse(
          res,
          [
            frame({ choices: [{ delta: { role: 'assistant', content: 'let me' } }] }),
            call('{"pa', { id: 'c1', type: 'function', function: { name: 'x', arguments: '' } }),
            call('th": "/tm'),
          ],
          { end: 'reset' },
        ),
      { stream: true },
    );
    expect(result.error?.kind).toBe('driver');
    expect(result.error?.code).toBe('stream_cut');
    expect(rejections.seen).toEqual([]);
  });

  it('that replies after the deadline: timeout at the deadline, and the late reply is dropped', async () => {
    let late: Promise<void> | undefined;
    const { result, ms } = await against(
      (_seen, res) => {
        late = new Promise((resolve) =>
          setTimeout(() => {
            if (!res.destroyed) send(res, 200, ok);
            resolve();
          }, 1_500),
        );
      },
      { timeoutMs: 300, maxRetries: 0 },
    );
    expect(result.error?.code).toBe('timeout');
    expect(ms).toBeGreaterThanOrEqual(300);
    expect(ms).toBeLessThan(1_500);
    await late;
    expect(rejections.seen).toEqual([]);
  });
});
