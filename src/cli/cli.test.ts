import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../store/store.js';
import { type Console, main } from './main.js';

const example = fileURLToPath(new URL('../../examples/notes', import.meta.url));

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-cli-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Captured {
  code: number;
  out: string;
  err: string;
  /** Each call to out, as written. */
  outs: string[];
}

async function mvm(...argv: string[]): Promise<Captured> {
  const outs: string[] = [];
  const errs: string[] = [];
  const con: Console = { out: (t) => outs.push(t), err: (t) => errs.push(t) };
  const code = await main(argv, con);
  return { code, out: outs.join('\n'), err: errs.join('\n'), outs };
}

let counter = 0;

/** A fresh folder under the scratch folder. */
function fresh(name: string): string {
  const dir = join(scratch, `${name}-${++counter}`);
  return dir;
}

/** Writes a file under the scratch folder and gives its path. */
function write(name: string, text: string): string {
  const path = join(scratch, `${++counter}-${name}`);
  writeFileSync(path, text);
  return path;
}

/** The runs a store holds; opening it creates it empty when nothing did. */
function runsIn(store: string): string[] {
  const s = RunStore.open(store);
  try {
    return s.listRuns().map((r) => r.id);
  } finally {
    s.close();
  }
}

/** A literal string, for use inside a RegExp. */
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The 1-based line of the first line of `text` holding `marker`. */
function lineOf(text: string, marker: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(marker));
  if (i < 0) throw new Error(`no line holds '${marker}'`);
  return i + 1;
}

interface RunJson {
  runId: string;
  status: string;
  output: unknown;
  error: unknown;
  manifest: string;
  journal: { store: string; head: string; count: number };
}

