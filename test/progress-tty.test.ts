// `mvm run` on a terminal shows a progress line and the model's text as it streams; piped,
// or with --json, it shows neither. The terminal is a pseudo-terminal from util-linux's
// `script`; the model is a Chat Completions endpoint on loopback that streams its reply.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, serve, sse, type TestServer } from '../src/models/test-helpers/loopback.js';
import { mvmProcess, root } from './cli.js';

const exec = promisify(execFile);

let scratch: string;
let server: TestServer;
let dir: string;

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'loopback-model',
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
});

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-progress-'));
  server = await serve((_, res) =>
    sse(res, [
      frame(chunk({ role: 'assistant', content: '' })),
      frame(chunk({ content: 'Streamed ' })),
      frame(chunk({ content: 'hello ' })),
      frame(chunk({ content: 'from loopback.' })),
      frame(chunk({}, 'stop')),
      frame({ ...chunk({}), choices: [], usage: { prompt_tokens: 1500, completion_tokens: 40 } }),
      frame('[DONE]'),
    ]),
  );
  dir = join(scratch, 'hello');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'image.yaml'),
    `mvm: 1
name: hello
models: { main: {} }
permissions: [model:main, user]
procedures:
  main:
    body:
      - { op: data.const, value: be brief, dst: s }
      - { op: data.const, value: say hello, dst: q }
      - op: call
        proc: std.ask_once
        static: { slot: main }
        args: { system: s, question: q }
        dst: a
      - { op: user.show, src: a }
      - { op: halt, src: a }
`,
  );
  writeFileSync(
    join(dir, 'mvm.yaml'),
    `models:
  main:
    driver: openai-compatible
    baseUrl: ${server.baseUrl}
    model: m
    stream: true
    price: { inputPerMTok: 3, outputPerMTok: 15 }
rules: [{ allow: model:main }, { allow: user }]
`,
  );
});

afterAll(async () => {
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** `mvm ARGS` with a pseudo-terminal for its input and output; what the terminal showed. */
async function onTerminal(...args: string[]): Promise<string> {
  const entry = join(root, 'test', 'mvm-source.ts');
  const command = [process.execPath, '--import', 'tsx', entry, ...args].join(' ');
  const { stdout } = await exec('script', ['-qec', command, '/dev/null'], { cwd: root });
  return stdout;
}

/** The escape that starts a terminal control sequence. */
const ESC = String.fromCharCode(27);

describe('the progress line', () => {
  it('shows on a terminal: step, instruction, tokens, cost and the streamed text', async () => {
    const shown = await onTerminal('run', dir, '--store', join(scratch, 'tty'));
    expect(shown).toContain(`\r${ESC}[2Kmvm: step 1 · data.const · 0 tokens · `);
    expect(shown).toMatch(/mvm: step \d+ · model\.call · 0 tokens/);
    expect(shown).toContain('Streamed hello from loopback.\r\n');
    // 1,500 in at $3 and 40 out at $15 a million tokens.
    expect(shown).toMatch(/mvm: step \d+ · [a-z.: ]+ · 1,540 tokens · \$0\.0051 · /);
    expect(shown).toMatch(/run \S+: done/);
    // The line is cleared before the answer and the summary are printed.
    const summary = shown.slice(shown.lastIndexOf('Streamed hello'));
    expect(summary.split('\x1b[2K').at(-1)).toMatch(/^Streamed hello from loopback\.\r\n\r\nrun /);
    expect(server.seen.length).toBeGreaterThan(0);
  });

  it('is not in piped output', async () => {
    const r = await mvmProcess('run', dir, '--store', join(scratch, 'pipe'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Streamed hello from loopback\.\n\nrun \S+: done\n/);
    expect(`${r.stdout}${r.stderr}`).not.toContain('mvm: step');
    expect(`${r.stdout}${r.stderr}`).not.toContain('\x1b');
  });

  it('is not in --json output, even on a terminal', async () => {
    const shown = await onTerminal('run', dir, '--json', '--store', join(scratch, 'json'));
    expect(shown).not.toContain('mvm: step');
    expect(shown).not.toContain('\x1b');
    expect(JSON.parse(shown.trim())).toMatchObject({ status: 'done' });
  });
});
