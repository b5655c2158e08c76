import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Monitor } from '../monitor/monitor.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';
import { modeOf, realPath, resourceRules, resourcesOf } from './resources.js';

describe('resources named by arguments', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'mvm-res-')));
  const data = join(root, 'data');
  mkdirSync(data);
  writeFileSync(join(root, 'secret.txt'), 'x');
  symlinkSync(join(root, 'secret.txt'), join(data, 'innocent.md'));
  symlinkSync(root, join(data, 'up'));
  const rules = resourceRules({
    command: 'node',
    args: ['/x/server-filesystem/dist/index.js', data],
  });
  const monitor = new Monitor([
    { allow: 'tool:fs/*' },
    { allow: `fs:${data}` },
    { allow: `fs:${data}/**` },
  ]);
  const verdicts = (args: Record<string, string | string[]>) =>
    resourcesOf(args, rules).map(
      (r) => `${r.replace(root, '$ROOT')} ${monitor.decide({ resource: r }).verdict}`,
    );

  it('resolves relative paths against the server folder, .. folded', () => {
    expect(verdicts({ path: 'notes.md' })).toEqual(['fs:$ROOT/data/notes.md allow']);
    expect(verdicts({ path: '.' })).toEqual(['fs:$ROOT/data allow']);
    expect(verdicts({ path: '../secret.txt' })).toEqual(['fs:$ROOT/secret.txt deny']);
    expect(verdicts({ path: `${data}/a/../../secret.txt` })).toEqual(['fs:$ROOT/secret.txt deny']);
  });

  it('follows symlinks to where they point, also for paths that do not exist yet', () => {
    expect(verdicts({ path: 'innocent.md' })).toEqual(['fs:$ROOT/secret.txt deny']);
    expect(verdicts({ path: 'up/new-file.md' })).toEqual(['fs:$ROOT/new-file.md deny']);
    expect(realPath('up/x/y', data)).toBe(join(root, 'x', 'y'));
  });

  it('takes every path of a list, and source and destination of a move', () => {
    expect(verdicts({ paths: ['a.md', '../b.md'] })).toEqual([
      'fs:$ROOT/data/a.md allow',
      'fs:$ROOT/b.md deny',
    ]);
    expect(verdicts({ source: 'a.md', destination: '../a.md' })).toEqual([
      'fs:$ROOT/data/a.md allow',
      'fs:$ROOT/a.md deny',
    ]);
  });

  it('maps arguments as a namespace declares, URLs to net: resources', () => {
    const net = resourceRules({ url: 'http://127.0.0.1:1/mcp', resources: { url: 'net' } });
    expect(resourcesOf({ url: 'https://example.org/a/b?q=1' }, net)).toEqual([
      'net:example.org/a/b',
    ]);
    expect(resourceRules({ command: 'node', args: ['other-server.js'] })).toBeUndefined();
  });

  it("takes a tool's own map over its namespace's, and one that names none", () => {
    const binding = {
      url: 'http://127.0.0.1:1/mcp',
      resources: { url: 'net' as const },
      resourceBase: data,
      tools: {
        save: { resources: { url: 'net' as const, to: 'fs' as const } },
        describe: { resources: {} },
      },
    };
    const args = { url: 'https://example.org/a', to: 'out.md' };
    expect(resourcesOf(args, resourceRules(binding, 'fetch'))).toEqual(['net:example.org/a']);
    expect(resourcesOf(args, resourceRules(binding, 'save'))).toEqual([
      'net:example.org/a',
      `fs:${data}/out.md`,
    ]);
    expect(resourcesOf(args, resourceRules(binding, 'describe'))).toEqual([]);
  });

  it('has every call to the memory server touch its graph file, wherever it is kept', () => {
    const entry = join(root, 'server-memory', 'dist', 'index.js');
    const kept = (env?: Record<string, string>) =>
      resourcesOf({ entities: [] }, resourceRules({ command: 'node', args: [entry], env }));

    expect(kept({ MEMORY_FILE_PATH: join(data, 'graph.jsonl') })).toEqual([
      `fs:${data}/graph.jsonl`,
    ]);
    expect(kept()).toEqual([`fs:${root}/server-memory/dist/memory.jsonl`]);
    expect(kept({ MEMORY_FILE_PATH: '../g.jsonl' })).toEqual([`fs:${root}/server-memory/g.jsonl`]);
    expect(monitor.decide({ resource: kept()[0]! }).verdict).toBe('deny');
  });

  it('knows the reference servers’ read tools; the configuration overrides, others write', () => {
    const fsServer = { command: 'node', args: ['/x/server-filesystem/dist/index.js', data] };
    const memory = { command: 'node', args: ['/x/server-memory/dist/index.js'] };

    expect(modeOf(fsServer, 'read_text_file')).toBe('read');
    expect(modeOf(fsServer, 'write_file')).toBe('write');
    expect(modeOf({ ...fsServer, modes: { read_text_file: 'execute' } }, 'read_text_file')).toBe(
      'execute',
    );
    expect(modeOf(memory, 'read_graph')).toBe('read');
    expect(modeOf(memory, 'delete_entities')).toBe('write');
    expect(modeOf({ command: 'node', args: ['other.js'] }, 'read_graph')).toBe('write');
    expect(modeOf(undefined, 'read_file')).toBe('write');
  });

  it("takes a server's hints only to be stricter, where the configuration says nothing", () => {
    const fsServer = { command: 'node', args: ['/x/server-filesystem/dist/index.js', data] };
    const other = { command: 'node', args: ['other.js'] };

    expect(modeOf(fsServer, 'read_text_file', { destructive: true })).toEqual(['read', 'write']);
    expect(modeOf(fsServer, 'read_text_file', { readOnly: false })).toEqual(['read', 'write']);
    expect(modeOf(fsServer, 'read_text_file', { readOnly: true, destructive: false })).toBe('read');
    // A read-only claim never makes a tool read, nor one the configuration sets.
    expect(modeOf(fsServer, 'write_file', { readOnly: true })).toBe('write');
    expect(modeOf(other, 'lookup', { readOnly: true, idempotent: true })).toBe('write');
    const configured = { ...fsServer, modes: { read_text_file: 'read' as const } };
    expect(modeOf(configured, 'read_text_file', { destructive: true })).toBe('read');
  });
});