describe('run, manifest, audit verify and runs on the example', () => {
  let store: string;
  let ran: Captured;
  let result: RunJson;

  beforeAll(async () => {
    store = fresh('store');
    ran = await mvm('run', example, '--json', '--store', store);
    result = JSON.parse(ran.out) as RunJson;
  });

  it('runs to done and prints one JSON object', () => {
    expect(ran.code).toBe(0);
    expect(ran.outs).toHaveLength(1);
    expect(ran.err).toBe('');
    expect(result.status).toBe('done');
    expect(result.error).toBeNull();
    expect(result.runId).toMatch(/^\d{14}-[0-9a-f]{6}$/);
    expect(result.output).toEqual(expect.stringContaining('Renew the library card first'));
    expect(result.journal.store).toBe(store);
    expect(result.manifest).toBe(join(store, 'runs', result.runId, 'manifest.json'));
    expect(existsSync(result.manifest)).toBe(true);
  });

  it('prints the manifest, whose journal head is what audit verify reports', async () => {
    const manifest = await mvm('manifest', result.runId, '--store', store);
    const verify = await mvm('audit', 'verify', result.runId, '--store', store, '--json');
    const m = JSON.parse(manifest.out) as { runId: string; journal: { head: string } };
    const report = JSON.parse(verify.out) as { run: string; ok: boolean; head: string };

    expect(manifest.code).toBe(0);
    expect(verify.code).toBe(0);
    expect(m.runId).toBe(result.runId);
    expect(report).toMatchObject({ run: result.runId, ok: true, problems: [] });
    expect(m.journal.head).toBe(report.head);
    expect(report.head).toBe(result.journal.head);
    expect(JSON.parse(readFileSync(result.manifest, 'utf8'))).toEqual(m);
  });

  it('finds the run by a prefix', async () => {
    const verify = await mvm('audit', 'verify', result.runId.slice(0, 18), '--store', store);

    expect(verify.code).toBe(0);
    expect(verify.out).toContain(`run ${result.runId}: journal verifies (${result.journal.count}`);
    // The example signs no manifest: the check says nothing vouches for the journal.
    expect(verify.out).toContain(
      `run ${result.runId}: manifest NOT signed: nothing authenticates the journal`,
    );
  });

  it('lists the run', async () => {
    const runs = await mvm('runs', '--store', store);
    const json = await mvm('runs', '--store', store, '--json');

    expect(runs.code).toBe(0);
    expect(runs.out).toMatch(new RegExp(`^${result.runId}\\s+done\\s+notes\\s`, 'm'));
    expect(JSON.parse(json.out)).toEqual([
      expect.objectContaining({ id: result.runId, status: 'done', imageName: 'notes' }),
    ]);
  });

  it('fails audit verify after the store file was tampered with, naming the entry', async () => {
    const copy = fresh('tampered');
    cpSync(store, copy, { recursive: true });
    const s = RunStore.open(copy);
    s.database
      .prepare("UPDATE journal SET data = json_set(data, '$.content', 'forged') WHERE seq = 16")
      .run();
    s.close();

    const verify = await mvm('audit', 'verify', result.runId, '--store', copy);

    expect(verify.code).toBe(1);
    expect(verify.out).toContain('entry 16');
    expect(verify.out).toContain('[hash_mismatch]');
    expect(verify.out).toContain('journal does NOT verify');
    // The original is untouched.
    expect((await mvm('audit', 'verify', result.runId, '--store', store)).code).toBe(0);
  });

  it('fails audit verify of a truncated journal through its anchor', async () => {
    const copy = fresh('truncated');
    cpSync(store, copy, { recursive: true });
    const s = RunStore.open(copy);
    s.database.prepare('DELETE FROM journal WHERE seq > 30').run();
    s.close();

    const verify = await mvm('audit', 'verify', result.runId, '--store', copy, '--json');
    const report = JSON.parse(verify.out) as { ok: boolean; problems: Array<{ code: string }> };

    expect(verify.code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(
      expect.arrayContaining(['count_mismatch', 'head_mismatch']),
    );
  });

  it('fails audit verify of a journal truncated with its anchor, through the manifest', async () => {
    const copy = fresh('rewound');
    cpSync(store, copy, { recursive: true });
    const s = RunStore.open(copy);
    s.database.prepare('DELETE FROM journal WHERE seq > 30').run();
    const last = s.entries(result.runId).at(-1)!;
    s.database.prepare('UPDATE runs SET head = ?, count = ?').run(last.hash, last.seq);
    s.close();

    const verify = await mvm('audit', 'verify', result.runId, '--store', copy);

    expect(verify.code).toBe(1);
    expect(verify.out).toContain("differs from the manifest's");
    expect(verify.out).toContain('[head_mismatch]');
  });

  it('gives 2 for a run the store does not hold', async () => {
    const verify = await mvm('audit', 'verify', 'nope', '--store', store);
    const manifest = await mvm('manifest', 'nope', '--store', store);

    expect(verify.code).toBe(2);
    expect(verify.err).toContain('[run_not_found]');
    expect(manifest.code).toBe(2);
    expect(manifest.err).toContain('[run_not_found]');
  });

  it('reads runs only from a store that exists, and makes none where it was mistyped', async () => {
    const missing = join(fresh('nowhere'), 'typo');
    const runs = await mvm('runs', '--store', missing, '--json');
    const manifest = await mvm('manifest', 'x', '--store', missing);

    expect([runs.code, runs.out.trim()]).toEqual([0, '[]']);
    expect([manifest.code, manifest.err]).toEqual([2, expect.stringContaining('[no_store]')]);
    expect(existsSync(missing)).toBe(false);
    const text = await mvm('runs', '--store', missing);
    expect([text.code, text.out]).toEqual([
      0,
      `no runs: no store at ${missing}: no run has been kept there`,
    ]);
  });

  it('says so when a store holds no runs', async () => {
    const empty = fresh('empty');
    runsIn(empty);

    const r = await mvm('runs', '--store', empty);

    expect([r.code, r.out]).toEqual([0, `no runs in the store at ${empty}`]);
  });

  it('says an error as JSON on stdout when asked for JSON, and as text only otherwise', async () => {
    const json = await mvm('audit', 'verify', 'nope', '--store', store, '--json');
    const text = await mvm('audit', 'verify', 'nope', '--store', store);

    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({
      error: { kind: 'store', code: 'run_not_found', message: expect.stringContaining('nope') },
    });
    expect(json.err).toContain('[run_not_found]');
    expect(text.out).toBe('');
  });
});

describe('check', () => {
  it('passes the example', async () => {
    const r = await mvm('check', example);

    expect(r.code).toBe(0);
    expect(r.out).toBe(`${join(example, 'image.yaml')}: ok, bound by ${join(example, 'mvm.yaml')}`);
  });

  /** An image whose main body is `body`, one instruction a line, after `head`. */
  const image = (head: string, body: string[]) =>
    ['mvm: 1', 'name: bad', head, 'procedures:', '  main:', '    body:', ...body, ''].join('\n');

  const cases: Array<{ name: string; code: string; text: string; marker: string }> = [
    {
      name: 'an unknown opcode',
      code: 'unknown_opcode',
      text: image('permissions: []', ['      - { op: data.frobnicate, dst: x }']),
      marker: 'frobnicate',
    },
    {
      name: 'a register used before it is set',
      code: 'undefined_register',
      text: image('permissions: [user]', [
        '      - { op: data.const, value: 1, dst: x }',
        '      - { op: user.show, src: y }',
      ]),
      marker: 'src: y',
    },
    {
      name: 'an undeclared model slot',
      code: 'unknown_slot',
      text: image("permissions: ['model:ghost']", [
        '      - { op: history.new, dst: h }',
        '      - { op: model.call, slot: ghost, history: h, dst: r }',
      ]),
      marker: 'ghost, history',
    },
    {
      name: 'a loop without a bound',
      code: 'missing_field',
      text: image('permissions: []', ['      - { op: loop, body: [] }']),
      marker: 'op: loop',
    },
    {
      name: 'a loop bounded by 0',
      code: 'unbounded_loop',
      text: image('permissions: []', ['      - { op: loop, max: 0, body: [] }']),
      marker: 'op: loop',
    },
    {
      name: 'a call to a missing procedure',
      code: 'unknown_procedure',
      text: image('permissions: []', ['      - { op: call, proc: nowhere }']),
      marker: 'nowhere',
    },
    {
      name: "a model slot used without 'model:<slot>' in permissions",
      code: 'permission_not_requested',
      text: image('models: { main: {} }\npermissions: [user]', [
        '      - { op: history.new, dst: h }',
        '      - { op: model.call, slot: main, history: h, dst: r }',
      ]),
      marker: 'slot: main',
    },
  ];

  for (const c of cases) {
    it(`reports ${c.name} as [${c.code}] at its file, line and column`, async () => {
      const path = write('image.yaml', c.text);

      const r = await mvm('check', path);

      expect(r.code).toBe(1);
      const line = lineOf(c.text, c.marker);
      const issue = new RegExp(
        `^${esc(path)}:${line}:\\d+: procedures\\.main\\.body\\[\\d+\\].* \\[${c.code}\\]$`,
        'm',
      );
      expect(r.out).toMatch(issue);
      expect(r.outs.at(-1)).toBe('1 issue');
      const json = await mvm('check', path, '--json');
      expect(json.code).toBe(1);
      expect(JSON.parse(json.out)).toMatchObject({ ok: false, issues: [{ code: c.code }] });
    });
  }

  it('lists every problem of an image that has several', async () => {
    const text = image("models: { main: {} }\npermissions: ['model:ghost']", [
      '      - { op: user.show, src: y }',
      '      - { op: loop, max: 0, body: [] }',
      '      - { op: history.new, dst: h }',
      '      - { op: model.call, slot: ghost, history: h, dst: r1 }',
      '      - { op: model.call, slot: main, history: h, dst: r2 }',
      '      - { op: call, proc: nowhere }',
    ]);
    const path = write('image.yaml', text);

    const r = await mvm('check', path);
    const json = await mvm('check', path, '--json');

    expect(r.code).toBe(1);
    const expected: Array<[string, string]> = [
      ['undefined_register', 'src: y'],
      ['permission_not_requested', 'src: y'],
      ['unbounded_loop', 'max: 0'],
      ['unknown_slot', 'slot: ghost'],
      ['permission_not_requested', 'slot: main'],
      ['unknown_procedure', 'nowhere'],
    ];
    for (const [code, marker] of expected) {
      expect(r.out).toMatch(
        new RegExp(`^${esc(path)}:${lineOf(text, marker)}:\\d+: .* \\[${code}\\]$`, 'm'),
      );
    }
    expect(r.outs.at(-1)).toBe(`${expected.length} issues`);
    const issues = (JSON.parse(json.out) as { ok: boolean; issues: Array<{ code: string }> })
      .issues;
    expect(json.code).toBe(1);
    expect(issues.map((i) => i.code).sort()).toEqual(expected.map(([code]) => code).sort());
  });

  // A name operand of the wrong type once crashed the verifier: schema-check read `e.schema` of
  // an anyOf error, which Ajv fills only with `verbose: true`.
  it('reports a register operand of the wrong type as an issue', async () => {
    const text = image('permissions: []', ['      - { op: data.const, value: 1, dst: 7 }']);
    const path = write('image.yaml', text);

    const r = await mvm('check', path);

    expect(r.err).not.toContain('internal error');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      new RegExp(`^${esc(path)}:${lineOf(text, 'dst: 7')}:\\d+: .*\\[bad_`, 'm'),
    );
  });
  it('reports a tool.call naming neither call nor tool once, as missing_operand', async () => {
    const text = image("tools: { fs: {} }\npermissions: ['tool:fs/*']", [
      '      - { op: tool.load, ns: fs, dst: t }',
      '      - { op: tool.call, dst: r }',
    ]);
    const path = write('image.yaml', text);

    const r = await mvm('check', path, '--json');
    const issues = (JSON.parse(r.out) as { issues: Array<{ code: string; at: string }> }).issues;

    expect(r.code).toBe(1);
    expect(issues).toEqual([
      expect.objectContaining({ code: 'missing_operand', at: 'procedures.main.body[1]' }),
    ]);
  });
});

