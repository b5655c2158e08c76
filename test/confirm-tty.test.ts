// `mvm run` on a terminal asks a person to confirm a call a rule holds back: the prompt shows
// the tool, its arguments, the files it touches, its server's hints and the rule that asked,
// and the answer typed decides. The terminal is a pseudo-terminal from util-linux's `script`.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunStore } from '../src/store/store.js';
import { root } from './cli.js';

function agent() {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'mvm-confirm-tty-')));
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'image.yaml'),
    `mvm: 1
name: writer
models: { main: {} }
tools: { fs: {} }
permissions: [model:main, 'tool:fs/*']
procedures:
  main:
    body:
      - { op: tool.load, ns: fs, dst: tools }
      - { op: history.new, system: write the note, dst: h }
      - op: call
        proc: std.chat
        static: { slot: main, max_turns: 4 }
        args: { history: h, tools: tools }
        dst: answer
      - { op: halt, src: answer }
`,
  );
  writeFileSync(
    join(dir, 'mvm.yaml'),
    `models:
  main:
    driver: replay
    replies:
      - toolCalls: [{ id: w1, name: fs/write_file, arguments: '{"path": "note.md", "content": "hello"}' }]
      - text: done
mcpServers:
  fs:
    command: node
    args: ['\${package:@modelcontextprotocol/server-filesystem}/dist/index.js', '\${configDir}/data']
rules:
  - allow: model:main
  - allow: 'tool:fs/*'
  - allow: 'fs:\${configDir}/data/**'
  - confirm: tool:fs/write_file
    reason: writes change the notes
`,
  );
  return dir;
}

/**
 * `mvm run DIR` on a terminal, typing each of `answers` when a prompt ends the output so
 * far; what the terminal showed.
 */
function onTerminal(dir: string, answers: string[], atPrompt?: () => void): Promise<string> {
  const entry = join(root, 'test', 'mvm-source.ts');
  const command = [
    process.execPath,
    '--import',
    'tsx',
    entry,
    'run',
    dir,
    '--store',
    join(dir, 'store'),
  ];
  const child = spawn('script', ['-qec', command.join(' '), '/dev/null'], { cwd: root });
  let shown = '';
  let typed = 0;
  child.stdout.on('data', (chunk: Buffer) => {
    shown += chunk.toString();
    const prompts = shown.match(/(allow\? \[y\]es.*?: |reason \(optional\): )/g) ?? [];
    if (prompts.length > 0 && atPrompt) {
      atPrompt();
      atPrompt = undefined;
    }
    while (typed < prompts.length && typed < answers.length)
      child.stdin.write(`${answers[typed++]}\n`);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => resolve(shown));
  });
}

const entries = (dir: string) => {
  const store = RunStore.open(join(dir, 'store'));
  const [run] = store.listRuns();
  const out = store.entries(run!.id);
  store.close();
  return out;
};

describe('a confirmation on a terminal', () => {
  it('shows the tool, its arguments, the files, the hints and the rule, and runs on yes', async () => {
    const dir = agent();
    const shown = await onTerminal(dir, ['y']);
    expect(shown).toContain('confirm fs/write_file (tool:fs/write_file)');
    expect(shown).toContain('arguments: {"path":"note.md","content":"hello"}');
    expect(shown).toContain(`touches: fs:${dir}/data/note.md`);
    expect(shown).toMatch(/the server says: .*destructive.* \(its own claim, not checked\)/);
    expect(shown).toContain(
      'asked by: rules[3]: confirm tool:fs/write_file: writes change the notes',
    );
    expect(shown).toContain(': done');
    expect(readFileSync(join(dir, 'data', 'note.md'), 'utf8')).toBe('hello');
    expect(
      entries(dir)
        .filter((e) => e.type === 'confirm.answer')
        .map((e) => e.data),
    ).toEqual([{ id: 'c1', verdict: 'approve' }]);
  }, 60_000);

  it('denies on no, and the refusal of the call carries the reason typed', async () => {
    const dir = agent();
    const shown = await onTerminal(dir, ['n', 'not today']);
    expect(shown).toContain(': done');
    expect(existsSync(join(dir, 'data', 'note.md'))).toBe(false);
    const refused = entries(dir).find((e) => e.type === 'tool.refused');
    expect(refused?.data).toMatchObject({ reason: 'denied by a person: not today' });
  }, 60_000);

  it('leaves the run waiting when the process is told to stop at the prompt', async () => {
    const dir = agent();
    // SIGTERM to mvm itself, not to the terminal: as a service manager would send it.
    const stop = () => {
      spawnSync('pkill', ['-TERM', '-f', `^${process.execPath} .*run ${dir} `]);
    };
    const shown = await onTerminal(dir, [], stop);
    expect(shown).toContain('waiting on');
    expect(existsSync(join(dir, 'data', 'note.md'))).toBe(false);
    const types = entries(dir).map((e) => e.type);
    expect(types.at(-1)).toBe('run.suspend');
  }, 60_000);
});
