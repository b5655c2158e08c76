import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../src/audit/chain.js';
import { parseConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import { readSource } from '../src/spec/source.js';
import type { Json, JsonObject } from '../src/spec/types.js';
import { verifyImage } from '../src/verifier/index.js';

interface Case {
  description: string;
  image: unknown;
  config?: JsonObject;
  inputs?: Record<string, Json>;
  expect: {
    status: 'done' | 'failed' | 'invalid' | 'denied';
    code?: string;
    issues?: string[];
    output?: Json;
    effects?: string[];
  };
}

const dir = join(import.meta.dirname, 'cases');
const store = mkdtempSync(join(tmpdir(), 'mvm-conformance-'));
afterAll(() => rmSync(store, { recursive: true, force: true }));

/** The effects of a run, one line each, in journal order. */
function effects(entries: JournalEntry[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const d = e.data as JsonObject;
    if (e.type === 'model.reply') out.push(`model ${d.slot}`);
    if (e.type === 'tool.result') out.push(`tool ${d.name} ${d.isError ? 'error' : 'ok'}`);
    if (e.type === 'tool.refused') out.push(`tool ${d.name} ${d.denied ? 'denied' : 'refused'}`);
    if (e.type === 'user.show') out.push('show');
    if (e.type === 'mem.store' || e.type === 'mem.load') out.push(`${e.type} ${d.key}`);
  }
  return out;
}

describe('conformance', () => {
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const path = join(dir, name);
    const c = readSource(path, 'conformance case').data as Case;

    it(`${name}: ${c.description}`, async () => {
      if (c.expect.status === 'invalid') {
        const { issues } = verifyImage(c.image);
        expect(issues.map((i) => i.code)).toEqual(c.expect.issues);
        return;
      }
      const config = parseConfig(c.config ?? {}, { path, dir });
      const mvm = new Mvm({ config, storeDir: store });
      try {
        const result = await mvm.run(imageFromObject(c.image), { inputs: c.inputs ?? {} });
        const status = result.error?.kind === 'policy' ? 'denied' : result.status;
        expect({ status, code: result.error?.code }).toEqual({
          status: c.expect.status,
          code: c.expect.code,
        });
        if ('output' in c.expect) expect(result.output).toEqual(c.expect.output);
        if (c.expect.effects) {
          expect(effects(mvm.store.entries(result.runId))).toEqual(c.expect.effects);
        }
        expect(mvm.auditRun(result.runId).report.ok).toBe(true);
      } finally {
        mvm.close();
      }
    });
  }
});