describe('run refuses malformed input before writing anything', () => {
  const badImages: Array<{ name: string; text: string; line: number; code: string }> = [
    {
      name: 'a YAML syntax error',
      text: 'mvm: 1\nname: x\nprocedures:\n  main:\n\tbody: []\n',
      line: 5,
      code: 'syntax',
    },
    {
      name: 'a duplicate key',
      text: 'mvm: 1\nname: x\nname: y\nprocedures: {}\n',
      line: 3,
      code: 'syntax',
    },
    {
      name: 'a schema violation',
      text: 'mvm: 1\nname: x\nprocedures:\n  main:\n    body:\n      - { op: halt, bogus: 1 }\n',
      line: 6,
      code: 'unknown_field',
    },
  ];

  for (const c of badImages) {
    it(`gives 2 for ${c.name}, naming the file and line, and stores no run`, async () => {
      const path = write('image.yaml', c.text);
      const store = fresh('store');

      const r = await mvm('run', path, '--store', store);

      expect(r.code).toBe(2);
      expect(r.err).toContain(`${path}:${c.line}:`);
      expect(r.err).toContain(`[${c.code}]`);
      expect(r.out).toBe('');
      expect(runsIn(store)).toEqual([]);
    });
  }

  it('names the line of a top-level schema violation', async () => {
    const path = write('image.yaml', 'mvm: 1\nprocedures:\n  main:\n    body: []\n');
    const store = fresh('store');

    const r = await mvm('run', path, '--store', store);

    expect(r.code).toBe(2);
    expect(r.err).toContain('[missing_field]');
    expect(r.err).toMatch(new RegExp(`${esc(path)}:\\d+:\\d+:`));
  });

  const minimal = [
    'mvm: 1',
    'name: tiny',
    'models:',
    '  main: {}',
    "permissions: ['model:main']",
    'procedures:',
    '  main:',
    '    body:',
    '      - { op: history.new, system: hi, dst: h }',
    '      - { op: model.call, slot: main, history: h, dst: r }',
    '      - { op: parse.text, src: r, dst: t }',
    '      - { op: halt, src: t }',
    '',
  ].join('\n');

  const badConfigs: Array<{ name: string; text: string; code: string; says: string }> = [
    {
      name: 'an unknown field',
      text: 'models:\n  main: { driver: replay, replies: [] }\nbogus: 1\n',
      code: 'invalid_config',
      says: "unknown field 'bogus'",
    },
    {
      name: 'a model binding without a driver',
      text: 'models:\n  main: { replies: [] }\n',
      code: 'invalid_config',
      says: "missing 'driver'",
    },
    {
      name: 'an environment variable that is not set',
      text: `models:\n  main: { driver: replay, replies: [], model: "$\{env:MVM_TEST_UNSET_VAR}" }\n`,
      code: 'unset_env',
      says: "models.main.model: environment variable 'MVM_TEST_UNSET_VAR' is not set",
    },
    {
      name: 'no binding for a model slot the image needs',
      text: 'models:\n  other: { driver: replay, replies: [] }\n',
      code: 'unbound_slot',
      says: "model slot 'main'",
    },
    {
      name: 'a package that is not installed',
      text: `models:\n  main: { driver: replay, replies: [] }\nmcpServers:\n  fs:\n    command: node\n    args: ['${'$'}{package:mvm-no-such-package}/x.js']\n`,
      code: 'package_not_found',
      says: ":6:12: mcpServers.fs.args[0]: package 'mvm-no-such-package' is not installed",
    },
    {
      name: 'a namespace mounted twice',
      text: 'mcpServers:\n  fs: { command: a }\ntools:\n  fs: { command: b }\n',
      code: 'duplicate_namespace',
      says: ":4:7: tools.fs: namespace 'fs' is mounted twice, under mcpServers.fs too",
    },
    {
      name: 'a driver binding that cannot be made',
      text: 'models:\n  main:\n    driver: openai-compatible\n    baseUrl: http://127.0.0.1:9/v1\n    model: m\n    apiKeyEnv: MVM_TEST_UNSET_KEY\n',
      code: 'missing_api_key',
      says: ":3:5: models.main: environment variable 'MVM_TEST_UNSET_KEY' holding the api key is not set",
    },
  ];

  for (const c of badConfigs) {
    it(`gives 2 for a config with ${c.name}, naming the file, and stores no run`, async () => {
      const imagePath = write('image.yaml', minimal);
      const config = write('mvm.yaml', c.text);
      const store = fresh('store');

      const r = await mvm('run', imagePath, '--config', config, '--store', store);

      expect(r.code).toBe(2);
      expect(r.err).toContain(config);
      expect(r.err).toContain(c.says);
      expect(r.err).toContain(`[${c.code}]`);
      expect(r.out).toBe('');
      expect(runsIn(store)).toEqual([]);
    });
  }

  it('names the line of an unknown top-level config field, not "(image)"', async () => {
    const imagePath = write('image.yaml', minimal);
    const config = write(
      'mvm.yaml',
      'models:\n  main: { driver: replay, replies: [] }\nbogus: 1\n',
    );

    const r = await mvm('run', imagePath, '--config', config, '--store', fresh('store'));

    expect(r.code).toBe(2);
    expect(r.err).not.toContain('(image)');
    expect(r.err).toContain(`${config}:3:`);
  });

  it('runs the same image once the config binds it', async () => {
    const imagePath = write('image.yaml', minimal);
    const config = write(
      'mvm.yaml',
      'models:\n  main: { driver: replay, replies: [{ text: ok }] }\nrules:\n  - allow: model:main\n',
    );
    const store = fresh('store');

    const r = await mvm('run', imagePath, '--config', config, '--store', store, '--json');

    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ status: 'done', output: 'ok' });
    expect(runsIn(store)).toHaveLength(1);
  });
  it('gives 1 for a run that fails, with the error on stderr', async () => {
    const imagePath = write('image.yaml', minimal);
    const config = write(
      'mvm.yaml',
      'models:\n  main: { driver: replay, replies: [] }\nrules: [{ allow: model:main }]\n',
    );
    const store = fresh('store');

    const r = await mvm('run', imagePath, '--config', config, '--store', store);

    expect(r.code).toBe(1);
    expect(r.err).toContain('[replay_exhausted]');
    expect(r.out).toMatch(/^run \S+: failed$/m);
    expect(runsIn(store)).toHaveLength(1);
  });
});

