import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JournalEntry } from '../audit/chain.js';
import { type Console, main } from '../cli/main.js';
import { loadConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { readImageFile } from '../host/image-file.js';
import { RunStore } from '../store/store.js';
import { renderReport } from './report.js';
import { hostileRun } from './test-helpers/hostile.js';

const example = fileURLToPath(new URL('../../examples/notes', import.meta.url));

let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-report-'));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** The timeline's rows, each with its family, classes, and the text inside it. */
function rows(html: string) {
  const list = html.slice(html.indexOf('<ol id="timeline">'), html.indexOf('</ol>'));
  return list
    .split('<li ')
    .slice(1)
    .map((li) => ({
      cls: /^class="([^"]*)"/.exec(li)?.[1] ?? '',
      seqs: (/data-seqs="([^"]*)"/.exec(li)?.[1] ?? '').split(' ').map(Number),
      text: li,
    }));
}

describe('the report of the notes example', () => {
  let html: string;
  let entries: JournalEntry[];

  beforeAll(async () => {
    const mvm = new Mvm({
      config: loadConfig(join(example, 'mvm.yaml')),
      storeDir: join(scratch, 'notes'),
    });
    try {
      const result = await mvm.run(readImageFile(join(example, 'image.yaml')));
      expect(result.status).toBe('done');
      entries = mvm.store.entries(result.runId);
      html = renderReport(mvm.store, result.runId);
    } finally {
      mvm.close();
    }
  });

  it('has one timeline row per effect, and puts every journal entry in one row', () => {
    const heads = ['run.', 'tool.load', 'model.intent', 'tool.intent', 'tool.refused', 'user.'];
    const effects = entries.filter((e) => heads.some((h) => e.type.startsWith(h)));
    const found = rows(html);
    expect(found).toHaveLength(effects.length);
    expect(found.flatMap((r) => r.seqs)).toEqual(entries.map((e) => e.seq));
    const families = found.map((r) => r.cls.split(' ')[0]);
    expect(families.filter((f) => f === 'f-model')).toHaveLength(5);
    expect(families.filter((f) => f === 'f-tool')).toHaveLength(5);
    expect(families.filter((f) => f === 'f-toolset')).toHaveLength(2);
  });

  it("shows the denied write with the rule and the reason the host's rules give", () => {
    const denied = rows(html).filter((r) => r.cls.includes('has-deny'));
    expect(denied).toHaveLength(1);
    const row = denied[0]!.text;
    expect(row).toContain('fs/write_file');
    expect(row).toContain('<span class="badge b-deny" title="tool:fs/write_file: rules[3]');
    expect(row).toContain('rules[3]: deny tool:fs/write_file');
    expect(row).toContain('the notes folder is read-only for this agent');
    expect(row).toContain('summary.md');
  });

  it("shows each model call's context and reply, and each tool call's arguments and result", () => {
    const model = rows(html).filter((r) => r.cls.startsWith('f-model'));
    expect(model[0]!.text).toContain('Let me look at the notes folder first.');
    expect(model[0]!.text).toContain('412 in, 18 out');
    expect(model[0]!.text).toMatch(/<dt>request<\/dt><dd><code>sha256:[0-9a-f]{64}/);
    expect(model[0]!.text).toContain('23 tools offered');
    const tools = rows(html).filter((r) => r.cls.startsWith('f-tool'));
    const read = tools.find((r) => r.text.includes('&quot;ideas.md&quot;'))!;
    expect(read.text).toContain('A reading list that sorts itself');
    expect(read.text).toContain('rules[5]: allow fs:');
    expect(read.text).toContain('<span class="badge b-trusted"');
    expect(read.text).toContain('<span class="badge b-public"');
    expect(read.text).toMatch(/<span class="dur" title="measured by the machine"\s*>\d/);
  });

  it('holds the manifest: models, tokens, budget, head and signature state', () => {
    const head = entries[entries.length - 1]!.hash;
    expect(html).toContain(`<code title="${head}">${head.slice(0, 24)}</code>`);
    expect(html).toContain('verifies: every hash, link and the recorded head');
    expect(html).toContain('matches the journal');
    expect(html).toContain('<span class="warn">unsigned: nothing authenticates the journal</span>');
    expect(html).toContain('recorded-notes-assistant');
    expect(html).toContain('<span class="big">3,523</span> tokens');
    expect(html).toMatch(/<td>modelCalls<\/td><td class="num">5 \/ 10<\/td\s*><td><meter/);
    expect(html).toContain('&quot;mvmManifest&quot;: 1');
  });

  it('is one file: no script, style, frame or link from anywhere else', () => {
    expect(html).not.toMatch(/\s(src|href|srcset|action)\s*=/i);
    expect(html).not.toMatch(/<link|@import|url\(/i);
    expect(html.match(/<script/g)).toHaveLength(1);
    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
    expect(csp?.replaceAll('&#39;', "'")).toMatch(/^default-src 'none'; style-src 'sha256-/);
  });
});

describe('the report of a journal made to attack it', () => {
  let html: string;

  beforeAll(() => {
    const store = RunStore.open(join(scratch, 'hostile'));
    try {
      html = renderReport(store, hostileRun(store));
    } finally {
      store.close();
    }
  });

  it('shows every piece of content as text', () => {
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).not.toMatch(/<(img|iframe|u|x|d|m|fine)[\s>]/);
    expect(html).not.toMatch(/<svg (?!class="bar")/);
    for (const n of [1, 2, 6, 7, 8, 9, 10, 13, 14, 15, 17]) {
      expect(html).toContain(`&lt;script&gt;window.pwned=${n}&lt;/script&gt;`);
    }
    expect(html).toContain('&lt;img src=x onerror=window.pwned=5&gt;');
    expect(html).toContain('&lt;iframe src=&quot;javascript:window.pwned=16&quot;&gt;');
    expect(html).toContain('&lt;/title&gt;');
    expect(html).toContain('it&#39;s &lt;fine&gt;');
  });

  it('keeps quotes in content from closing an attribute', () => {
    expect(html).not.toContain('onmouseover="');
    expect(html).not.toContain('onload="');
    expect(html).toContain('<span class="badge b-other" title="tool:evil/&lt;x&gt;: no rule: ');
    expect(html).toContain('readers: &lt;i&gt;ann&lt;/i&gt;, &quot;&gt;&lt;img src=x');
  });

  it('shows untrusted labels as such', () => {
    expect(html).toContain('<span class="badge b-untrusted" title="sources: tool:evil/x#&quot;');
  });
});

describe('mvm report', () => {
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const con: Console = { out: (t) => out.push(t), err: (t) => err.push(t) };
    return { code: await main(argv, con), out: out.join('\n'), err: err.join('\n') };
  };

  it("writes report.html in the run's folder, or to --out, and prints the path", async () => {
    const dir = join(scratch, 'cli');
    const store = RunStore.open(dir);
    const id = hostileRun(store);
    store.close();

    const r = await run('report', id.slice(0, 16), '--store', dir);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(join(dir, 'runs', id, 'report.html'));
    expect(readFileSync(r.out, 'utf8')).toContain(`<code>${id}</code>`);

    const out = join(scratch, 'elsewhere.html');
    expect((await run('report', id, '--out', out, '--store', dir)).out).toBe(out);
    expect(existsSync(out)).toBe(true);
  });

  it('says where it cannot write', async () => {
    const dir = join(scratch, 'cli');
    const store = RunStore.open(dir);
    const id = store.listRuns()[0]!.id;
    store.close();
    const out = join(scratch, 'no-such-folder', 'r.html');
    const r = await run('report', id, '--out', out, '--store', dir);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`mvm: cannot write the report to ${out} (ENOENT) [bad_out]`);
  });

  it('names a run that does not exist, and writes nothing', async () => {
    const r = await run('report', 'nope', '--store', join(scratch, 'cli'));
    expect(r.code).toBe(2);
    expect(r.err).toContain("no run matches 'nope'");
  });
});
