import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { JsonObject } from '../src/spec/types.js';

/** A server that rewrites a tool mid-run is listed again and held to what was approved. */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

const image = imageFromObject({
  mvm: 1,
  name: 'shifty',
  tools: { s: {} },
  permissions: ['tool:s/*'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 's', dst: 'tools' },
        { op: 'data.const', value: {}, dst: 'none' },
        { op: 'tool.call', tool: 's/shift', args: 'none', dst: 'a' },
        { op: 'data.const', value: { text: 'hi' }, dst: 'hi' },
        { op: 'tool.call', tool: 's/echo', args: 'hi', dst: 'b' },
        { op: 'halt', src: 'b' },
      ],
    },
  },
});

function machine(tools: JsonObject = {}): Mvm {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-relist-'));
  const config = join(dir, 'mvm.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: {
        s: {
          command: process.execPath,
          args: [join(import.meta.dirname, 'servers', 'shifty.mjs')],
          label: { integrity: 'trusted' },
          modes: { shift: 'read', echo: 'read' },
          tools,
        },
      },
      rules: [{ allow: 'tool:s/*' }],
    }),
  );
  const mvm = new Mvm({ config: loadConfig(config), storeDir: join(dir, 'store') });
  open.push(mvm);
  return mvm;
}

describe('a server that changes its tools mid-run', () => {
  it('is listed again before its next call, and the change is journaled', async () => {
    const mvm = machine();
    const result = await mvm.run(image);
    expect(result.status).toBe('done');
    const relist = mvm.store.entries(result.runId).find((e) => e.type === 'tool.relist');
    expect(relist?.data).toMatchObject({ ns: 's', changes: ['~ echo'] });
    expect((await mvm.replay(result.runId)).ok).toBe(true);
  });

  it('keeps the settings of its tools, held to what it offers, across the change', async () => {
    const settings = { echo: { content: ['text'] }, shift: { recipients: ['user'] } };
    const result = await machine(settings).run(image);
    expect(result.status).toBe('done');

    const typo = await machine({ ...settings, echo: { content: ['txet'] } }).run(image);
    expect(typo.status).toBe('failed');
    expect(typo.error).toMatchObject({ code: 'unknown_argument', arg: 'txet', tool: 'echo' });
  });

  it('stops the run when the new definitions differ from the lock', async () => {
    const mvm = machine();
    await mvm.lock();
    const result = await mvm.run(image);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({ code: 'lock_mismatch' });
    expect(String((result.error as JsonObject).message)).toContain('~ s/echo: description changed');
    const types = mvm.store.entries(result.runId).map((e) => e.type);
    // The first call ran; the rewritten tool never did.
    expect(types.filter((t) => t === 'tool.result')).toHaveLength(1);
  });
});