describe('usage', () => {
  it('gives 2 for an unknown command', async () => {
    const r = await mvm('frobnicate');

    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown command 'frobnicate'");
  });

  it('gives 2 and the usage for no arguments', async () => {
    const r = await mvm();

    expect(r.code).toBe(2);
    expect(r.err).toContain('Usage: mvm');
  });

  it('gives 2 for a missing argument and for a target that does not exist', async () => {
    const missing = await mvm('run');
    const nowhere = await mvm('check', join(scratch, 'nowhere'));

    expect(missing.code).toBe(2);
    expect(missing.err).toContain("missing required argument 'image'");
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toContain('[not_found]');
  });
});

describe('an image file named directly', () => {
  it('finds the mvm.yaml beside it, as its folder would', async () => {
    const dir = fresh('beside');
    cpSync(example, dir, { recursive: true });
    const store = fresh('beside-store');
    const run = await mvm('run', join(dir, 'image.yaml'), '--store', store, '--json');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.out)).toMatchObject({ status: 'done' });

    writeFileSync(join(dir, 'mvm.yaml'), 'models: [not, a, map]\n');
    const check = await mvm('check', join(dir, 'image.yaml'));
    expect(check.code).toBe(2);
    expect(check.err).toContain('mvm.yaml');
  });
});
