import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../host/config.js';
import { Mvm } from '../host/host.js';
import { imageFromObject } from '../host/image-file.js';
import type { JsonObject } from '../spec/types.js';
import { serve } from './serve.js';
import { mailerServer, type Setup } from './test-helpers/mailer.js';

const scratch = mkdtempSync(join(tmpdir(), 'mvm-serve-'));
const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function setup(o: Setup = {}) {
  const s = await mailerServer(scratch, { pollMs: 20, ...o });
  opened.push(s);
  return s;
}

/** The events of a stream, as `[event, data]`, until the server ends it. */
async function readEvents(r: Response): Promise<Array<[string, JsonObject]>> {
  return parseEvents(await r.text());
}

function parseEvents(text: string): Array<[string, JsonObject]> {
  return text
    .split('\n\n')
    .filter((block) => block.includes('event:'))
    .map((block) => {
      const field = (name: string) =>
        block
          .split('\n')
          .find((l) => l.startsWith(`${name}: `))
          ?.slice(name.length + 2) ?? '';
      return [field('event'), JSON.parse(field('data')) as JsonObject];
    });
}

describe('mvm serve: the host API', () => {
  it('shows what a call held back would touch, as the terminal prompt does', async () => {
    const s = await setup({ mail: { resources: { to: 'net' } } });
    const { runId } = await s.start();
    expect((await s.settled(runId)).status).toBe('waiting');

    const list = (await s.api('/api/runs').then((r) => r.json())) as Array<JsonObject>;
    expect(list[0]).toMatchObject({ pending: [{ id: 'c1', resources: ['net:ann'] }] });
    const one = (await s.api(`/api/runs/${runId}`).then((r) => r.json())) as JsonObject;
    expect(one).toMatchObject({ pending: [{ id: 'c1', resources: ['net:ann'] }] });
    const inbox = await s.api('/inbox').then((r) => r.text());
    expect(inbox).toContain('<code>net:ann</code>');
  });

  it('starts a run that suspends, lists it waiting, and an approval finishes it once', async () => {
    const s = await setup();
    const { runId } = await s.start();
    expect(runId).toMatch(/^\d{14}-[0-9a-f]{6}$/);
    expect((await s.settled(runId)).status).toBe('waiting');

    const list = (await s.api('/api/runs').then((r) => r.json())) as Array<JsonObject>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      id: runId,
      image: 'mailer',
      status: 'waiting',
      pending: [
        {
          id: 'c1',
          kind: 'confirm',
          tool: 'mail/send',
          args: { to: 'ann' },
          resource: 'tool:mail/send',
          rule: 'rules[3]: confirm tool:mail/send',
          reason: 'mail leaves',
        },
      ],
    });
    expect(s.calls).toEqual([]);

    const r = await s.post(`/api/runs/${runId}/answers`, [{ id: 'c1', verdict: 'approve' }]);
    expect(r.status).toBe(202);
    const done = await s.settled(runId);
    expect(done).toMatchObject({ status: 'done', output: 'sent', pending: [] });
    expect(done.manifest).toMatchObject({
      status: 'done',
      tools: [{ name: 'mail/send', calls: 1 }],
      decisions: { confirm: 1 },
    });
    expect(s.calls).toEqual([{ to: 'ann' }]);
    expect(s.mvm.auditRun(runId).report.ok).toBe(true);
    const types = s.events.map((e) => e.type);
    expect(types).toEqual([
      'listening',
      'run.started',
      'run.stopped',
      'run.resumed',
      'run.stopped',
    ]);
  });

  it('refuses answers without the token, from another origin, or to no such request', async () => {
    const s = await setup();
    const { runId } = await s.start();
    await s.settled(runId);
    const before = s.mvm.store.getRun(runId)!;
    const approve = [{ id: 'c1', verdict: 'approve' }];
    const path = `/api/runs/${runId}/answers`;

    const missing = await s.post(path, approve, { token: null });
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: JsonObject }).error.code).toBe('refused');
    expect((await s.post(path, approve, { token: `${s.server.token}x` })).status).toBe(401);

    const foreign = await s.post(path, approve, { headers: { Origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    const otherPort = `http://127.0.0.1:${s.server.port + 1}`;
    expect((await s.post(path, approve, { headers: { Origin: otherPort } })).status).toBe(403);
    const site = await s.post(path, approve, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
    expect(site.status).toBe(403);
    // A form post cannot send JSON: a body of another type is refused before it is read.
    const form = await s.api(path, {
      method: 'POST',
      body: 'id=c1&verdict=approve',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toMatchObject({
      error: {
        code: 'unsupported_media_type',
        message: expect.stringMatching(
          /header Content-Type: application\/json \(this one came with Content-Type: application\/x-www-form-urlencoded;/,
        ),
      },
    });

    const unknown = await s.post(path, [{ id: 'c9', verdict: 'approve' }]);
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: { kind: 'config', code: 'unknown_request', message: expect.stringContaining('c9') },
    });
    const wrong = await s.post(path, [{ id: 'c1', answer: 'yes' }]);
    expect(((await wrong.json()) as { error: JsonObject }).error.code).toBe('wrong_answer');
    const shape = await s.post(path, [{ id: 'c1', verdict: 'maybe' }]);
    expect(shape.status).toBe(400);
    expect(((await shape.json()) as { error: JsonObject }).error.code).toBe('bad_answers');

    expect(s.mvm.store.getRun(runId)).toMatchObject({ status: 'waiting', count: before.count });
    expect(s.calls).toEqual([]);
    expect(s.events.filter((e) => e.type === 'refused').map((e) => e.status)).toEqual([
      401, 401, 403, 403, 403,
    ]);

    // The page's own origin may.
    const own = await s.post(path, approve, { headers: { Origin: s.server.url.slice(0, -1) } });
    expect(own.status).toBe(202);
    expect((await s.settled(runId)).status).toBe('done');
    expect(s.calls).toHaveLength(1);
    const again = await s.post(path, approve);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: JsonObject }).error.code).toBe('not_resumable');
  });

  it('reads without a token on loopback, but only under a loopback Host name', async () => {
    const s = await setup();
    expect((await s.api('/api/runs')).status).toBe(200);
    const page = await s.api('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'sha256-");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // A page on a name rebound to 127.0.0.1 reaches the server with its own name as Host.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: s.server.port, path: '/api/runs', headers: { Host: 'evil' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(421);
    expect((await s.post('/api/runs', {}, { token: null })).status).toBe(401);
  });

  it('refuses inputs the image does not declare, with nothing written', async () => {
    const s = await setup();
    const r = await s.post('/api/runs', { inputs: { cc: 'bob' } });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: { code: 'unknown_input' } });
    expect(await s.post('/api/runs', { target: 'nope' }).then((x) => x.status)).toBe(404);
    expect(await s.get('/api/runs')).toEqual([]);
    expect((await s.api('/api/runs/nope')).status).toBe(404);
  });

  it('streams the journal as it is appended, then an end event', async () => {
    let release = () => {};
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const s = await setup({ confirm: false, hold });
    const { runId } = await s.start();
    expect(s.mvm.store.getRun(runId)!.status).toBe('running');

    const stream = await s.api(`/api/runs/${runId}/events`);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    // What the run has appended so far comes while it is held at the call.
    const reader = stream.body!.getReader();
    let early = '';
    while (!early.includes('"type":"tool.intent"')) {
      early += new TextDecoder().decode((await reader.read()).value);
    }
    expect(early).not.toContain('tool.result');
    expect(early).not.toContain('event: end');
    release();
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) {
      rest += new TextDecoder().decode(c.value);
    }
    const got = parseEvents(early + rest);

    const entries = got.filter(([e]) => e === 'entry').map(([, d]) => d);
    const journal = s.mvm.store.entries(runId);
    expect(entries.map((e) => e.seq)).toEqual(journal.map((e) => e.seq));
    expect(entries.map((e) => e.hash)).toEqual(journal.map((e) => e.hash));
    expect(got.at(-1)).toEqual(['end', { status: 'done', pending: [], entries: journal.length }]);
    expect(s.calls).toEqual([{ to: 'ann' }]);

    // A reader that comes back later, or asks from a place on, gets the rest only.
    const tail = await readEvents(await s.api(`/api/runs/${runId}/events?after=3`));
    expect(tail[0]).toMatchObject(['entry', { seq: 4 }]);
    expect(tail.at(-1)![0]).toBe('end');
  });

  it('ends the stream of a waiting run with what it waits on', async () => {
    const s = await setup();
    const { runId } = await s.start();
    await s.settled(runId);
    const got = await readEvents(await s.api(`/api/runs/${runId}/events`));
    expect(got.at(-2)).toMatchObject(['entry', { type: 'run.suspend' }]);
    expect(got.at(-1)).toMatchObject(['end', { status: 'waiting', pending: [{ id: 'c1' }] }]);
  });

  it('escapes what the journal holds on the page', async () => {
    const s = await setup({ to: '<script>window.pwned=1</script>"><img src=x>' });
    const { runId } = await s.start();
    await s.settled(runId);
    const text = await s.api('/inbox').then((r) => r.text());
    expect(text).toContain(runId);
    expect(text).toContain('&lt;script&gt;window.pwned=1&lt;/script&gt;');
    expect(text).not.toContain('<script');
    expect(text).not.toContain('<img');
    const page = await s.api('/').then((r) => r.text());
    expect(page.match(/<script/g)).toHaveLength(1);
  });
});

