import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { readImageFile } from '../src/host/image-file.js';
import type { JsonObject } from '../src/spec/types.js';

const example = join(import.meta.dirname, '..', 'examples', 'notes');
const dir = mkdtempSync(join(tmpdir(), 'mvm-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('recording a run', () => {
  it('writes a replay file that plays the same run again', async () => {
    const recorded = join(dir, 'recorded.yaml');
    const image = readImageFile(join(example, 'image.yaml'));
    const first = new Mvm({ config: loadConfig(join(example, 'mvm.yaml')), storeDir: dir });
    const a = await first.run(image, { record: recorded });
    first.close();
    expect(a.status).toBe('done');

    const file = parse(readFileSync(recorded, 'utf8')) as { replies: JsonObject[] };
    expect(file.replies).toHaveLength(5);
    expect(file.replies[0]!.tools).toContain('fs/read_text_file');

    const raw = parse(readFileSync(join(example, 'mvm.yaml'), 'utf8')) as JsonObject;
    const config = parseConfig(
      { ...raw, models: { main: { driver: 'replay', file: recorded } } },
      { path: join(example, 'mvm.yaml'), dir: example },
    );
    const second = new Mvm({ config, storeDir: dir });
    const b = await second.run(image);
    const calls = (id: string) =>
      second.store
        .entries(id)
        .filter((e) => e.type === 'tool.intent' || e.type === 'tool.refused')
        .map((e) => (e.data as JsonObject).name);
    expect(b.output).toBe(a.output);
    expect(calls(b.runId)).toEqual(calls(a.runId));
    second.close();
  });
});
