// mvm eval end to end through the CLI: the bundled example's suite, and suites of its own
// whose models differ, one of them a loopback server speaking OpenAI's wire format.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/audit/manifest.js';
import type { EvalReport } from '../src/host/eval.js';
import { send, serve, type TestServer } from '../src/models/test-helpers/loopback.js';
import { RunStore } from '../src/store/store.js';
import { mvm, mvmProcess, root } from './cli.js';

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-eval-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

let counter = 0;
const fresh = (name: string) => join(scratch, `${name}-${++counter}`);

/** Writes files into a fresh folder and gives the folder. */
function folder(files: Record<string, string>): string {
  const dir = fresh('suite');
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const manifestOf = (path: string | null) => JSON.parse(readFileSync(path!, 'utf8')) as Manifest;

/** The median as the report defines it: the middle value, or the mean of the middle two. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

describe('mvm eval on the bundled example', () => {
  let report: EvalReport;
  let code: number;

  beforeAll(async () => {
    const store = fresh('store');
    const ran = await mvm(
      'eval',
      join(root, 'examples/notes/suite.yaml'),
      '--json',
      '--store',
      store,
    );
    code = ran.code;
    report = JSON.parse(ran.out) as EvalReport;
  }, 120_000);

  it('runs each task with each model, and the careful model passes where the hasty fails', () => {
    expect(code).toBe(0);
    expect(report.interrupted).toBe(false);
    expect(report.runs.map((r) => [r.model, r.task, r.status, r.passed])).toEqual([
      ['careful', 'first-thing', 'done', true],
      ['careful', 'deadline', 'done', true],
      ['hasty', 'first-thing', 'done', false],
      ['hasty', 'deadline', 'done', true],
    ]);
    expect(report.runs[2]!.failures).toEqual([
      "output does not contain 'library card'",
      "output does not contain '15th'",
      'fs/read_text_file was not called',
      'memory/create_entities was not called',
      'no call to fs/write_file was denied',
    ]);
    expect(report.models.map((m) => [m.model, m.passed, m.runs, m.successRate])).toEqual([
      ['careful', 2, 2, 1],
      ['hasty', 1, 2, 0.5],
    ]);
  });

  it("sums each model's tokens and cost, and takes its median latency, from the manifests", () => {
    for (const summary of report.models) {
      const manifests = report.runs
        .filter((r) => r.model === summary.model)
        .map((r) => manifestOf(r.manifest));
      const slots = manifests.flatMap((m) => m.models);
      expect(summary.inputTokens).toBe(slots.reduce((n, m) => n + m.inputTokens, 0));
      expect(summary.outputTokens).toBe(slots.reduce((n, m) => n + m.outputTokens, 0));
      expect(summary.cost).toBeCloseTo(
        slots.reduce((n, m) => n + m.cost, 0),
        9,
      );
      expect(summary.medianLatencyMs).toBe(median(manifests.map((m) => m.durationMs!)));
    }
    // The recorded counts, priced at each binding's rates.
    const [careful, hasty] = report.models;
    expect([careful!.inputTokens, careful!.outputTokens]).toEqual([3263 + 925, 260 + 52]);
    expect(careful!.cost).toBeCloseTo((4188 * 3 + 312 * 15) / 1e6, 9);
    expect([hasty!.inputTokens, hasty!.outputTokens]).toEqual([380 + 860, 25 + 32]);
    // A manifest keeps a cost to the millionth of a dollar: 0.00012625 is 0.000126.
    expect(hasty!.cost).toBeCloseTo(0.000126 + 0.000255, 9);
  });

  it('keeps the runs in the store, each bound to the model it ran', () => {
    const first = manifestOf(report.runs[0]!.manifest);
    const hasty = manifestOf(report.runs[2]!.manifest);
    expect(first.models[0]).toMatchObject({ slot: 'main', driver: 'replay', calls: 5 });
    expect(hasty.models[0]).toMatchObject({ slot: 'main', driver: 'replay', calls: 1 });
    // Each run records the configuration as bound for its model: a digest of its own.
    expect(first.config.digest).not.toBe(hasty.config.digest);
  });
});

/** An image that puts its question to the model once, without tools, and halts with the answer. */
const ANSWER_IMAGE = `mvm: 1
name: answer
models: { main: {} }
permissions: [model:main]
inputs: { question: { type: string } }
procedures:
  main:
    params: [question]
    body:
      - { op: data.const, value: Answer in one sentence., dst: system }
      - op: call
        proc: std.ask_once
        static: { slot: main }
        args: { system: system, question: question }
        dst: answer
      - { op: halt, src: answer }
`;

const CONFIG = `models:
  main: { driver: replay, replies: [{ text: configured }] }
catalogue:
  mock:
    driver: openai-compatible
    baseUrl: \${env:MVM_EVAL_TEST_URL}
    model: mock-1
    price: { inputPerMTok: 2, outputPerMTok: 8 }
rules:
  - allow: model:main
`;

const SUITE = `mvmSuite: 1
name: sums
image: answer.yaml
models:
  right:
    driver: replay
    replies: [{ text: The sum is 5., usage: { inputTokens: 30, outputTokens: 6 } }]
  wrong:
    driver: replay
    replies: [{ text: The sum is 6., usage: { inputTokens: 30, outputTokens: 9 } }]
    price: { inputPerMTok: 1, outputPerMTok: 1 }
tasks:
  - id: sum
    inputs: { question: What is 2 + 3? }
    expect: { output: { matches: '\\b5\\b' } }
  - id: short
    inputs: { question: Say it briefly. }
    expect: { output: { schema: { type: string, maxLength: 40 } } }
`;

describe('mvm eval on models that differ', () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    server = await serve((seen, res) => {
      const body = JSON.parse(seen.body) as { model: string };
      send(res, 200, {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        created: 1_700_000_000,
        model: body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: '2 + 3 = 5' },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 19, completion_tokens: 7, total_tokens: 26 },
      });
    });
    process.env.MVM_EVAL_TEST_URL = server.baseUrl;
    dir = folder({ 'answer.yaml': ANSWER_IMAGE, 'mvm.yaml': CONFIG, 'suite.yaml': SUITE });
  });

  afterAll(async () => {
    delete process.env.MVM_EVAL_TEST_URL;
    await server.close();
  });

  it("prints the models side by side with the figures of each model's runs", async () => {
    const store = fresh('store');
    const suite = join(dir, 'suite.yaml');
    const ran = await mvm('eval', suite, '--models', 'wrong,right,mock', '--store', store);
    expect(ran.code).toBe(0);

    const lines = ran.out.split('\n');
    expect(
      lines.filter((l) => /^(pass|FAIL) /.test(l)).map((l) => l.split(/\s+/).slice(0, 4)),
    ).toEqual([
      ['FAIL', 'wrong', 'sum', 'done'],
      ['pass', 'wrong', 'short', 'done'],
      ['pass', 'right', 'sum', 'done'],
      ['pass', 'right', 'short', 'done'],
      ['pass', 'mock', 'sum', 'done'],
      ['pass', 'mock', 'short', 'done'],
    ]);
    expect(ran.out).toContain('      output does not match /\\b5\\b/');
    const head = lines.findIndex((l) => l.startsWith('model '));
    expect(lines[head]!.split(/\s{2,}/)).toEqual([
      'model',
      'driver',
      'passed',
      'success',
      'median latency',
      'tokens in',
      'tokens out',
      'cost',
    ]);
    // Each row but for its latency, which is the runs' own: checked from the manifests below.
    const rows = lines.slice(head + 1, head + 4).map((l) => {
      const cells = l.split(/\s{2,}/);
      return [...cells.slice(0, 4), ...cells.slice(5)];
    });
    expect(rows).toEqual([
      ['wrong', 'replay', '1/2', '50.0%', '60', '18', `$${((60 + 18) / 1e6).toFixed(4)}`],
      ['right', 'replay', '2/2', '100.0%', '60', '12', '$0.0000'],
      ['mock', 'openai-compatible mock-1', '2/2', '100.0%', '38', '14', '$0.0002'],
    ]);
    // The mock model was asked over the wire, once per task, for the model its binding names.
    expect(server.seen).toHaveLength(2);
    expect(server.body(0).model).toBe('mock-1');
  });

  it('gives the same figures as JSON, and fails under a success rate only when asked', async () => {
    const suite = join(dir, 'suite.yaml');
    const store = fresh('store');
    const ran = await mvm('eval', suite, '-m', 'wrong,mock', '--json', '--store', store);
    const report = JSON.parse(ran.out) as EvalReport & { ok: boolean };
    expect(ran.code).toBe(0);
    expect(report.ok).toBe(true);
    const mock = report.models.find((m) => m.model === 'mock')!;
    expect(mock).toMatchObject({
      driver: 'openai-compatible mock-1',
      runs: 2,
      passed: 2,
      inputTokens: 38,
      outputTokens: 14,
    });
    expect(mock.cost).toBeCloseTo((38 * 2 + 14 * 8) / 1e6, 12);
    for (const m of report.models) {
      const runs = report.runs.filter((r) => r.model === m.model);
      expect(m.medianLatencyMs).toBe(median(runs.map((r) => manifestOf(r.manifest).durationMs!)));
    }

    const strict = await mvm(
      'eval',
      suite,
      '-m',
      'wrong,mock',
      '--fail-under',
      '0.75',
      '--store',
      store,
    );
    expect(strict.code).toBe(1);
    expect(strict.out).toContain('wrong: success 50.0% is under --fail-under 75.0%');
    expect(strict.out).not.toContain('mock: success');
    const lenient = await mvm(
      'eval',
      suite,
      '-m',
      'wrong',
      '--fail-under',
      '50%',
      '--store',
      store,
    );
    expect(lenient.code).toBe(0);

    const again = await mvm(
      'eval',
      suite,
      '-m',
      'right',
      '-t',
      'su*',
      '--repeat',
      '2',
      '--json',
      '--store',
      store,
    );
    const repeated = JSON.parse(again.out) as EvalReport;
    expect(repeated.runs.map((r) => [r.task, r.repeat, r.passed])).toEqual([
      ['sum', 1, true],
      ['sum', 2, true],
    ]);
    expect(repeated.models[0]).toMatchObject({ runs: 2, passed: 2, inputTokens: 60 });
  });

  it('runs the configured bindings when the suite has no models, and checks status and error', async () => {
    const checks = folder({
      'mvm.yaml': 'rules: [{ allow: user }]\n',
      'ask.yaml': `mvm: 1
name: ask
permissions: [user]
procedures:
  main:
    body:
      - { op: user.ask, prompt: Which folder?, dst: where }
      - { op: halt, src: where }
`,
      'fail.yaml': `mvm: 1
name: fail
procedures:
  main:
    body:
      - { op: fail, code: not_today, message: nothing to do }
`,
      'suite.yaml': `mvmSuite: 1
tasks:
  - { id: asks, image: ask.yaml, expect: { status: waiting } }
  - { id: fails, image: fail.yaml, expect: { error: not_today } }
  - { id: wrong-guess, image: fail.yaml, expect: { status: done } }
`,
    });
    const ran = await mvm('eval', join(checks, 'suite.yaml'), '--json', '--store', fresh('store'));
    const report = JSON.parse(ran.out) as EvalReport;
    expect(ran.code).toBe(0);
    expect(report.suite).toMatchObject({ name: 'suite', tasks: 3 });
    expect(report.runs.map((r) => [r.model, r.task, r.status, r.passed, r.failures])).toEqual([
      ['(configured)', 'asks', 'waiting', true, []],
      ['(configured)', 'fails', 'failed', true, []],
      [
        '(configured)',
        'wrong-guess',
        'failed',
        false,
        ['status is failed, expected done: procedures.main.body[0]: nothing to do [not_today]'],
      ],
    ]);
  });

  it('counts a run the host would not start as a failure of its model', async () => {
    const broken = folder({
      'answer.yaml': ANSWER_IMAGE,
      'mvm.yaml': 'rules: [{ allow: model:main }]\n',
      'suite.yaml': `mvmSuite: 1
image: answer.yaml
models:
  gone: { driver: replay, file: 'missing/\${task}.yaml' }
tasks:
  - { id: sum, inputs: { question: What is 2 + 3? } }
`,
    });
    const store = fresh('store');
    const ran = await mvm('eval', join(broken, 'suite.yaml'), '--json', '--store', store);
    const report = JSON.parse(ran.out) as EvalReport;
    expect(ran.code).toBe(0);
    expect(report.runs[0]).toMatchObject({ status: 'error', passed: false, runId: null });
    expect(report.runs[0]!.failures[0]).toMatch(
      new RegExp(
        `^the run did not start: \\S+: models\\.main: ${join(broken, 'missing', 'sum.yaml')}: .* \\[unreadable\\]$`,
      ),
    );
    expect(report.models[0]).toMatchObject({
      model: 'gone',
      runs: 1,
      passed: 0,
      medianLatencyMs: null,
    });
  });
});

