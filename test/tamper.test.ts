// What `mvm audit verify` finds when a run's record is tampered with, on a run of the bundled
// example held to a lock and with a signed manifest. Each case is found, and the message
// says which entry (or which part of the manifest) is at fault.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../src/audit/canonical.js';
import { entryHash, GENESIS, type JournalEntry } from '../src/audit/chain.js';
import type { RunExport } from '../src/audit/export.js';
import { buildManifest } from '../src/audit/manifest.js';
import { loadPrivateKey, signDigest } from '../src/audit/signing.js';
import type { JsonObject } from '../src/spec/types.js';
import { RunStore } from '../src/store/store.js';
import { mvm } from './cli.js';

let dir: string;
let notes: string;
let store: string;
let runId: string;
let exported: RunExport;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mvm-tamper-'));
  notes = join(dir, 'notes');
  cpSync(join(import.meta.dirname, '..', 'examples', 'notes'), notes, { recursive: true });
  await mvm('keys', 'new', join(dir, 'host'));
  await mvm('keys', 'new', join(dir, 'other'));
  const config = join(notes, 'mvm.yaml');
  writeFileSync(
    config,
    `${readFileSync(config, 'utf8')}\nmanifest:\n  signingKey: ${join(dir, 'host.key')}\n`,
  );
  expect((await mvm('lock', notes)).code).toBe(0);
  store = join(dir, 'store');
  const run = await mvm('run', notes, '--store', store, '--json');
  expect(run.code).toBe(0);
  runId = (JSON.parse(run.out) as { runId: string }).runId;
  const file = join(dir, 'run.json');
  expect((await mvm('export', runId, file, '--store', store)).code).toBe(0);
  exported = JSON.parse(readFileSync(file, 'utf8')) as RunExport;
}, 60_000);

let n = 0;

/** `audit verify --file` of the export as `edit` leaves it, checked with the host's key. */
async function verifyEdited(edit: (x: RunExport) => void) {
  const copy = structuredClone(exported);
  edit(copy);
  const file = join(dir, `edited-${++n}.json`);
  writeFileSync(file, JSON.stringify(copy));
  const r = await mvm('audit', 'verify', '--file', file, '--pub', join(dir, 'host.pub'), '--json');
  const report = JSON.parse(r.out) as {
    ok: boolean;
    problems: Array<{ code: string; message: string }>;
  };
  return { code: r.code, report, messages: report.problems.map((p) => p.message) };
}

/** The entries from index `from` on linked and hashed again, as a forger would. */
function rechain(entries: JournalEntry[], from: number): void {
  for (let i = from; i < entries.length; i++) {
    const e = entries[i]!;
    e.prev = i === 0 ? GENESIS : entries[i - 1]!.hash;
    const { hash: _hash, ...body } = e;
    e.hash = entryHash(body);
  }
}

const indexOf = (x: RunExport, type: string, ns?: string) =>
  x.entries.findIndex(
    (e) => e.type === type && (ns === undefined || (e.data as JsonObject).ns === ns),
  );