describe('mvm serve: questions', () => {
  it('lists a question with its prompt; an answer that meets its schema resumes it', async () => {
    const asking = {
      mvm: 1,
      name: 'ask',
      permissions: ['user'],
      procedures: {
        main: {
          body: [
            {
              op: 'user.ask',
              prompt: 'how many <b>copies</b>?',
              schema: { type: 'integer' },
              dst: 'n',
            },
            { op: 'halt', src: 'n' },
          ],
        },
      },
    };
    const mvm = new Mvm({
      config: parseConfig({ rules: [{ allow: 'user' }] }, { path: null, dir: process.cwd() }),
      storeDir: mkdtempSync(join(scratch, 'ask-')),
    });
    const server = await serve({ mvm, targets: [{ name: 'ask', image: imageFromObject(asking) }] });
    opened.push({
      async close() {
        await server.close();
        mvm.close();
      },
    });
    const post = (path: string, body: unknown) =>
      fetch(new URL(path, server.url), {
        method: 'POST',
        headers: { Authorization: `Bearer ${server.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    const { runId } = (await (await post('/api/runs', {})).json()) as { runId: string };
    const view = async () =>
      (await (await fetch(new URL(`/api/runs/${runId}`, server.url))).json()) as JsonObject;
    await expect.poll(async () => (await view()).status).toBe('waiting');
    expect((await view()).pending).toMatchObject([
      {
        kind: 'question',
        id: 'q1',
        prompt: 'how many <b>copies</b>?',
        schema: { type: 'integer' },
      },
    ]);
    const inbox = await (await fetch(new URL('/inbox', server.url))).text();
    expect(inbox).toContain('how many &lt;b&gt;copies&lt;/b&gt;?');
    expect(inbox).toContain(`data-keep="answer:${runId}/q1"`);

    const bad = await post(`/api/runs/${runId}/answers`, [{ id: 'q1', answer: 'two' }]);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: JsonObject }).error.code).toBe('bad_answer');
    expect((await post(`/api/runs/${runId}/answers`, [{ id: 'q1', answer: 2 }])).status).toBe(202);
    await expect.poll(async () => (await view()).status).toBe('done');
    expect((await view()).output).toBe(2);
  });
});

describe('mvm serve: the command', () => {
  it('prints its address and token once, writes a 0600 token file, ends on SIGTERM', async () => {
    const root = join(import.meta.dirname, '..', '..');
    const tokenFile = join(scratch, 'token');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test/mvm-source.ts'),
        'serve',
        join(root, 'examples/notes'),
        '--port',
        '0',
        '--token-file',
        tokenFile,
        '--store',
        join(scratch, 'cli-store'),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /mvm serve: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    try {
      const token = url.split('#token=')[1]!;
      expect(readFileSync(tokenFile, 'utf8')).toBe(`${token}\n`);
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      expect(out.split(token)).toHaveLength(2);
      const list = await fetch(new URL('/api/runs', url));
      expect(await list.json()).toEqual([]);
      const bad = await fetch(new URL('/api/runs', url), { method: 'POST' });
      expect(bad.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    // The token dies with the server, and its file with it.
    expect(existsSync(tokenFile)).toBe(false);
  });
});