describe('mvm eval refuses a suite it cannot run, before running anything', () => {
  const image = `mvm: 1
name: answer
models: { main: {} }
permissions: [model:main]
procedures: { main: { body: [{ op: halt }] } }
`;

  async function refused(suite: string, ...flags: string[]) {
    const dir = folder({ 'answer.yaml': image, 'mvm.yaml': 'rules: []\n', 'suite.yaml': suite });
    const store = fresh('store');
    const ran = await mvm('eval', join(dir, 'suite.yaml'), '--store', store, ...flags);
    const s = RunStore.open(store);
    const runs = s.listRuns();
    s.close();
    return { ...ran, runs, file: join(dir, 'suite.yaml') };
  }

  it('says where in the file and what is wrong', async () => {
    const r = await refused(
      'mvmSuite: 1\nimage: answer.yaml\ntasks:\n  - id: a\n    expects: {}\n',
    );
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `mvm: ${r.file}:5:14: tasks[0].expects: unknown field 'expects' [invalid_suite]`,
    );
    expect(r.runs).toEqual([]);

    const status = await refused(
      'mvmSuite: 1\nimage: answer.yaml\ntasks:\n  - { id: a, expect: { status: finished } }\n',
    );
    expect(status.err).toContain('tasks[0].expect.status: expected one of done, failed, waiting');
    const version = await refused('mvmSuite: 2\ntasks: [{ id: a }]\n');
    expect(version.err).toBe(`mvm: ${version.file}:1:11: mvmSuite: expected 1 [invalid_suite]`);
  });

  it('refuses checks that cannot be applied, and names that are not there', async () => {
    const pattern = await refused(
      "mvmSuite: 1\nimage: answer.yaml\ntasks:\n  - { id: a, expect: { output: { matches: '(' } } }\n",
    );
    expect(pattern.code).toBe(2);
    expect(pattern.err).toMatch(/:4:\d+: tasks\[0\]\.expect\.output\.matches: .* \[bad_pattern\]$/);

    const twice = await refused('mvmSuite: 1\nimage: answer.yaml\ntasks: [{ id: a }, { id: a }]\n');
    expect(twice.err).toMatch(/tasks\[1\]\.id: task 'a' is named twice \[duplicate_task\]$/);

    const model = await refused(
      'mvmSuite: 1\nimage: answer.yaml\ntasks: [{ id: a }]\n',
      '--models',
      'nope',
    );
    expect(model.code).toBe(2);
    expect(model.err).toContain(
      "task 'a': no model 'nope' in the suite's models or in the catalogue",
    );
    expect(model.err).toMatch(/\[unknown_model\]$/);

    const slot = await refused(
      'mvmSuite: 1\nimage: answer.yaml\nslots: [planner]\ntasks: [{ id: a }]\n',
    );
    expect(slot.err).toContain(
      "the image has no model slot 'planner' (it has: main) [unknown_slot]",
    );
    const dup = await refused('mvmSuite: 1\nimage: answer.yaml\ntasks: [{ id: a }]\n', '-m', 'x,x');
    expect(dup.err).toBe("mvm: --models: 'x' is named twice [bad_flag]");
    const task = await refused('mvmSuite: 1\nimage: answer.yaml\ntasks: [{ id: a }]\n', '-t', 'b*');
    expect(task.err).toContain("no task 'b*' (tasks: a) [unknown_task]");
    for (const r of [pattern, twice, model, slot, dup, task]) expect(r.runs).toEqual([]);

    const flag = await refused(
      'mvmSuite: 1\nimage: answer.yaml\ntasks: [{ id: a }]\n',
      '--fail-under',
      '120%',
    );
    expect(flag.code).toBe(2);
    expect(flag.err).toContain(
      "--fail-under: expected a rate from 0 to 1 (0.8) or a percentage (80%), found '120%'",
    );
  });
});

describe('mvm eval as a person starts it', () => {
  it('runs the example suite for one model and exits 1 under --fail-under', async () => {
    const store = fresh('store');
    const suite = 'examples/notes/suite.yaml';
    const ran = await mvmProcess(
      'eval',
      suite,
      '--models',
      'hasty',
      '--fail-under',
      '0.9',
      '--store',
      store,
    );
    expect(ran.code).toBe(1);
    expect(ran.stdout).toMatch(/^hasty\s+replay\s+1\/2\s+50\.0%\s/m);
    expect(ran.stdout).toContain('hasty: success 50.0% is under --fail-under 90.0%');
  }, 120_000);
});
