import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { digest } from '../audit/canonical.js';
import { ConfigError, ProviderError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import type { ToolDefinition } from '../tools/provider.js';

/**
 * `mvm.lock`, beside the host configuration: for every tool namespace, the digest of each
 * tool definition an operator reviewed. A server whose tools differ from the lock (a
 * description changed, a tool added or gone, a schema changed) stops the load with a diff,
 * until the operator runs `mvm lock --update` after reviewing it.
 */
export interface LockFile {
  mvmLock: 1;
  namespaces: Record<string, { tools: Record<string, LockedTool> }>;
}

export interface LockedTool {
  digest: string;
  description: string;
  inputSchema: string;
}

export function lockPath(configPath: string): string {
  return join(dirname(configPath), 'mvm.lock');
}

/** The lock at `path`, or undefined when there is none; one that cannot be read is refused. */
export function readLock(path: string): LockFile | undefined {
  if (!existsSync(path)) return undefined;
  const bad = (what: string) =>
    new ConfigError(
      'bad_lock',
      `${path}: ${what}; review the tools and write it again with mvm lock --update`,
      { file: path },
    );
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw bad(`not a lock file: ${(e as Error).message}`);
  }
  const lock = data as Partial<LockFile> | null;
  if (lock === null || typeof lock !== 'object' || Array.isArray(lock)) throw bad('not an object');
  if (lock.mvmLock !== 1) throw bad(`mvmLock: expected 1, found ${JSON.stringify(lock.mvmLock)}`);
  const namespaces = lock.namespaces as unknown;
  if (namespaces === null || typeof namespaces !== 'object' || Array.isArray(namespaces)) {
    throw bad('namespaces: expected an object');
  }
  for (const [ns, entry] of Object.entries(namespaces as Record<string, unknown>)) {
    const tools = (entry as { tools?: unknown } | null)?.tools;
    if (tools === null || typeof tools !== 'object' || Array.isArray(tools)) {
      throw bad(`namespaces.${ns}.tools: expected an object`);
    }
  }
  return lock as LockFile;
}

export function lockEntry(def: ToolDefinition): LockedTool {
  return {
    digest: digest(def),
    description: digest(def.description),
    inputSchema: digest(def.inputSchema),
  };
}

export function writeLock(path: string, namespaces: Record<string, ToolDefinition[]>): LockFile {
  const lock: LockFile = { mvmLock: 1, namespaces: {} };
  for (const [ns, defs] of Object.entries(namespaces).sort(([a], [b]) => a.localeCompare(b))) {
    const tools: Record<string, LockedTool> = {};
    for (const d of [...defs].sort((a, b) => a.name.localeCompare(b.name)))
      tools[d.name] = lockEntry(d);
    lock.namespaces[ns] = { tools };
  }
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  return lock;
}

/** What differs between a namespace's definitions now and its lock, one line a change. */
export function lockDiff(lock: LockFile, ns: string, defs: ToolDefinition[]): string[] {
  const locked = lock.namespaces[ns]?.tools;
  if (!locked) return [`namespace '${ns}' is not in the lock`];
  const out: string[] = [];
  const now = new Map(defs.map((d) => [d.name, d]));
  for (const [name, d] of now) {
    const was = locked[name];
    if (!was) {
      out.push(`+ ${ns}/${name}: a new tool`);
      continue;
    }
    const e = lockEntry(d);
    if (e.digest === was.digest) continue;
    const parts = [
      e.description !== was.description ? 'description' : '',
      e.inputSchema !== was.inputSchema ? 'input schema' : '',
    ].filter(Boolean);
    out.push(`~ ${ns}/${name}: ${parts.join(' and ') || 'definition'} changed`);
  }
  for (const name of Object.keys(locked)) if (!now.has(name)) out.push(`- ${ns}/${name}: gone`);
  return out;
}

/** Throws when the definitions differ from the lock, listing each difference. */
export function checkLock(lock: LockFile, ns: string, defs: ToolDefinition[], path: string): void {
  const diff = lockDiff(lock, ns, defs);
  if (diff.length === 0) return;
  throw new ProviderError(
    'lock_mismatch',
    `${ns}: the tools differ from ${path}; review them and run mvm lock --update:\n  ${diff.join('\n  ')}`,
    { namespace: ns, lock: path, diff } as unknown as JsonObject,
  );
}
