import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/host/config.js';
import { Mvm } from '../src/host/host.js';
import { imageFromObject } from '../src/host/image-file.js';
import type { JsonObject } from '../src/spec/types.js';

/**
 * A server's tool annotations against the configuration: a server taken for the reference
 * filesystem server by its path says its read tool is destructive and open-world, and its
 * write tool read-only. The hints may only make the host stricter.
 */

let open: Mvm[] = [];
afterEach(() => {
  for (const m of open) m.close();
  open = [];
});

const impostor = join(import.meta.dirname, 'servers', 'server-filesystem', 'impostor.mjs');

const image = imageFromObject({
  mvm: 1,
  name: 'hinted',
  tools: { fs: {} },
  permissions: ['tool:fs/*', 'fs:/**'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'fs', dst: 'tools' },
        { op: 'data.const', value: { path: '.' }, dst: 'here' },
        { op: 'tool.call', tool: 'fs/list_directory', args: 'here', dst: 'listed' },
        { op: 'data.const', value: { path: 'a.md' }, dst: 'a' },
        { op: 'tool.call', tool: 'fs/read_text_file', args: 'a', dst: 'read' },
        { op: 'data.object', fields: { listed: 'listed', read: 'read' }, dst: 'out' },
        { op: 'halt', src: 'out' },
      ],
    },
  },
});

function machine(rules: JsonObject[], binding: JsonObject = {}) {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mvm-hints-')));
  const data = join(dir, 'data');
  mkdirSync(data);
  const config = join(dir, 'mvm.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: { fs: { command: process.execPath, args: [impostor, data], ...binding } },
      rules: rules.map((r) => JSON.parse(JSON.stringify(r).replaceAll('DATA', data))),
    }),
  );
  const mvm = new Mvm({ config: loadConfig(config), storeDir: join(dir, 'store') });
  open.push(mvm);
  return mvm;
}

const readRules = [
  { allow: 'tool:fs/*', mode: 'read' },
  { allow: 'fs:DATA/**', mode: 'read' },
  { allow: 'fs:DATA', mode: 'read' },
];

async function outcome(mvm: Mvm) {
  const result = await mvm.run(image);
  expect(result.status).toBe('done');
  const out = result.output as Record<string, JsonObject>;
  const decisions = mvm.store
    .entries(result.runId)
    .filter((e) => e.type === 'decision')
    .map((e) => e.data as JsonObject);
  return { listed: out.listed!, read: out.read!, decisions, runId: result.runId };
}

describe("a server's tool annotations", () => {
  it('make a tool the name says reads be decided as a write too, where the configuration is silent', async () => {
    const { listed, read } = await outcome(machine(readRules));
    expect(listed).toMatchObject({ ok: true, content: 'a.md' });
    // Read rules alone no longer let it through, and the model is told why.
    expect(read).toMatchObject({ ok: false });
    expect(read.content).toContain(
      "denied by policy: no rule allows 'tool:fs/read_text_file' (nothing is allowed by default) (as a write call)",
    );
  }, 30_000);

  it('need the write granted as well, files included, for the call to go through', async () => {
    const rules = [
      ...readRules,
      { allow: 'tool:fs/read_text_file', mode: 'write' },
      { allow: 'fs:DATA/**', mode: 'write' },
    ];
    const { read } = await outcome(machine(rules));
    expect(read).toMatchObject({ ok: true, content: 'the text of a.md' });
  }, 30_000);

  it('give way to the configuration: a mode it sets is the mode', async () => {
    const { read } = await outcome(machine(readRules, { modes: { read_text_file: 'read' } }));
    expect(read).toMatchObject({ ok: true, content: 'the text of a.md' });
  }, 30_000);

  it('keep an open-world tool untrusted where only its namespace vouches for its results', async () => {
    const rules = [{ allow: 'tool:fs/*' }, { allow: 'fs:DATA/**' }, { allow: 'fs:DATA' }];
    const trusted = { label: { integrity: 'trusted' } };
    const plain = await outcome(machine(rules, trusted));
    expect(plain.read).toMatchObject({ ok: true });
    const labelOf = async (mvm: Mvm) => {
      const { runId } = await outcome(mvm);
      const results = mvm.store.entries(runId).filter((e) => e.type === 'tool.result');
      return results.map((e) => ((e.data as JsonObject).label as JsonObject).integrity);
    };
    // list_directory says it is not open-world: the namespace's word holds for it.
    expect(await labelOf(machine(rules, trusted))).toEqual(['trusted', 'untrusted']);
    // The tool's own entry speaks for it, over the hint.
    const own = { ...trusted, tools: { read_text_file: { label: { integrity: 'trusted' } } } };
    expect(await labelOf(machine(rules, own))).toEqual(['trusted', 'trusted']);
    // With nothing said, everything is untrusted; no hint makes a result trusted.
    expect(await labelOf(machine(rules))).toEqual(['untrusted', 'untrusted']);
  }, 60_000);

  it('are journaled with the definitions and replay as they ran', async () => {
    const mvm = machine(readRules);
    const { runId } = await outcome(mvm);
    const load = mvm.store.entries(runId).find((e) => e.type === 'tool.load')!;
    const pins = (load.data as JsonObject).tools as JsonObject[];
    const read = pins.find((p) => p.name === 'read_text_file')!;
    expect((read.definition as JsonObject).annotations).toMatchObject({ destructiveHint: true });
    expect(await mvm.replay(runId)).toMatchObject({ ok: true, status: 'done' });
  }, 30_000);
});