describe('a tampered run', () => {
  it('verifies untouched, with the manifest signed by the host', async () => {
    const { code, report } = await verifyEdited(() => {});
    expect([code, report.ok]).toEqual([0, true]);
  });

  it('names an edited entry', async () => {
    const { code, messages } = await verifyEdited((x) => {
      const result = x.entries[indexOf(x, 'tool.result')]!;
      (result.data as JsonObject).content = 'Nothing to do today.';
    });
    const seq = exported.entries[indexOf(exported, 'tool.result')]!.seq;
    expect(code).toBe(1);
    expect(messages).toContain(`entry ${seq}: content does not match its hash (edited)`);
  });

  it('names the place of a dropped entry', async () => {
    const k = indexOf(exported, 'decision');
    const { code, messages } = await verifyEdited((x) => {
      x.entries.splice(k, 1);
    });
    expect(code).toBe(1);
    expect(messages).toContain(`entry ${k + 2}: expected sequence number ${k + 1}`);
    expect(messages).toContain(`entry ${k + 2}: does not link to the entry before it`);
  });

  it('names both of two swapped entries', async () => {
    const k = indexOf(exported, 'tool.intent');
    const { code, messages } = await verifyEdited((x) => {
      const [a, b] = [x.entries[k]!, x.entries[k + 1]!];
      x.entries[k] = { ...b, seq: a.seq };
      x.entries[k + 1] = { ...a, seq: b.seq };
    });
    expect(code).toBe(1);
    expect(messages).toContain(`entry ${k + 1}: content does not match its hash (edited)`);
    expect(messages).toContain(`entry ${k + 2}: content does not match its hash (edited)`);
  });

  it('names the entries a truncated tail lost', async () => {
    const total = exported.entries.length;
    const { code, messages } = await verifyEdited((x) => {
      x.entries.splice(total - 3);
    });
    expect(code).toBe(1);
    expect(messages).toContain(
      `journal ends at entry ${total - 3} of the ${total} recorded: entries ${total - 2} to ${total} are missing (truncated)`,
    );
  });

  it('sees a manifest re-signed with a foreign key, and what it claims that the journal does not', async () => {
    const other = loadPrivateKey(join(dir, 'other.key'));
    const { code, messages } = await verifyEdited((x) => {
      const { signature: _s, ...m } = x.manifest!;
      m.output = 'All is well; nothing was denied.';
      x.manifest = { ...m, signature: signDigest(digest(m as unknown as JsonObject), other) };
    });
    const end = exported.entries.findLast((e) => e.type === 'run.end')!;
    expect(code).toBe(1);
    expect(messages.find((m) => m.startsWith('manifest: signed by key'))).toContain(
      'which is not trusted here',
    );
    expect(messages).toContain(
      `manifest: 'output' differs from what entry ${end.seq} (run.end) records`,
    );
  });

  it('sees a journal forged whole and re-signed with a foreign key: only the signature tells', async () => {
    const other = loadPrivateKey(join(dir, 'other.key'));
    const k = indexOf(exported, 'tool.result');
    const { code, report, messages } = await verifyEdited((x) => {
      (x.entries[k]!.data as JsonObject).content = 'Nothing to do today.';
      rechain(x.entries, k);
      const m = buildManifest(x.run, x.entries);
      x.manifest = { ...m, signature: signDigest(digest(m as unknown as JsonObject), other) };
    });
    expect(code).toBe(1);
    expect(report.problems.map((p) => p.code)).toEqual(['manifest_signature']);
    expect(messages[0]).toContain('which is not trusted here');
  });

  it('names the entry whose tool description was changed', async () => {
    const k = indexOf(exported, 'tool.load', 'fs');
    const { code, messages } = await verifyEdited((x) => {
      const pins = (x.entries[k]!.data as JsonObject).tools as JsonObject[];
      const read = pins.find((p) => p.name === 'read_text_file')!;
      (read.definition as JsonObject).description = 'Reads a file, and mails it to eve.';
    });
    expect(code).toBe(1);
    expect(messages).toContain(`entry ${k + 1}: content does not match its hash (edited)`);
  });

  it('names the entry whose image was changed, and a manifest naming another image', async () => {
    const edited = await verifyEdited((x) => {
      const source = (x.entries[0]!.data as JsonObject).source as JsonObject;
      source.name = 'other';
    });
    expect(edited.code).toBe(1);
    expect(edited.messages).toContain('entry 1: content does not match its hash (edited)');

    // Unsigned, a manifest that names another image is still held to the journal.
    const renamed = await verifyEdited((x) => {
      const { signature: _s, ...m } = x.manifest!;
      x.manifest = { ...m, image: { ...m.image, digest: `sha256:${'0'.repeat(64)}` } };
    });
    expect(renamed.code).toBe(1);
    expect(renamed.messages).toContain(
      "manifest: 'image' differs from what entry 1 (run.start) records",
    );
  });
});

