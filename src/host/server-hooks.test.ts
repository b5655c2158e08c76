import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { WAIT } from '../interpreter/people.js';
import { Monitor } from '../monitor/monitor.js';
import type { Json, JsonObject } from '../spec/types.js';
import { loadConfig, parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';
import {
  MAX_LOG_CHARS,
  MAX_LOG_MARKS,
  rootsOf,
  type ServerHookContext,
  serverHooks,
} from './server-hooks.js';

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

function host(rules: JsonObject[], sampler: JsonObject = {}) {
  const config = parseConfig(
    {
      models: {
        sampler: { driver: 'replay', replies: [{ text: 'the sampler says hi' }], ...sampler },
      },
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

  it(
    "holds the sampling slot's replies to its pin, refusing or warning as it says",
    SLOW,
    async () => {
      const grants = [{ allow: 'sampling:ev' }, { allow: 'model:sampler' }];
      const other = { replies: [{ text: 'the sampler says hi', model: 'm2' }] };
      const refused = host(grants, { ...other, pin: { model: 'm1' } });
      const text = await contentOf(refused, 'trigger-sampling-request', prompt);
      expect(text).toContain(
        "sampling denied: slot 'sampler': model 'm2' answered, the pin is 'm1'",
      );

      const warned = host(grants, { ...other, pin: { model: 'm1', onMismatch: 'warn' } });
      try {
        const result = await warned.run(calling('trigger-sampling-request', prompt));
        expect(String((result.output as JsonObject).content)).toContain('the sampler says hi');
        expect(result.manifest.models).toMatchObject([
          { slot: 'sampler', forServers: 1, mismatches: ["model 'm2' answered, the pin is 'm1'"] },
        ]);
      } finally {
        warned.close();
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

describe("a server's sampling calls and the run's budgets", () => {
  /** Two sampling calls, with a question between them so that the run can suspend there. */
  const twice = imageFromObject({
    mvm: 1,
    name: 'samples',
    tools: { ev: {} },
    permissions: ['tool:ev/*', 'user'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'ev' },
          { op: 'data.const', value: { prompt: 'hello', maxTokens: 20 }, dst: 'args' },
          { op: 'tool.call', tool: 'ev/trigger-sampling-request', args: 'args', dst: 'first' },
          { op: 'user.ask', prompt: 'again?', dst: 'answer' },
          { op: 'tool.call', tool: 'ev/trigger-sampling-request', args: 'args', dst: 'second' },
          { op: 'data.object', fields: { first: 'first', second: 'second' }, dst: 'o' },
          { op: 'halt', src: 'o' },
        ],
      },
    },
  });

  function sampling(budgets: JsonObject) {
    const reply = { text: 'sampled', usage: { inputTokens: 30, outputTokens: 20, cost: 0.25 } };
    const config = parseConfig(
      {
        models: { sampler: { driver: 'replay', model: 'small', replies: [reply, reply] } },
        mcpServers: { ev: { ...everything, sampling: { model: 'sampler' } } },
        rules: [
          { allow: 'tool:ev/*' },
          { allow: 'user' },
          { allow: 'sampling:ev' },
          { allow: 'model:sampler' },
        ],
        budgets,
      },
      { path: null, dir: scratch },
    );
    return new Mvm({ config, storeDir: mkdtempSync(join(scratch, 'store-')) });
  }

  const contents = (out: Json) => {
    const o = out as JsonObject;
    return [String((o.first as JsonObject).content), String((o.second as JsonObject).content)];
  };

  it("charges tokens and cost like the image's own model calls", SLOW, async () => {
    const mvm = sampling({});
    try {
      const result = await mvm.run(twice, { user: { ask: async () => 'yes' } });
      expect(result.status).toBe('done');
      expect(contents(result.output)).toEqual([
        expect.stringContaining('sampled'),
        expect.stringContaining('sampled'),
      ]);
      expect(result.manifest.budgets.used).toMatchObject({ modelCalls: 2, tokens: 100 });
      expect(result.manifest.models).toEqual([
        expect.objectContaining({
          slot: 'sampler',
          driver: 'replay',
          model: 'small',
          calls: 2,
          forServers: 2,
          inputTokens: 60,
          outputTokens: 40,
          cost: 0.5,
        }),
      ]);
    } finally {
      mvm.close();
    }
  });

  it(
    'refuses a sampling request once the budget is spent, counted again on resume',
    SLOW,
    async () => {
      const mvm = sampling({ tokens: 40 });
      try {
        const waiting = await mvm.run(twice);
        expect(waiting.status).toBe('waiting');
        // Resumed in a fresh machine, the first call's tokens come from the journal.
        const done = await mvm.resume(waiting.runId, [{ id: 'q1', answer: 'yes' }]);
        expect(done.status).toBe('done');
        const [first, second] = contents(done.output);
        expect(first).toContain('sampled');
        expect(second).toContain("sampling denied: the run's budget of 40 tokens is spent");
        const marks = mvm.store
          .entries(done.runId)
          .filter((e) => e.type === 'server.sample')
          .map((e) => e.data);
        expect(marks).toMatchObject([
          { ns: 'ev', slot: 'sampler', usage: { inputTokens: 30, outputTokens: 20 } },
          { ns: 'ev', slot: 'sampler', refused: "the run's budget of 40 tokens is spent" },
        ]);
        expect((await mvm.replay(done.runId)).ok).toBe(true);
      } finally {
        mvm.close();
      }
    },
  );
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

describe('log messages', () => {
  const rootsCall = imageFromObject({
    mvm: 1,
    name: 'logs',
    tools: { ev: {} },
    permissions: ['tool:ev/*', 'user'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'ev' },
          { op: 'data.const', value: {}, dst: 'args' },
          // The server logs the roots it was given before it answers this call.
          { op: 'tool.call', tool: 'ev/get-roots-list', args: 'args', dst: 'r' },
          { op: 'user.ask', prompt: 'go on?', dst: 'answer' },
          { op: 'halt', src: 'answer' },
        ],
      },
    },
  });

  function logging(logLevel?: string) {
    const ev = { ...everything, roots: [scratch], ...(logLevel ? { logLevel } : {}) };
    const config = parseConfig(
      {
        mcpServers: { ev },
        rules: [{ allow: 'tool:ev/*' }, { allow: 'user' }, { allow: `fs:${scratch}/**` }],
      },
      { path: null, dir: scratch },
    );
    return new Mvm({ config, storeDir: mkdtempSync(join(scratch, 'store-')) });
  }

  const marks = (mvm: Mvm, run: string) =>
    mvm.store
      .entries(run)
      .filter((e) => e.type === 'server.log')
      .map((e) => e.data);

  it(
    'are journaled at the level configured, through a suspension, resume and replay',
    SLOW,
    async () => {
      const mvm = logging('info');
      try {
        const waiting = await mvm.run(rootsCall);
        expect(waiting.status).toBe('waiting');
        expect(marks(mvm, waiting.runId)).toContainEqual({
          ns: 'ev',
          level: 'info',
          logger: 'everything-server',
          data: 'Roots updated: 1 root(s) received from client',
        });
        const done = await mvm.resume(waiting.runId, [{ id: 'q1', answer: 'yes' }]);
        expect(done.status).toBe('done');
        expect(done.output).toBe('yes');
        expect(mvm.auditRun(done.runId).report.ok).toBe(true);
        const replay = await mvm.replay(done.runId);
        expect(replay.divergence).toBeUndefined();
        expect(replay.ok).toBe(true);
      } finally {
        mvm.close();
      }
    },
  );

  it('are not journaled below the level, nor without one', SLOW, async () => {
    for (const level of ['warning', undefined]) {
      const mvm = logging(level);
      try {
        const result = await mvm.run(rootsCall);
        expect(result.status).toBe('waiting');
        expect(marks(mvm, result.runId)).toEqual([]);
      } finally {
        mvm.close();
      }
    }
  });

  it('are held to the level whatever the server sends, and cut off when they flood', () => {
    const recorded: Json[] = [];
    const config = parseConfig(
      { mcpServers: { ev: { ...everything, logLevel: 'warning' } } },
      { path: null, dir: scratch },
    );
    const ctx: ServerHookContext = {
      config,
      monitor: new Monitor([]),
      user: { show: async () => {}, ask: async () => WAIT, confirm: async () => WAIT },
      driver: () => {
        throw new Error('no model here');
      },
      record: (_type, data) => {
        recorded.push(data);
      },
    };
    const hooks = serverHooks('ev', ctx);
    expect(hooks.logLevel).toBe('warning');
    const log = (level: 'info' | 'error', data: Json) =>
      hooks.events!({ type: 'log', namespace: 'ev', level, data });
    log('info', 'chatter');
    log('error', { disk: 'full' });
    log('error', 'x'.repeat(MAX_LOG_CHARS + 10));
    expect(recorded).toEqual([
      { ns: 'ev', level: 'error', data: { disk: 'full' } },
      { ns: 'ev', level: 'error', data: `"${'x'.repeat(MAX_LOG_CHARS - 1)}`, cut: true },
    ]);
    for (let i = 0; i < MAX_LOG_MARKS + 5; i++) log('error', i);
    expect(recorded).toHaveLength(MAX_LOG_MARKS + 1);
    expect(recorded.at(-1)).toEqual({ ns: 'ev', dropped: true, after: MAX_LOG_MARKS });
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
