import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { explainEntry } from '../audit/explain.js';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { Json, JsonObject } from '../spec/types.js';
import { verifyImage } from '../verifier/verify.js';

/**
 * Resources and prompts of the reference everything server, read by images: through the
 * monitor, into the journal, labelled by the host configuration, served from the journal
 * on resume and replay.
 */

const scratch = mkdtempSync(join(tmpdir(), 'mvm-content-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const entry = (name: string) => join(modules, '@modelcontextprotocol', name, 'dist/index.js');
const docs = join(modules, '@modelcontextprotocol/server-everything/dist/docs');
const everything = { command: process.execPath, args: [entry('server-everything'), 'stdio'] };
const DOC = 'demo://resource/static/document/architecture.md';
const TEXT_TEMPLATE = 'demo://resource/dynamic/text/{resourceId}';
const SLOW = { timeout: 30_000 };

function mvm(ev: JsonObject, rules: JsonObject[], extra: JsonObject = {}) {
  const config = parseConfig(
    { mcpServers: { ev: { ...everything, ...ev } }, rules, ...extra },
    { path: null, dir: scratch },
  );
  return new Mvm({ config, storeDir: mkdtempSync(join(scratch, 'store-')) });
}

function image(body: JsonObject[], permissions = ['resource:ev/**']) {
  return imageFromObject({
    mvm: 1,
    name: 'content',
    tools: { ev: {} },
    permissions,
    procedures: { main: { body } },
  });
}

async function run(m: Mvm, body: JsonObject[], permissions?: string[]) {
  try {
    const result = await m.run(image(body, permissions));
    const entries = m.store.entries(result.runId);
    const audit = m.auditRun(result.runId).report;
    expect(audit.problems).toEqual([]);
    const replay = await m.replay(result.runId);
    return { result, entries, replay };
  } finally {
    m.close();
  }
}

const labelOf = (entries: { type: string; data: Json }[], type: string) =>
  (entries.findLast((e) => e.type === type)?.data as JsonObject | undefined)?.label;

describe('resource.list and resource.read', () => {
  it('lists, reads a static resource and a template, untrusted by default', SLOW, async () => {
    const { result, entries, replay } = await run(mvm({}, [{ allow: 'resource:ev/**' }]), [
      { op: 'resource.list', ns: 'ev', dst: 'listing' },
      { op: 'resource.read', ns: 'ev', uri: DOC, dst: 'doc' },
      { op: 'data.const', value: { resourceId: 7 }, dst: 'vars' },
      { op: 'resource.read', ns: 'ev', template: TEXT_TEMPLATE, args: 'vars', dst: 'seven' },
      { op: 'data.object', fields: { listing: 'listing', doc: 'doc', seven: 'seven' }, dst: 'o' },
      { op: 'halt', src: 'o' },
    ]);
    expect(result.error).toBeNull();
    const out = result.output as JsonObject;
    const listing = out.listing as { resources: JsonObject[]; templates: JsonObject[] };
    expect(listing.resources.map((r) => r.uri)).toContain(DOC);
    expect(listing.templates.map((t) => t.uriTemplate)).toContain(TEXT_TEMPLATE);
    expect(out.doc).toMatchObject({
      uri: DOC,
      ok: true,
      text: readFileSync(join(docs, 'architecture.md'), 'utf8'),
    });
    expect((out.seven as JsonObject).uri).toBe('demo://resource/dynamic/text/7');
    expect((out.seven as JsonObject).text).toMatch(/^Resource 7: This is a plaintext resource/);

    const reads = entries.filter((e) => e.type === 'resource.result').map((e) => e.data);
    expect(reads).toMatchObject([
      { op: 'list' },
      {
        op: 'read',
        uri: DOC,
        source: `resource:ev/${DOC}#r1`,
        label: { integrity: 'untrusted', sources: [`resource:ev/${DOC}#r1`] },
      },
      { op: 'read', template: TEXT_TEMPLATE, uri: 'demo://resource/dynamic/text/7' },
    ]);
    const decisions = entries.filter((e) => e.type === 'decision').map((e) => e.data);
    expect(decisions).toMatchObject([
      { resource: `resource:ev/${DOC}`, verdict: 'allow' },
      { resource: 'resource:ev/demo://resource/dynamic/text/7', verdict: 'allow' },
    ]);
    expect(result.manifest.served).toMatchObject([
      { resource: `resource:ev/${DOC}`, reads: 1, refused: 0 },
      { resource: 'resource:ev/demo://resource/dynamic/text/7', reads: 1, refused: 0 },
    ]);
    expect(replay.divergence).toBeUndefined();
    expect(replay.ok).toBe(true);
  });

  it("carries the namespace's configured label, not the server's word", SLOW, async () => {
    const label = { integrity: 'trusted', readers: ['ann'] };
    const { result, entries } = await run(mvm({ label }, [{ allow: 'resource:ev/**' }]), [
      { op: 'resource.read', ns: 'ev', uri: DOC, dst: 'doc' },
      { op: 'halt', src: 'doc' },
    ]);
    expect(result.status).toBe('done');
    expect(labelOf(entries, 'resource.result')).toEqual({
      readers: ['ann'],
      integrity: 'trusted',
      sources: [`resource:ev/${DOC}#r1`],
    });
  });

  it('is traced by explain to the read it came from', SLOW, async () => {
    const { result, entries } = await run(
      mvm({}, [{ allow: 'resource:ev/**' }, { allow: 'mem:*' }]),
      [
        { op: 'resource.read', ns: 'ev', uri: DOC, dst: 'doc' },
        { op: 'mem.store', key: 'doc', src: 'doc' },
      ],
      ['resource:ev/**', 'mem:*'],
    );
    expect(result.error).toBeNull();
    const stored = entries.find((e) => e.type === 'mem.store')!;
    const tree = explainEntry(entries, stored.seq);
    expect(tree.untrusted).toBe(true);
    expect(tree.children).toMatchObject([
      {
        via: `resource:ev/${DOC}#r1`,
        type: 'resource.result',
        origin: true,
        what: expect.stringMatching(/^resource\.result ev\/demo:\/\/.*#r1: "# Everything/),
      },
    ]);
  });

  it('gives a denied read back as what the image sees, and reads nothing', SLOW, async () => {
    const { result, entries, replay } = await run(
      mvm({}, [{ allow: 'resource:ev/demo://resource/dynamic/**' }]),
      [
        { op: 'resource.read', ns: 'ev', uri: DOC, dst: 'doc' },
        { op: 'history.new', dst: 'h' },
        { op: 'history.append', history: 'h', role: 'user', src: 'doc' },
        { op: 'data.object', fields: { doc: 'doc', h: 'h' }, dst: 'o' },
        { op: 'halt', src: 'o' },
      ],
    );
    expect(result.status).toBe('done');
    const out = result.output as JsonObject;
    expect(out.doc).toEqual({
      uri: DOC,
      ok: false,
      contents: [],
      denied: true,
      text: `denied by policy: no rule allows 'resource:ev/${DOC}' (nothing is allowed by default)`,
    });
    // Appended to a history, the read reads as its text: here, the denial.
    expect((out.h as JsonObject[])[0]!.content).toContain("no rule allows 'resource:ev/");
    expect(entries.map((e) => e.type)).toContain('resource.refused');
    expect(entries.map((e) => e.type)).not.toContain('resource.intent');
    expect(replay.ok).toBe(true);
  });

  it('does not read again on resume after a suspension', SLOW, async () => {
    // The server notes each start in a file: a resumed run that read again would start it.
    const starts = join(scratch, 'starts.txt');
    const wrapper = join(scratch, 'count-starts.mjs');
    writeFileSync(
      wrapper,
      "import { appendFileSync } from 'node:fs';\nappendFileSync(process.env.STARTS, 'start\\n');\n",
    );
    const config = parseConfig(
      {
        mcpServers: {
          ev: {
            command: process.execPath,
            args: ['--import', wrapper, ...everything.args],
            env: { STARTS: starts },
          },
        },
        rules: [{ allow: 'resource:ev/**' }, { allow: 'user' }],
      },
      { path: null, dir: scratch },
    );
    const store = mkdtempSync(join(scratch, 'store-'));
    const body: JsonObject[] = [
      { op: 'data.const', value: { resourceId: 3 }, dst: 'vars' },
      { op: 'resource.read', ns: 'ev', template: TEXT_TEMPLATE, args: 'vars', dst: 'r' },
      { op: 'user.ask', prompt: 'go on?', dst: 'answer' },
      { op: 'data.object', fields: { r: 'r', answer: 'answer' }, dst: 'o' },
      { op: 'halt', src: 'o' },
    ];
    let first: Mvm | undefined;
    let second: Mvm | undefined;
    try {
      first = new Mvm({ config, storeDir: store });
      const waiting = await first.run(image(body, ['resource:ev/**', 'user']));
      expect(waiting.error).toBeNull();
      expect(waiting.status).toBe('waiting');
      const read = (
        first.store.entries(waiting.runId).find((e) => e.type === 'resource.result')!
          .data as JsonObject
      ).result as JsonObject;
      first.close();

      second = new Mvm({ config, storeDir: store });
      const done = await second.resume(waiting.runId, [{ id: 'q1', answer: 'yes' }]);
      expect(done.status).toBe('done');
      const out = done.output as JsonObject;
      expect((out.r as JsonObject).text).toBe(read.text);
      expect(out.answer).toBe('yes');
      expect(readFileSync(starts, 'utf8')).toBe('start\n');
      const types = second.store.entries(done.runId).map((e) => e.type);
      expect(types.filter((t) => t === 'resource.result')).toHaveLength(1);
      expect((await second.replay(done.runId)).ok).toBe(true);
    } finally {
      second?.close();
    }
  });

  it(
    'puts a read a confirm rule holds back to a person, and reads once approved',
    SLOW,
    async () => {
      const m = mvm({}, [{ confirm: 'resource:ev/**' }]);
      try {
        const waiting = await m.run(
          image([
            { op: 'resource.read', ns: 'ev', uri: DOC, dst: 'doc' },
            { op: 'halt', src: 'doc' },
          ]),
        );
        expect(waiting.status).toBe('waiting');
        expect(waiting.pending).toMatchObject([
          { kind: 'confirm', request: 'resource', id: 'c1', resource: `resource:ev/${DOC}` },
        ]);
        const types = m.store.entries(waiting.runId).map((e) => e.type);
        expect(types).not.toContain('resource.intent');
        const done = await m.resume(waiting.runId, [{ id: 'c1', verdict: 'approve' }]);
        expect(done.output).toMatchObject({ uri: DOC, ok: true });
      } finally {
        m.close();
      }
    },
  );

  it('stops at an unknown URI with where and what', SLOW, async () => {
    const { result, replay } = await run(mvm({}, [{ allow: 'resource:ev/**' }]), [
      {
        op: 'resource.read',
        ns: 'ev',
        uri: 'demo://resource/static/document/nothing.md',
        dst: 'r',
      },
      { op: 'halt', src: 'r' },
    ]);
    expect(result.status).toBe('failed');
    expect(result.error).toMatchObject({
      kind: 'trap',
      code: 'unknown_resource',
      at: 'procedures.main.body[0]',
      ns: 'ev',
      uri: 'demo://resource/static/document/nothing.md',
    });
    expect(String(result.error!.message)).toMatch(
      /^procedures\.main\.body\[0\]: resource\.read: ev has no resource 'demo:\/\/resource\/static\/document\/nothing\.md'.*it lists: /,
    );
    // Replayed, the recorded failure is met again, not asked of a server.
    expect(replay.ok).toBe(true);
    expect(replay.status).toBe('failed');
  });

  it('stops at a missing template argument and at a template not listed', SLOW, async () => {
    const missing = await run(mvm({}, [{ allow: 'resource:ev/**' }]), [
      { op: 'data.const', value: { id: 3 }, dst: 'vars' },
      { op: 'resource.read', ns: 'ev', template: TEXT_TEMPLATE, args: 'vars', dst: 'r' },
    ]);
    expect(missing.result.error).toMatchObject({
      code: 'missing_template_argument',
      at: 'procedures.main.body[1]',
      missing: ['resourceId'],
    });
    expect(String(missing.result.error!.message)).toContain(
      `template '${TEXT_TEMPLATE}' needs 'resourceId', which 'vars' lacks`,
    );

    const unlisted = await run(mvm({}, [{ allow: 'resource:ev/**' }]), [
      { op: 'data.const', value: { id: 3 }, dst: 'vars' },
      { op: 'resource.read', ns: 'ev', template: 'demo://made/up/{id}', args: 'vars', dst: 'r' },
    ]);
    expect(unlisted.result.error).toMatchObject({ code: 'unknown_template', ns: 'ev' });
    expect(String(unlisted.result.error!.message)).toContain(TEXT_TEMPLATE);
    expect(unlisted.replay.ok).toBe(true);
  });

  it('stops at a server that declared no resources, naming it', SLOW, async () => {
    const fs = {
      command: process.execPath,
      args: [entry('server-filesystem'), scratch],
    };
    const config = parseConfig(
      { mcpServers: { ev: fs }, rules: [{ allow: 'resource:ev/**' }] },
      { path: null, dir: scratch },
    );
    const { result } = await run(new Mvm({ config, storeDir: mkdtempSync(join(scratch, 's-')) }), [
      { op: 'resource.list', ns: 'ev', dst: 'r' },
    ]);
    expect(result.error).toMatchObject({
      kind: 'trap',
      code: 'not_offered',
      at: 'procedures.main.body[0]',
      capability: 'resources',
    });
    expect(String(result.error!.message)).toContain(
      "namespace 'ev' offers no resources: its server did not declare the 'resources' capability",
    );
  });
});

describe('prompt.list and prompt.get', () => {
  const PROMPTS = ['prompt:ev/**'];

  it('lists prompts, and appends one to a history with its label', SLOW, async () => {
    const { result, entries, replay } = await run(
      mvm({}, [{ allow: 'prompt:ev/args-prompt' }]),
      [
        { op: 'prompt.list', ns: 'ev', dst: 'prompts' },
        { op: 'history.new', system: 'You answer briefly.', dst: 'h' },
        { op: 'data.const', value: { city: 'Lyon', state: 'Rhône' }, dst: 'args' },
        { op: 'prompt.get', ns: 'ev', name: 'args-prompt', args: 'args', history: 'h', dst: 'h2' },
        { op: 'data.object', fields: { prompts: 'prompts', h2: 'h2' }, dst: 'o' },
        { op: 'halt', src: 'o' },
      ],
      PROMPTS,
    );
    expect(result.error).toBeNull();
    const out = result.output as JsonObject;
    expect((out.prompts as JsonObject[]).map((p) => p.name)).toContain('args-prompt');
    expect(out.h2).toEqual([
      { role: 'system', content: 'You answer briefly.' },
      { role: 'user', content: "What's weather in Lyon, Rhône?" },
    ]);
    expect(labelOf(entries, 'prompt.result')).toMatchObject({
      integrity: 'untrusted',
      sources: ['prompt:ev/args-prompt#p1'],
    });
    expect(replay.ok).toBe(true);
  });

  it('denies a prompt no rule allows, and names a missing argument', SLOW, async () => {
    const denied = await run(
      mvm({}, [{ allow: 'prompt:ev/simple-prompt' }]),
      [{ op: 'prompt.get', ns: 'ev', name: 'args-prompt', dst: 'h' }],
      PROMPTS,
    );
    expect(denied.result.error).toMatchObject({ kind: 'policy', code: 'prompt_denied' });
    expect(String(denied.result.error!.message)).toContain(
      "prompt 'ev/args-prompt' is denied by policy: no rule allows 'prompt:ev/args-prompt'",
    );

    const missing = await run(
      mvm({}, [{ allow: 'prompt:ev/**' }]),
      [{ op: 'prompt.get', ns: 'ev', name: 'args-prompt', dst: 'h' }],
      PROMPTS,
    );
    expect(missing.result.error).toMatchObject({
      kind: 'trap',
      code: 'missing_prompt_argument',
      at: 'procedures.main.body[0]',
      missing: ['city'],
    });
    const unknown = await run(
      mvm({}, [{ allow: 'prompt:ev/**' }]),
      [{ op: 'prompt.get', ns: 'ev', name: 'no-such-prompt', dst: 'h' }],
      PROMPTS,
    );
    expect(unknown.result.error).toMatchObject({ code: 'unknown_prompt' });
    expect(String(unknown.result.error!.message)).toContain('args-prompt');
  });
});

describe('the verifier on resources and prompts', () => {
  const codes = (body: JsonObject[], permissions: string[]) =>
    verifyImage({
      mvm: 1,
      name: 'v',
      tools: { ev: {} },
      permissions,
      procedures: { main: { body } },
    }).issues.map((i) => i.code);

  it('holds reads and prompts to the permissions requested', () => {
    expect(
      codes([{ op: 'resource.read', ns: 'ev', uri: DOC, dst: 'r' }], ['resource:ev/demo://x/**']),
    ).toEqual(['permission_not_requested']);
    expect(
      codes([{ op: 'resource.read', ns: 'ev', uri: DOC, dst: 'r' }], ['resource:ev/**']),
    ).toEqual([]);
    expect(codes([{ op: 'resource.list', ns: 'ev', dst: 'r' }], ['tool:ev/*'])).toEqual([
      'permission_not_requested',
    ]);
    expect(codes([{ op: 'prompt.get', ns: 'ev', name: 'p', dst: 'h' }], ['prompt:ev/q'])).toEqual([
      'permission_not_requested',
    ]);
  });

  it('refuses a template without arguments, a URI with both forms, and a bad literal URI', () => {
    const p = ['resource:ev/**'];
    expect(
      codes([{ op: 'resource.read', ns: 'ev', template: TEXT_TEMPLATE, dst: 'r' }], p),
    ).toEqual(['missing_operand']);
    expect(
      codes(
        [
          { op: 'data.const', value: {}, dst: 'a' },
          { op: 'resource.read', ns: 'ev', uri: DOC, template: TEXT_TEMPLATE, args: 'a', dst: 'r' },
        ],
        p,
      ),
    ).toEqual(['stray_operand', 'stray_operand']);
    expect(
      codes([{ op: 'resource.read', ns: 'ev', uri: 'demo://a/../secret', dst: 'r' }], p),
    ).toEqual(['bad_uri']);
  });
});