describe('a call whose path leaves the folder its rules allow', () => {
  it('is refused for a .. or a symlink out, and the model is told which file it named', async () => {
    const root = realpathSync(mkdtempSync(join(tmpdir(), 'mvm-escape-')));
    const notes = join(root, 'notes');
    mkdirSync(notes);
    writeFileSync(join(root, 'secret.txt'), 'x');
    symlinkSync(join(root, 'secret.txt'), join(notes, 'alias.md'));
    const read: string[] = [];
    const mvm = new Mvm({
      config: parseConfig(
        {
          tools: {
            files: {
              label: { integrity: 'trusted' },
              resources: { path: 'fs' },
              resourceBase: notes,
            },
          },
          rules: [{ allow: 'tool:files/*' }, { allow: `fs:${notes}/**` }],
        },
        { path: null, dir: root },
      ),
      storeDir: join(root, 'store'),
      functions: {
        files: {
          read: {
            description: 'reads a file',
            run: (args) => {
              read.push(String(args.path));
              return 'text';
            },
          },
        },
      },
    });
    const image = imageFromObject({
      mvm: 1,
      name: 'escape',
      tools: { files: {} },
      permissions: ['tool:files/*', 'fs:/**'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'files' },
            { op: 'data.const', value: { path: 'a.md' }, dst: 'inside' },
            { op: 'data.const', value: { path: '../secret.txt' }, dst: 'dots' },
            { op: 'data.const', value: { path: 'alias.md' }, dst: 'link' },
            ...['inside', 'dots', 'link'].map((r) => ({
              op: 'tool.call',
              tool: 'files/read',
              args: r,
              dst: `${r}_out`,
            })),
            {
              op: 'data.object',
              fields: { inside: 'inside_out', dots: 'dots_out', link: 'link_out' },
              dst: 'out',
            },
            { op: 'halt', src: 'out' },
          ],
        },
      },
    });
    const result = await mvm.run(image);
    mvm.close();
    const out = result.output as Record<string, { ok: boolean; content: string }>;
    expect(out.inside).toMatchObject({ ok: true, content: 'text' });
    const secret = `'fs:${root}/secret.txt'`;
    expect(out.dots).toMatchObject({ ok: false, content: expect.stringContaining(secret) });
    expect(out.link).toMatchObject({ ok: false, content: expect.stringContaining(secret) });
    expect(read).toEqual(['a.md']);
  });
});
