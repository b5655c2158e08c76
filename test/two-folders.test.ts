import { mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { JsonObject } from '../src/spec/types.js';

/**
 * Two reference filesystem servers, each on its own folder: a call to one reads and writes
 * that one's files, the ones the monitor resolved and the journal names.
 */

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mvm-two-folders-')));
let mvm: Mvm;
afterAll(() => mvm?.close());

describe('two filesystem servers', () => {
  it('each keep to their own folder', async () => {
    for (const name of ['inbox', 'out']) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'mail.txt'), `the ${name} copy`);
    }
    const server = (folder: string) => ({
      command: process.execPath,
      args: [`${'$'}{package:@modelcontextprotocol/server-filesystem}/dist/index.js`, folder],
      resourceBase: folder,
    });
    writeFileSync(
      join(dir, 'mvm.yaml'),
      JSON.stringify({
        mcpServers: {
          inbox: { ...server(join(dir, 'inbox')), label: { integrity: 'untrusted' } },
          out: { ...server(join(dir, 'out')), label: { integrity: 'trusted' } },
        },
        rules: [
          { allow: 'tool:**' },
          { allow: `fs:${dir}/inbox/**` },
          { allow: `fs:${dir}/out/**` },
        ],
      }),
    );
    mvm = new Mvm({ config: loadConfig(join(dir, 'mvm.yaml')), storeDir: join(dir, 'store') });
    const image = imageFromObject({
      mvm: 1,
      name: 'two',
      tools: { inbox: {}, out: {} },
      permissions: ['tool:**', 'fs:**'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'inbox', dst: 'a' },
            { op: 'tool.load', ns: 'out', dst: 'b' },
            { op: 'data.const', value: { path: 'mail.txt' }, dst: 'read' },
            { op: 'tool.call', tool: 'out/read_text_file', args: 'read', dst: 'r' },
            { op: 'data.const', value: { path: 'reply.txt', content: 'ok' }, dst: 'write' },
            { op: 'tool.call', tool: 'out/write_file', args: 'write', dst: 'w' },
            { op: 'halt', src: 'r' },
          ],
        },
      },
    });
    const result = await mvm.run(image);
    expect(result.error).toBeNull();
    expect((result.output as JsonObject).content).toBe('the out copy');
    expect(readFileSync(join(dir, 'out', 'reply.txt'), 'utf8')).toBe('ok');
    const named = mvm.store
      .entries(result.runId)
      .filter((e) => e.type === 'tool.resources')
      .flatMap((e) => (e.data as JsonObject).resources as string[]);
    expect(named).toEqual([`fs:${dir}/out/mail.txt`, `fs:${dir}/out/reply.txt`]);
  }, 60_000);
});
