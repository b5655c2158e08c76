import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../spec/types.js';
import { loadConfig, parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';
import { rootsOf } from './server-hooks.js';

const scratch = mkdtempSync(join(tmpdir(), 'mvm-server-hooks-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const everything = {
  command: process.execPath,
  args: [join(modules, '@modelcontextprotocol/server-everything/dist/index.js'), 'stdio'],
};

/** An image that calls one tool of server-everything and halts with its result. */
function calling(tool: string, args: JsonObject) {
  return imageFromObject({
    mvm: 1,
    name: 'server-asks',
    tools: { ev: {} },
    permissions: ['tool:ev/*'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'ev', dst: 'tools' },
          { op: 'data.const', value: args, dst: 'args' },
          { op: 'tool.call', tool: `ev/${tool}`, args: 'args', dst: 'r' },
          { op: 'halt', src: 'r' },
        ],
      },
    },
  });
}

function host(rules: JsonObject[]) {
  const config = parseConfig(
    {
      models: { sampler: { driver: 'replay', replies: [{ text: 'the sampler says hi' }] } },
      mcpServers: { ev: { ...everything, sampling: { model: 'sampler' } } },
      rules: [{ allow: 'tool:ev/*' }, ...rules],
    },
    { path: null, dir: process.cwd() },
  );
  return new Mvm({ config, storeDir: mkdtempSync(join(scratch, 'store-')) });
}

async function contentOf(mvm: Mvm, tool: string, args: JsonObject, answer?: JsonObject) {
  try {
    const user = answer ? { ask: async () => answer } : {};
    const result = await mvm.run(calling(tool, args), { user });
    expect(result.status).toBe('done');
    return String((result.output as JsonObject).content);
  } finally {
    mvm.close();
  }
}

const SLOW = { timeout: 30_000 };

describe("what a run lends its servers' requests", () => {
  const prompt = { prompt: 'hello', maxTokens: 20 };

  it('denies a sampling request that no rule allows', SLOW, async () => {
    const text = await contentOf(host([]), 'trigger-sampling-request', prompt);
    expect(text).toContain("sampling denied: no rule allows 'sampling:ev'");
  });

  it('answers a sampling request from the bound slot once allowed', SLOW, async () => {
    const grants = [{ allow: 'sampling:ev' }, { allow: 'model:sampler' }];
    const text = await contentOf(host(grants), 'trigger-sampling-request', prompt);
    expect(text).toContain('the sampler says hi');
  });

  it(
    'journals what the server asked and what was decided, and replays without it',
    SLOW,
    async () => {
      const mvm = host([{ allow: 'sampling:ev' }, { allow: 'model:sampler' }]);
      try {
        const result = await mvm.run(calling('trigger-sampling-request', prompt));
        const entries = mvm.store.entries(result.runId);
        const of = (type: string) => entries.filter((e) => e.type === type).map((e) => e.data);
        expect(of('server.decision')).toMatchObject([
          { resource: 'sampling:ev', verdict: 'allow' },
          { resource: 'model:sampler', verdict: 'allow' },
        ]);
        expect(of('server.sample')).toMatchObject([{ ns: 'ev', slot: 'sampler' }]);
        expect(mvm.auditRun(result.runId).report.ok).toBe(true);
        expect((await mvm.replay(result.runId)).ok).toBe(true);
      } finally {
        mvm.close();
      }
    },
  );

  it('still needs the slot itself allowed', SLOW, async () => {
    const text = await contentOf(host([{ allow: 'sampling:ev' }]), 'trigger-sampling-request', {
      prompt: 'hello',
    });
    expect(text).toContain("no rule allows 'model:sampler'");
  });

  it('declines an elicitation unless allowed, then asks the user', SLOW, async () => {
    const declined = await contentOf(host([]), 'trigger-elicitation-request', {}, {});
    expect(declined).toContain('declined');

    const answer = { name: 'Ann' };
    const allowed = host([{ allow: 'elicitation:ev' }]);
    const accepted = await contentOf(allowed, 'trigger-elicitation-request', {}, answer);
    expect(accepted).toContain('- Name: Ann');
    // Left unanswered, a field with a default takes it.
    expect(accepted).toContain('- Favorite Integer: 42');
  });
});

describe('mvm lock', () => {
  it('lists with the capabilities a run declares, so the lock holds', SLOW, async () => {
    const dir = mkdtempSync(join(scratch, 'lock-'));
    const path = join(dir, 'mvm.json');
    writeFileSync(
      path,
      JSON.stringify({ mcpServers: { ev: everything }, rules: [{ allow: 'tool:ev/*' }] }),
    );
    const mvm = new Mvm({ config: loadConfig(path), storeDir: join(dir, '.mvm') });
    try {
      await mvm.lock();
      // server-everything offers this tool only to a client that declares sampling.
      const result = await mvm.run(calling('trigger-sampling-request', { prompt: 'hi' }));
      expect(result.error).toBeNull();
    } finally {
      mvm.close();
    }
  });
});

describe('roots', () => {
  it("are a namespace's own folders, resolved, and none when it names none", () => {
    expect(rootsOf(['data', '/srv/shared'], '/home/ann/agent').map((r) => r.uri)).toEqual([
      'file:///home/ann/agent/data',
      'file:///srv/shared',
    ]);
    expect(rootsOf([], '/home/ann/agent')).toEqual([]);
  });
});