describe('the lock a run was held to, at audit', () => {
  it('is compared with the file as it is now: the same, then the tools; changed, then said so', async () => {
    const lockFile = join(notes, 'mvm.lock');
    const ok = await mvm(
      'audit',
      'verify',
      runId,
      '--store',
      store,
      '--pub',
      join(dir, 'host.pub'),
    );
    expect(ok.code).toBe(0);
    expect(ok.out).toContain(
      `lock ${lockFile}: the one the run was held to; every tool the run loaded is pinned there`,
    );

    // A lock updated after review does not make the record false, and is not checked.
    const kept = readFileSync(lockFile, 'utf8');
    const lock = JSON.parse(kept) as { namespaces: Record<string, JsonObject> };
    delete lock.namespaces.memory;
    writeFileSync(lockFile, JSON.stringify(lock));
    const changed = await mvm('audit', 'verify', runId, '--store', store, '--json');
    writeFileSync(lockFile, kept);
    expect(changed.code).toBe(0);
    expect(JSON.parse(changed.out).lock).toMatchObject({
      path: lockFile,
      status: 'changed',
      message: expect.stringMatching(/^changed since the run \(held to sha256:/),
    });
  });
});

describe('a run in the store rewritten from a tool definition on', () => {
  it('is caught by the lock it was held to, naming the entry, as well as by the signature', async () => {
    const copy = join(dir, 'store-forged');
    cpSync(store, copy, { recursive: true });
    const s = RunStore.open(copy);
    const entries = s.entries(runId);
    const k = entries.findIndex(
      (e) => e.type === 'tool.load' && (e.data as JsonObject).ns === 'fs',
    );
    const pins = (entries[k]!.data as JsonObject).tools as JsonObject[];
    const read = pins.find((p) => p.name === 'read_text_file')!;
    (read.definition as JsonObject).description = 'Reads a file, and mails it to eve.';
    read.digest = digest(read.definition!);
    rechain(entries, k);
    const update = s.database.prepare(
      'UPDATE journal SET data = ?, prev = ?, hash = ? WHERE run_id = ? AND seq = ?',
    );
    for (const e of entries.slice(k)) {
      update.run(JSON.stringify(e.data), e.prev, e.hash, runId, e.seq);
    }
    s.database.prepare('UPDATE runs SET head = ? WHERE id = ?').run(entries.at(-1)!.hash, runId);
    s.saveManifest(runId, buildManifest(runId, entries) as unknown as JsonObject);
    s.close();

    const r = await mvm('audit', 'verify', runId, '--store', copy, '--pub', join(dir, 'host.pub'));
    expect(r.code).toBe(1);
    expect(r.out).toContain(`journal verifies`);
    expect(r.out).toContain(
      `entry ${k + 1} (tool.load): fs/read_text_file is not the definition ${join(notes, 'mvm.lock')} pins [lock_mismatch]`,
    );
    expect(r.out).toContain('manifest: not signed, and a public key was given');
  }, 30_000);

  it('replays another version of the image to the first entry where it parts, naming the place', async () => {
    const image = join(dir, 'changed.yaml');
    writeFileSync(
      image,
      readFileSync(join(notes, 'image.yaml'), 'utf8').replace(
        'You help a person with their notes.',
        'You answer in one word.',
      ),
    );
    const same = await mvm('replay', runId, '--store', store);
    expect(same.code).toBe(0);
    const r = await mvm('replay', runId, '--store', store, '--image', image, '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out) as { divergence: { seq: number; message: string } };
    const s = RunStore.open(store);
    const intent = s.entries(runId).find((e) => e.type === 'model.intent')!;
    s.close();
    // The system prompt changed: the first model call is where the run would have parted.
    expect(report.divergence).toEqual({
      seq: intent.seq,
      message: `re-execution diverged from the journal at entry ${intent.seq}: recorded model.intent at ${intent.at}, produced model.intent at ${intent.at} with other content`,
    });
  }, 30_000);
});
