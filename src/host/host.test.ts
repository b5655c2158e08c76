import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';

const image = {
  mvm: 1,
  name: 'needs',
  models: { main: { needs: ['tools'] } },
  tools: { fs: {} },
  permissions: ['model:main'],
  inputs: { n: { type: 'number' } },
  procedures: { main: { params: ['n'], body: [{ op: 'halt', src: 'n' }] } },
};

function mvm(config: Record<string, unknown>) {
  const storeDir = mkdtempSync(join(tmpdir(), 'mvm-bind-'));
  return new Mvm({
    config: parseConfig(
      { rules: [{ allow: 'model:main' }], ...config },
      { path: 'host.yaml', dir: process.cwd() },
    ),
    storeDir,
  });
}

const models = {
  main: { driver: 'replay', replies: [] },
};
const tools = { fs: { command: 'node' } };

describe('binding an image to a configuration', () => {
  it.each([
    ['permission_not_granted', { models, tools, rules: [{ allow: 'model:other' }] }, { n: 1 }],
    ['unbound_slot', { tools }, {}],
    ['unknown_driver', { models: { main: { driver: 'telepathy' } }, tools }, {}],
    ['unmounted_namespace', { models }, {}],
    ['missing_input', { models, tools }, {}],
    ['bad_input', { models, tools }, { n: 'seven' }],
    ['unknown_input', { models, tools }, { n: 1, m: 2 }],
    [
      'missing_capability',
      {
        models: {
          main: {
            driver: 'openai-compatible',
            baseUrl: 'http://127.0.0.1:9/v1',
            model: 'm',
            capabilities: { tools: false },
          },
        },
        tools,
      },
      { n: 1 },
    ],
  ])('refuses %s before anything is written', async (code, config, inputs) => {
    const m = mvm(config);
    const err = await m.run(imageFromObject(image), { inputs }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe(code);
    expect(m.store.listRuns()).toEqual([]);
    expect(readdirSync(join(m.store.dir, 'runs'))).toEqual([]);
    m.close();
  });

  it('lists every permission the image requests that no rule grants, before anything runs', async () => {
    const m = mvm({ models, tools, rules: [{ allow: 'model:main' }, { allow: 'tool:fs/read_*' }] });
    const wants = { ...image, permissions: ['model:main', 'tool:fs/*', 'mem:notes/*', 'user'] };
    const err = await m.run(imageFromObject(wants), { inputs: { n: 1 } }).catch((e: unknown) => e);
    m.close();
    // tool:fs/* is granted in part (read_*), which the run may use; the rest are missing.
    expect(err).toMatchObject({
      code: 'permission_not_granted',
      data: { missing: ['mem:notes/*', 'user'] },
    });
    expect((err as ConfigError).message).toContain(
      'the image requests what no rule grants: mem:notes/*, user',
    );
  });

  it('takes inputs from the run, then the configuration, then the image default', async () => {
    const m = mvm({ models, tools, inputs: { n: 5 } });
    expect((await m.run(imageFromObject(image))).output).toBe(5);
    expect((await m.run(imageFromObject(image), { inputs: { n: 6 } })).output).toBe(6);
    m.close();
  });
});

describe('images verified once per digest', () => {
  it('runs each image as it is, two of one name and the same image again', async () => {
    const m = mvm({ models, tools });
    const other = { ...image, procedures: { main: { params: ['n'], body: [{ op: 'halt' }] } } };

    expect((await m.run(imageFromObject(image), { inputs: { n: 1 } })).output).toBe(1);
    expect((await m.run(imageFromObject(other), { inputs: { n: 1 } })).output).toBeNull();
    expect((await m.run(imageFromObject(image), { inputs: { n: 2 } })).output).toBe(2);
    m.close();
  });

  it('still refuses an image that does not verify, every time it is given', async () => {
    const m = mvm({ models, tools });
    const bad = { ...image, procedures: { main: { body: [{ op: 'halt', src: 'nowhere' }] } } };

    for (let i = 0; i < 2; i++) {
      const err = await m.run(imageFromObject(bad), { inputs: { n: 1 } }).catch((e) => e);
      expect(err).toMatchObject({ kind: 'verify' });
    }
    expect(m.store.listRuns()).toEqual([]);
    m.close();
  });
});

describe('the configuration', () => {
  it('refuses an expiry it cannot read, naming the rule', () => {
    expect(() =>
      parseConfig(
        { rules: [{ deny: 'tool:fs/*', until: '2099-01-01T00:00:00+01' }] },
        { path: 'h.yaml', dir: '.' },
      ),
    ).toThrow(/rules\[0\]\.until/);
  });

  /** A reference to an environment variable, as a configuration writes it. */
  const ref = (name: string) => ['$', `{env:${name}}`].join('');

  it('fills environment variables, refuses an unset one, and takes a default when given', () => {
    const model = (value: string, env: NodeJS.ProcessEnv) =>
      parseConfig(
        { models: { main: { driver: 'replay', replies: [], model: value } } },
        { path: 'h.yaml', dir: '.', env },
      ).models.main!.model;
    const unset = () => model(ref('M'), {});

    expect(model(ref('M'), { M: 'm1' })).toBe('m1');
    expect(model(ref('M:-m0'), {})).toBe('m0');
    expect(model(`x${ref('M:-')}`, {})).toBe('x');
    expect(model(ref('M:-m0'), { M: '' })).toBe('');
    expect(unset).toThrow(ConfigError);
    expect(unset).toThrow("h.yaml: models.main.model: environment variable 'M' is not set");
  });

  it('refuses a reference inside another, rather than cut it at the first brace', () => {
    const nested = `${ref(`M:-${['$', '{runDir}'].join('')}`)}/x`;
    expect(() =>
      parseConfig(
        { models: { main: { driver: 'replay', replies: [], model: nested } } },
        { path: 'h.yaml', dir: '.', env: { M: '/m' } },
      ),
    ).toThrow(/models\.main\.model: .*a reference cannot hold another one/);
  });

  it('says where an unset variable is in a rule', () => {
    const parse = () =>
      parseConfig(
        { rules: [{ allow: `fs:${ref('ROOT')}/**` }] },
        { path: 'h.yaml', dir: '.', env: {} },
      );
    expect(parse).toThrow(/rules\[0\]\.allow: environment variable 'ROOT'/);
  });
});

describe('misspelt keys', () => {
  const parse = (data: JsonObject) => () => parseConfig(data, { path: 'h.yaml', dir: '/' });

  it('refuses an unknown key of a server entry, naming the likely one', () => {
    expect(parse({ mcpServers: { ev: { command: 'node', lable: {} } } })).toThrow(
      "h.yaml: mcpServers.ev: unknown field 'lable' (did you mean 'label'?)",
    );
    expect(parse({ mcpServers: { ev: { command: 'node', loglevel: 'debug' } } })).toThrow(
      "(did you mean 'logLevel'?)",
    );
    expect(parse({ mcpServers: { ev: { command: 'node', foo: 1 } } })).toThrow(
      /unknown field 'foo'$/,
    );
  });

  it('takes the keys other MCP clients write in the same block', () => {
    const entry = { command: 'node', autoApprove: ['x'], alwaysAllow: [], disabled: false };
    expect(parse({ mcpServers: { ev: entry } })()).toBeDefined();
  });

  it('refuses a near miss of a driver option, and leaves other keys to the driver', () => {
    expect(parse({ models: { main: { driver: 'replay', fiel: 'r.yaml' } } })).toThrow(
      "models.main: unknown field 'fiel' (did you mean 'file'?)",
    );
    expect(parse({ models: { main: { driver: 'mine', seed: 3 } } })()).toBeDefined();
  });

  it('lists the values an enum allows', () => {
    expect(parse({ mcpServers: { ev: { command: 'node', logLevel: 'loud' } } })).toThrow(
      'mcpServers.ev.logLevel: expected one of "debug", "info"',
    );
  });
});

describe('rule patterns', () => {
  it.each([
    ['tol:fs/read_text_file', /names no kind of resource/],
    ['fs:data/**', /a file pattern is an absolute path/],
  ])("refuses '%s', which could never match", (pattern, message) => {
    const parse = () => parseConfig({ rules: [{ allow: pattern }] }, { path: null, dir: '/' });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });

  it('takes every kind of resource the monitor asks about', () => {
    const rules = ['tool:fs/*', 'fs:/srv/**', 'net:example.test/**', 'mem:notes', 'model:main']
      .concat(['user', 'elicitation:fs', 'sampling:fs', '**'])
      .map((allow) => ({ allow }));
    expect(parseConfig({ rules }, { path: null, dir: '/' }).rules).toHaveLength(9);
  });
});

describe('a tool called before its namespace is loaded', () => {
  it('is refused with a reason that says the namespace is not loaded', async () => {
    const m = new Mvm({
      config: parseConfig({ rules: [{ allow: 'tool:t/*' }] }, { path: null, dir: '/' }),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-unloaded-')),
      functions: { t: { echo: { description: 'echo', run: () => 'x' } } },
    });
    const result = await m.run(
      imageFromObject({
        mvm: 1,
        name: 'unloaded',
        tools: { t: {} },
        permissions: ['tool:t/*'],
        procedures: {
          main: {
            body: [
              { op: 'data.const', value: {}, dst: 'a' },
              { op: 'tool.call', tool: 't/echo', args: 'a', dst: 'r' },
              { op: 'halt', src: 'r' },
            ],
          },
        },
      }),
    );
    m.close();

    expect(result.output).toMatchObject({
      ok: false,
      content:
        "unknown tool 't/echo' (namespace 't' is not loaded: tool.load); the tools are: none",
    });
  });
});
