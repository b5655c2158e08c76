import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyChain } from '../audit/chain.js';
import { ConfigError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import type { HostFunction } from '../tools/host-functions.js';
import { parseConfig } from './config.js';
import { Mvm } from './host.js';
import { imageFromObject } from './image-file.js';

/** A tool that counts how often it really ran, across every Mvm of the test. */
function counter() {
  const calls: JsonObject[] = [];
  const fn: HostFunction = {
    description: 'sends a message',
    inputSchema: { type: 'object', properties: { to: { type: 'string' } } },
    run: (args) => {
      calls.push(args);
      return `sent to ${String(args.to)}`;
    },
  };
  return { calls, functions: { mail: { send: fn, read: { ...fn, description: 'reads' } } } };
}

const image = {
  mvm: 1,
  name: 'mailer',
  models: { main: {} },
  tools: { mail: {} },
  permissions: ['model:main', 'tool:mail/*', 'user'],
  procedures: {
    main: {
      body: [
        { op: 'tool.load', ns: 'mail', dst: 'tools' },
        { op: 'history.new', system: 'send mail', dst: 'h' },
        {
          op: 'call',
          proc: 'std.chat',
          static: { slot: 'main', max_turns: 5 },
          args: { history: 'h', tools: 'tools' },
          dst: 'answer',
        },
        { op: 'halt', src: 'answer' },
      ],
    },
  },
};

const send = (id: string, to: string) => ({
  id,
  name: 'mail/send',
  arguments: JSON.stringify({ to }),
});

function config(
  replies: unknown[],
  rules: unknown[] = [{ confirm: 'tool:mail/send' }],
): JsonObject {
  return {
    models: { main: { driver: 'replay', replies } },
    // What the tools return is the test's own: it may steer later calls.
    tools: { mail: { label: { integrity: 'trusted' } } },
    rules: [{ allow: 'model:main' }, { allow: 'tool:mail/*' }, { allow: 'user' }, ...rules],
  } as unknown as JsonObject;
}

/** A fresh Mvm on the same store: what another process would see. */
function processes(raw: JsonObject, functions: Record<string, Record<string, HostFunction>>) {
  const storeDir = mkdtempSync(join(tmpdir(), 'mvm-resume-'));
  const parsed = parseConfig(raw, { path: null, dir: process.cwd() });
  return () => new Mvm({ config: parsed, storeDir, functions });
}

async function inProcess<T>(open: () => Mvm, f: (m: Mvm) => Promise<T>): Promise<T> {
  const m = open();
  try {
    return await f(m);
  } finally {
    m.close();
  }
}

/** Cuts the journal after the first call's intent, as a process killed during it leaves it. */
function killedDuringCall(m: Mvm, runId: string): void {
  const intent = m.store.entries(runId).find((e) => e.type === 'tool.intent')!;
  m.store.database
    .prepare('DELETE FROM journal WHERE run_id = ? AND seq > ?')
    .run(runId, intent.seq);
  m.store.database
    .prepare("UPDATE runs SET status = 'running', head = ?, count = ? WHERE id = ?")
    .run(intent.hash, intent.seq, runId);
  // A process killed mid-run never wrote a manifest.
  m.store.database.prepare('DELETE FROM manifests WHERE run_id = ?').run(runId);
}

describe('confirmation and resume', () => {
  it('suspends at a confirmation, and an approved call runs exactly once in another process', async () => {
    const { calls, functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    expect(first.status).toBe('waiting');
    expect(first.pending).toMatchObject([
      {
        kind: 'confirm',
        id: 'c1',
        tool: 'mail/send',
        args: { to: 'ann' },
        rule: 'rules[3]: confirm tool:mail/send',
      },
    ]);
    expect(first.manifest).toMatchObject({ status: 'waiting', pending: [{ id: 'c1' }] });
    expect(calls).toEqual([]);

    const second = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    );
    expect(second).toMatchObject({ status: 'done', output: 'sent' });
    expect(calls).toEqual([{ to: 'ann' }]);
    await inProcess(open, async (m) => {
      const entries = m.store.entries(first.runId);
      expect(verifyChain(entries).ok).toBe(true);
      expect(m.auditRun(first.runId).report.ok).toBe(true);
      expect(entries.filter((e) => e.type === 'tool.intent')).toHaveLength(1);
      expect(entries.filter((e) => e.type === 'model.reply')).toHaveLength(2);
      expect(m.store.getManifest(first.runId)).toMatchObject({
        status: 'done',
        answers: [{ id: 'c1', verdict: 'approve' }],
      });
    });
  });

  it('replaces the manifest file of the suspension with the one of the end, whole', async () => {
    const { functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    expect(JSON.parse(readFileSync(first.manifestPath, 'utf8'))).toEqual(first.manifest);
    // A longer file in its place, as an edited one may be: nothing of it may remain.
    writeFileSync(first.manifestPath, `${' '.repeat(64 * 1024)}{}`);

    const second = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    );
    expect(second.manifestPath).toBe(first.manifestPath);
    expect(readFileSync(second.manifestPath, 'utf8')).toBe(
      `${JSON.stringify(second.manifest, null, 2)}\n`,
    );
  });

  it('makes the run folder again when it is gone by the time the run ends', async () => {
    const { functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    rmSync(first.runDir, { recursive: true });

    const second = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    );
    expect(JSON.parse(readFileSync(second.manifestPath, 'utf8'))).toEqual(second.manifest);
  });

  it('gives the model a denial with the reason, and the run goes on', async () => {
    const { calls, functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'bob')] }, { text: 'could not send' }]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    const done = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'deny', reason: 'bob is on leave' }]),
    );
    expect(done).toMatchObject({ status: 'done', output: 'could not send' });
    expect(calls).toEqual([]);
    await inProcess(open, async (m) => {
      const refused = m.store.entries(first.runId).find((e) => e.type === 'tool.refused')!;
      expect(refused.data).toMatchObject({
        denied: true,
        reason: 'denied by a person: bob is on leave',
      });
    });
  });

  it('resolves two confirmations of one step one at a time, across processes', async () => {
    const { calls, functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'ann'), send('b', 'bob')] }, { text: 'both sent' }]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    expect(first.pending.map((p) => p.id)).toEqual(['c1']);
    const second = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    );
    expect(second.status).toBe('waiting');
    expect(second.pending).toMatchObject([{ id: 'c2', args: { to: 'bob' } }]);
    expect(calls).toEqual([{ to: 'ann' }]);
    const third = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c2', verdict: 'approve' }]),
    );
    expect(third).toMatchObject({ status: 'done', output: 'both sent' });
    expect(calls).toEqual([{ to: 'ann' }, { to: 'bob' }]);
    await inProcess(open, async (m) => expect(m.auditRun(first.runId).report.ok).toBe(true));
  });

  it('takes "always" as an allow for the rest of the run', async () => {
    const { calls, functions } = counter();
    const open = processes(
      config([
        { toolCalls: [send('a', 'ann')] },
        { toolCalls: [send('b', 'bob')] },
        { text: 'done' },
      ]),
      functions,
    );
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    const done = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'always' }]),
    );
    expect(done.status).toBe('done');
    expect(calls).toHaveLength(2);
  });

  it('refuses a run another live process holds, and leaves it as it was', async () => {
    const { calls, functions } = counter();
    const open = processes(config([{ toolCalls: [send('a', 'ann')] }, { text: 'x' }]), functions);
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    // The parent of this test process is alive, on this machine: as if it held the run.
    const holder = `${process.ppid}@${hostname()}`;
    await inProcess(open, async (m) => {
      m.store.database.prepare('UPDATE runs SET owner = ? WHERE id = ?').run(holder, first.runId);
    });

    const err = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    ).catch((e: unknown) => e);

    expect(err).toMatchObject({ kind: 'store', code: 'run_in_progress' });
    expect(calls).toEqual([]);
    await inProcess(open, async (m) => {
      expect(m.store.getRun(first.runId)).toMatchObject({
        status: 'waiting',
        count: first.journal.count,
      });
      const after = await m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]).catch((e) => e);
      expect(after).toMatchObject({ code: 'run_in_progress' });
    });
  });

  it('refuses an answer to a request that does not exist, and leaves the run untouched', async () => {
    const { functions } = counter();
    const open = processes(config([{ toolCalls: [send('a', 'ann')] }, { text: 'x' }]), functions);
    const first = await inProcess(open, (m) => m.run(imageFromObject(image)));
    for (const answers of [
      [{ id: 'c9', verdict: 'approve' as const }],
      [{ id: 'c1', answer: 'yes' }],
      [],
    ]) {
      const err = await inProcess(open, (m) => m.resume(first.runId, answers)).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).code).toMatch(/^(unknown_request|wrong_answer|no_answer)$/);
    }
    await inProcess(open, async (m) => {
      expect(m.store.getRun(first.runId)).toMatchObject({
        status: 'waiting',
        count: first.journal.count,
      });
    });
    const done = await inProcess(open, (m) =>
      m.resume(first.runId, [{ id: 'c1', verdict: 'approve' }]),
    );
    expect(done.status).toBe('done');
    const again = await inProcess(open, (m) => m.resume(first.runId, [])).catch((e: unknown) => e);
    expect((again as ConfigError).code).toBe('not_resumable');
  });

  it('suspends at a question and resumes with the answer', async () => {
    const open = processes({ rules: [{ allow: 'user' }] }, {});
    const asking = {
      mvm: 1,
      name: 'ask',
      permissions: ['user'],
      procedures: {
        main: {
          body: [
            { op: 'user.ask', prompt: 'how many?', schema: { type: 'integer' }, dst: 'n' },
            { op: 'halt', src: 'n' },
          ],
        },
      },
    };
    const first = await inProcess(open, (m) => m.run(imageFromObject(asking)));
    expect(first.pending).toEqual([
      {
        kind: 'question',
        id: 'q1',
        prompt: 'how many?',
        schema: { type: 'integer' },
        at: 'procedures.main.body[0]',
      },
    ]);
    const done = await inProcess(open, (m) => m.resume(first.runId, [{ id: 'q1', answer: 3 }]));
    expect(done).toMatchObject({ status: 'done', output: 3 });
  });

  it('refuses to resume under a different host configuration', async () => {
    const { functions } = counter();
    const storeDir = mkdtempSync(join(tmpdir(), 'mvm-resume-'));
    const a = new Mvm({
      config: parseConfig(config([{ toolCalls: [send('a', 'ann')] }]), { path: null, dir: '.' }),
      storeDir,
      functions,
    });
    const first = await a.run(imageFromObject(image));
    a.close();
    const b = new Mvm({
      config: parseConfig(config([{ toolCalls: [send('a', 'ann')] }], []), {
        path: null,
        dir: '.',
      }),
      storeDir,
      functions,
    });
    const err = await b
      .resume(first.runId, [{ id: 'c1', verdict: 'approve' }])
      .catch((e: unknown) => e);
    b.close();
    expect((err as ConfigError).code).toBe('config_changed');
  });

  it('marks a call whose outcome is unknown, and repeats it only when a person says so', async () => {
    const { calls, functions } = counter();
    const open = processes(
      config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }], []),
      functions,
    );
    const done = await inProcess(open, (m) => m.run(imageFromObject(image)));
    expect(calls).toHaveLength(1);

    await inProcess(open, async (m) => killedDuringCall(m, done.runId));

    const stopped = await inProcess(open, (m) => m.resume(done.runId, []));
    expect(stopped.status).toBe('waiting');
    expect(stopped.pending).toMatchObject([
      { kind: 'confirm', request: 'unknown_outcome', tool: 'mail/send' },
    ]);
    expect(calls).toHaveLength(1);

    const again = await inProcess(open, (m) =>
      m.resume(done.runId, [{ id: stopped.pending[0]!.id, verdict: 'approve' }]),
    );
    expect(again).toMatchObject({ status: 'done', output: 'sent' });
    expect(calls).toHaveLength(2);
    await inProcess(open, async (m) => {
      const types = m.store.entries(done.runId).map((e) => e.type);
      expect(types).toContain('tool.unknown');
      expect(m.auditRun(done.runId).report.ok).toBe(true);
    });
  });

  it('asks before repeating a call its server alone says is idempotent, and shows the claim', async () => {
    const { calls, functions } = counter();
    functions.mail.send = { ...functions.mail.send, annotations: { idempotentHint: true } };
    const open = processes(
      config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }], []),
      functions,
    );
    const done = await inProcess(open, (m) => m.run(imageFromObject(image)));
    await inProcess(open, async (m) => killedDuringCall(m, done.runId));

    const stopped = await inProcess(open, (m) => m.resume(done.runId, []));

    expect(stopped.status).toBe('waiting');
    expect(stopped.pending).toMatchObject([
      { request: 'unknown_outcome', tool: 'mail/send', hints: { idempotent: true } },
    ]);
    expect(calls).toHaveLength(1);
  });

  it('repeats a call of unknown outcome without asking when the tool is idempotent', async () => {
    const { calls, functions } = counter();
    const raw = config([{ toolCalls: [send('a', 'ann')] }, { text: 'sent' }], []);
    (raw.tools as JsonObject).mail = { label: { integrity: 'trusted' }, idempotent: ['send'] };
    const open = processes(raw, functions);
    const done = await inProcess(open, (m) => m.run(imageFromObject(image)));
    await inProcess(open, async (m) => killedDuringCall(m, done.runId));

    const resumed = await inProcess(open, (m) => m.resume(done.runId, []));

    expect(resumed).toMatchObject({ status: 'done', output: 'sent' });
    expect(calls).toHaveLength(2);
    await inProcess(open, async (m) => {
      const entries = m.store.entries(done.runId);
      expect(entries.find((e) => e.type === 'tool.unknown')!.data).toEqual({
        callId: 'a',
        name: 'mail/send',
        retry: 'idempotent',
      });
      expect(entries.map((e) => e.type)).not.toContain('confirm.request');
      expect(await m.replay(done.runId)).toMatchObject({ ok: true, status: 'done' });
    });
  });
});

