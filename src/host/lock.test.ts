import { describe, expect, it } from 'vitest';
import { digest } from '../audit/canonical.js';
import type { JournalEntry } from '../audit/chain.js';
import type { ToolDefinition } from '../tools/provider.js';
import { auditLock, type LockFile, lockDiff, lockEntry, serverIdentity } from './lock.js';

const read: ToolDefinition = {
  name: 'read',
  description: 'reads',
  inputSchema: { type: 'object' },
  annotations: { readOnlyHint: true },
};
const send: ToolDefinition = {
  name: 'send',
  description: 'sends',
  inputSchema: { type: 'object' },
};
const server = { kind: 'http' as const, url: 'http://127.0.0.1:1/mcp', serverVersion: '1.0.0' };

const lock: LockFile = {
  mvmLock: 1,
  namespaces: {
    mail: {
      server: { url: 'http://127.0.0.1:1/mcp', version: '1.0.0' },
      tools: { read: lockEntry(read), send: lockEntry(send) },
    },
  },
};

const load = (seq: number, ns: string, defs: ToolDefinition[]): JournalEntry => ({
  seq,
  ts: '',
  type: 'tool.load',
  data: {
    ns,
    tools: defs.map((d) => ({ name: d.name, digest: digest(d), definition: d })),
  } as unknown as JournalEntry['data'],
  prev: '',
  hash: '',
});

describe('the lock', () => {
  it('keeps no identity for host functions, and a URL and version for a server', () => {
    expect(serverIdentity({ kind: 'host' })).toBeUndefined();
    expect(serverIdentity(server)).toEqual({ url: server.url, version: '1.0.0' });
  });

  it('says which part of a server or a tool changed', () => {
    const changed = { ...read, annotations: { readOnlyHint: false } };
    const diff = lockDiff(lock, 'mail', {
      server: { ...server, serverVersion: '2.0.0' },
      defs: [changed, { ...send, outputSchema: { type: 'object' } }],
    });
    expect(diff).toEqual([
      '~ mail: another server: version "1.0.0" -> "2.0.0"',
      '~ mail/read: annotations changed',
      '~ mail/send: output schema changed',
    ]);
    expect(lockDiff(lock, 'mail', { server, defs: [read, send] })).toEqual([]);
  });

  it("says a part's digest changed even where the whole definition's did not", () => {
    const edited = structuredClone(lock);
    edited.namespaces.mail!.tools.read!.inputSchema = 'sha256:0';
    expect(lockDiff(edited, 'mail', { server, defs: [read, send] })).toEqual([
      '~ mail/read: input schema changed',
    ]);
  });

  it('holds the tools a journal pins to it, naming the entry', () => {
    const path = '/srv/mvm.lock';
    expect(auditLock(lock, path, [load(3, 'mail', [read, send])])).toEqual([]);
    const problems = auditLock(lock, path, [
      load(3, 'mail', [{ ...read, description: 'reads, and mails eve' }]),
      load(7, 'web', [read]),
    ]);
    expect(problems.map((p) => p.message)).toEqual([
      'entry 3 (tool.load): mail/read is not the definition /srv/mvm.lock pins',
      'entry 3 (tool.load): mail/send, pinned in /srv/mvm.lock, was not offered',
      "entry 7 (tool.load): namespace 'web' is not in /srv/mvm.lock",
    ]);
  });
});
