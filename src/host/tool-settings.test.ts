import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JsonObject } from '../spec/types.js';
import type { ToolDefinition } from '../tools/provider.js';
import { loadConfig, parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';
import { checkToolSettings } from './tool-settings.js';

/** Settings of single tools must name tools the server offers and arguments they take. */

const send: ToolDefinition = {
  name: 'send',
  description: 'sends a mail',
  inputSchema: { type: 'object', properties: { to: { type: 'string' }, body: { type: 'string' } } },
};
const search: ToolDefinition = { name: 'search', description: 'searches', inputSchema: {} };

function config(tools: JsonObject, block = 'mcpServers') {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-tool-settings-'));
  const path = join(dir, 'mvm.yaml');
  const text = `${block}:\n  mail:\n    url: http://127.0.0.1:1/mcp\n    tools: ${JSON.stringify(tools)}\n`;
  writeFileSync(path, text);
  return loadConfig(path);
}

const refusal = (f: () => void) => {
  try {
    f();
  } catch (e) {
    return e as { code: string; message: string; data: JsonObject };
  }
  throw new Error('not refused');
};

describe('the settings of single tools', () => {
  it('pass when they name offered tools and arguments their schemas list', () => {
    const c = config({
      send: { content: ['body'], recipients: ['user', { arg: 'to' }], resources: {} },
      search: { content: ['anything'] },
    });
    expect(() => checkToolSettings(c, 'mail', [send, search])).not.toThrow();
  });

  it('refuse a tool the server does not offer, naming the key as written and a near name', () => {
    const c = config({ sned: { content: ['body'] } });
    const e = refusal(() => checkToolSettings(c, 'mail', [send, search]));
    expect(e.code).toBe('unknown_tool');
    expect(e.message).toBe(
      `${c.path}:4:20: mcpServers.mail.tools.sned: the server offers no tool 'sned' (did you mean 'send'?); it offers search, send`,
    );
  });

  it("refuse a tool the namespace's modes, handles or idempotent lists name and the server lacks", () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-tool-settings-'));
    const cases: Array<[string, string]> = [
      ['modes: { sned: read }', 'modes.sned'],
      ['handles: [search, sned]', 'handles[1]'],
      ['idempotent: [sned]', 'idempotent[0]'],
    ];
    for (const [line, place] of cases) {
      const path = join(dir, 'mvm.yaml');
      writeFileSync(path, `mcpServers:\n  mail:\n    url: http://127.0.0.1:1/mcp\n    ${line}\n`);
      const e = refusal(() => checkToolSettings(loadConfig(path), 'mail', [send, search]));
      expect(e.code).toBe('unknown_tool');
      expect(e.message).toContain(`mcpServers.mail.${place}: the server offers no tool 'sned'`);
      expect(e.message).toContain("(did you mean 'send'?)");
    }
    const fine = join(dir, 'fine.yaml');
    writeFileSync(
      fine,
      'mcpServers:\n  mail:\n    url: http://127.0.0.1:1/mcp\n    modes: { search: read }\n    handles: true\n    idempotent: [send]\n',
    );
    expect(() => checkToolSettings(loadConfig(fine), 'mail', [send, search])).not.toThrow();
  });

  it('refuse content, a recipient argument or a resource that is no argument of the tool', () => {
    const cases: Array<[JsonObject, string, string]> = [
      [{ content: ['bodyy'] }, 'content[0]', 'bodyy'],
      [{ recipients: ['user', { arg: 'too' }] }, 'recipients[1].arg', 'too'],
      [{ resources: { attachment: 'fs' } }, 'resources.attachment', 'attachment'],
    ];
    for (const [setting, place, arg] of cases) {
      const c = config({ send: setting }, 'tools');
      const e = refusal(() => checkToolSettings(c, 'mail', [send]));
      expect(e.code).toBe('unknown_argument');
      expect(e.message).toContain(
        `tools.mail.tools.send.${place}: '${arg}' is no argument of mail/send`,
      );
      expect(e.message).toContain('it takes to, body');
      expect(e.data).toMatchObject({ ns: 'mail', tool: 'send', arg });
    }
    const near = refusal(() =>
      checkToolSettings(config({ send: { content: ['bodyy'] } }), 'mail', [send]),
    );
    expect(near.message).toContain("(did you mean 'body'?)");
  });

  it('take a tool offered before and gone from the latest list', () => {
    const c = config({ send: { content: ['body'] } });
    expect(() => checkToolSettings(c, 'mail', [search], new Set(['send', 'search']))).not.toThrow();
  });
});

describe('a run over host functions', () => {
  let open: Mvm[] = [];
  afterEach(() => {
    for (const m of open) m.close();
    open = [];
  });

  const image = imageFromObject({
    mvm: 1,
    name: 'mailer',
    tools: { mail: {} },
    permissions: ['tool:mail/*'],
    procedures: {
      main: {
        body: [
          { op: 'tool.load', ns: 'mail', dst: 'tools' },
          { op: 'data.const', value: { to: 'ann@example.test', body: 'hi' }, dst: 'args' },
          { op: 'tool.call', tool: 'mail/send', args: 'args', dst: 'sent' },
          { op: 'halt', src: 'sent' },
        ],
      },
    },
  });

  function run(tools: JsonObject) {
    const mvm = new Mvm({
      config: parseConfig(
        { tools: { mail: { tools } }, rules: [{ allow: 'tool:mail/*' }] },
        { path: null, dir: process.cwd() },
      ),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-tool-settings-run-')),
      functions: {
        mail: { send: { description: 'sends', inputSchema: send.inputSchema, run: () => 'sent' } },
      },
    });
    open.push(mvm);
    return mvm.run(image);
  }

  it('runs with settings that name its functions, and stops at tool.load on a typo', async () => {
    expect((await run({ send: { content: ['body'], recipients: [{ arg: 'to' }] } })).status).toBe(
      'done',
    );
    const typo = await run({ sendd: { content: ['body'] } });
    expect(typo.status).toBe('failed');
    expect(typo.error).toMatchObject({
      code: 'unknown_tool',
      tool: 'sendd',
      at: 'tools.mail.tools.sendd',
    });
  });

  it('are held to the tools the server offers by mvm lock too, before it writes the lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mvm-tool-settings-lock-'));
    writeFileSync(join(dir, 'mvm.yaml'), 'tools:\n  mail:\n    tools: { sendd: {} }\n');
    const mvm = new Mvm({
      config: loadConfig(join(dir, 'mvm.yaml')),
      storeDir: join(dir, 'store'),
      functions: { mail: { send: { description: 'sends', run: () => 'sent' } } },
    });
    open.push(mvm);
    await expect(mvm.lock()).rejects.toMatchObject({ code: 'unknown_tool' });
    expect(existsSync(join(dir, 'mvm.lock'))).toBe(false);
  });
});