describe('a confirmation put to a person', () => {
  it('shows the files and URLs the call would touch', async () => {
    const seen: unknown[] = [];
    const write: HostFunction = { description: 'writes a file', run: () => 'written' };
    const mvm = new Mvm({
      config: parseConfig(
        {
          models: {
            main: {
              driver: 'replay',
              replies: [
                { toolCalls: [{ id: 'w', name: 'files/write', arguments: '{"path":"a.md"}' }] },
                { text: 'done' },
              ],
            },
          },
          tools: {
            files: {
              label: { integrity: 'trusted' },
              resources: { path: 'fs' },
              resourceBase: '/srv/notes',
            },
          },
          rules: [
            { allow: 'model:main' },
            { confirm: 'tool:files/write' },
            { allow: 'fs:/srv/notes/**' },
          ],
        },
        { path: null, dir: process.cwd() },
      ),
      storeDir: mkdtempSync(join(tmpdir(), 'mvm-touches-')),
      functions: { files: { write } },
    });
    const written = imageFromObject({
      ...image,
      tools: { files: {} },
      permissions: ['model:main', 'tool:files/*', 'fs:/srv/**'],
      procedures: {
        main: {
          body: [
            { op: 'tool.load', ns: 'files', dst: 'tools' },
            { op: 'history.new', system: 'write a.md', dst: 'h' },
            {
              op: 'call',
              proc: 'std.chat',
              static: { slot: 'main', max_turns: 3 },
              args: { history: 'h', tools: 'tools' },
              dst: 'answer',
            },
            { op: 'halt', src: 'answer' },
          ],
        },
      },
    });
    const result = await mvm.run(written, {
      user: {
        confirm: async (request) => {
          seen.push(request);
          return { verdict: 'approve' };
        },
      },
    });
    mvm.close();
    expect(result.status).toBe('done');
    expect(seen).toMatchObject([{ tool: 'files/write', touches: ['fs:/srv/notes/a.md'] }]);
  });
});
