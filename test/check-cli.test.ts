import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mvm } from './cli.js';

/** `check` refuses what `run` would refuse before it stores anything, and starts nothing. */

const image = `mvm: 1
name: keeper
models: { main: { needs: [tools] } }
tools: { fs: {} }
permissions: [model:main, 'tool:fs/*', user]
procedures:
  main:
    body:
      - { op: tool.load, ns: fs, dst: tools }
      - { op: halt, src: tools }
`;

const bound = {
  models: '  main: { driver: replay, replies: [{ text: hi }] }',
  // A server that cannot start: check must not try.
  servers: "  fs: { command: node, args: ['/nonexistent/server.js'] }",
  rules: ['  - allow: model:main', "  - allow: 'tool:fs/*'", '  - allow: user'],
  extra: '',
};

function folder(config: Partial<typeof bound> | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-check-cli-'));
  writeFileSync(join(dir, 'image.yaml'), image);
  if (config) {
    const c = { ...bound, ...config };
    const text = [
      'models:',
      c.models,
      'mcpServers:',
      c.servers,
      'rules:',
      ...c.rules,
      c.extra,
      `store: { dir: '${'$'}{configDir}/store' }`,
      '',
    ].join('\n');
    writeFileSync(join(dir, 'mvm.yaml'), text);
  }
  return dir;
}

describe('check against the configuration beside the image', () => {
  it('passes an image the configuration binds, and names the configuration', async () => {
    const dir = folder({});

    const r = await mvm('check', dir);

    expect(r.code).toBe(0);
    expect(r.out).toContain(`${join(dir, 'image.yaml')}: ok, bound by ${join(dir, 'mvm.yaml')}`);
    expect(readdirSync(dir).sort()).toEqual(['image.yaml', 'mvm.yaml']);
  });

  const cases: Array<{ name: string; config: Partial<typeof bound>; code: string; says: string }> =
    [
      {
        name: 'a namespace the configuration does not mount',
        config: { servers: "  files: { command: node, args: ['/nonexistent/server.js'] }" },
        code: 'unmounted_namespace',
        says: "mcpServers: the image needs tool namespace 'fs'; mount it as mcpServers.fs (it mounts 'files')",
      },
      {
        name: 'a namespace with neither a server nor host functions, named as the file does',
        config: { servers: '  fs: { label: { integrity: trusted } }' },
        code: 'unmounted_namespace',
        says: 'mcpServers.fs: the namespace has no host functions, so it needs a command or a url',
      },
      {
        name: 'a permission no rule grants',
        config: { rules: ['  - allow: model:main', "  - allow: 'tool:fs/*'"] },
        code: 'permission_not_granted',
        says: 'rules: the image requests what no rule grants: user',
      },
      {
        name: 'a model slot left unbound',
        config: { models: '  other: { driver: replay, replies: [] }' },
        code: 'unbound_slot',
        says: "models.main: the image needs model slot 'main'",
      },
      {
        name: 'roots no rule grants',
        config: {
          servers: "  fs: { command: node, args: ['/nonexistent/server.js'], roots: [/srv/x] }",
        },
        code: 'root_not_granted',
        says: "mcpServers.fs.roots: no rule grants any file under '/srv/x'",
      },
      {
        name: 'a driver that is not there',
        config: { models: '  main: { driver: nowhere }' },
        code: 'unknown_driver',
        says: "models.main.driver: no driver 'nowhere'",
      },
    ];

  for (const c of cases) {
    it(`refuses ${c.name} with [${c.code}], at its line, and writes nothing`, async () => {
      const dir = folder(c.config);

      const r = await mvm('check', dir);

      expect(r.code).toBe(1);
      expect(r.out).toMatch(
        new RegExp(`^${join(dir, 'mvm.yaml')}:\\d+:\\d+: .* \\[${c.code}\\]$`, 'm'),
      );
      expect(r.out).toContain(c.says);
      expect(readdirSync(dir).sort()).toEqual(['image.yaml', 'mvm.yaml']);
    });
  }

  it('lists every binding problem, and gives them as JSON', async () => {
    const dir = folder({ models: '  other: { driver: replay }', rules: ['  - allow: user'] });

    const r = await mvm('check', dir, '--json');

    expect(r.code).toBe(1);
    const said = JSON.parse(r.out) as { ok: boolean; config: string; binding: { code: string }[] };
    expect(said.ok).toBe(false);
    expect(said.config).toBe(join(dir, 'mvm.yaml'));
    expect(said.binding.map((b) => b.code)).toEqual(['unbound_slot', 'permission_not_granted']);
  });

  it('checks against the configuration --config names', async () => {
    const dir = folder(null);
    const other = folder({ rules: ['  []'] });

    const r = await mvm('check', dir, '--config', join(other, 'mvm.yaml'));

    expect(r.code).toBe(1);
    expect(r.out).toContain('[permission_not_granted]');
  });

  it('says when there is no configuration, and that the binding was not checked', async () => {
    const dir = folder(null);

    const r = await mvm('check', join(dir, 'image.yaml'));

    expect(r.code).toBe(0);
    expect(r.out).toContain(`${join(dir, 'image.yaml')}: ok`);
    expect(r.out).toContain(
      `no configuration found: looked for mvm.yaml, mvm.yml or mvm.json in ${dir}; give one with --config FILE; the binding was not checked`,
    );
  });
});

describe('run with no configuration', () => {
  it('says where one was looked for and how to give one', async () => {
    const dir = folder(null);

    const r = await mvm('run', join(dir, 'image.yaml'), '--store', join(dir, 'store'));

    expect(r.code).toBe(2);
    expect(r.err).toContain("configuration: models.main: the image needs model slot 'main'");
    expect(r.err).toContain(
      `no configuration found: looked for mvm.yaml, mvm.yml or mvm.json in ${dir}; give one with --config FILE`,
    );
  });
});
