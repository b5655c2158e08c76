import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { digest } from '../audit/canonical.js';
import type { ChainProblem, JournalEntry } from '../audit/chain.js';
import { ConfigError, ProviderError } from '../spec/errors.js';
import type { JsonObject } from '../spec/types.js';
import type { ProviderDescription, ToolDefinition } from '../tools/provider.js';
import { lockUpdateCommand } from './command-line.js';

/**
 * `mvm.lock`, beside the host configuration: for every tool namespace, the server's
 * identity and the digest of each tool definition an operator reviewed. A server that is
 * not the one locked (another command, package version or URL, or another name or version
 * in its answer to initialize) or whose tools differ from the lock (a description changed,
 * a tool added or gone, a schema or an annotation changed) stops the load with a diff,
 * until the operator runs `mvm lock --update` after reviewing it.
 */
export interface LockFile {
  mvmLock: 1;
  namespaces: Record<string, { server?: LockedServer; tools: Record<string, LockedTool> }>;
}

/**
 * Who a namespace's server is: how it is reached (its command, or its URL), the npm package
 * its script belongs to, and the name and version it gives at initialize. Host functions
 * have none. A lock without one holds the tools alone.
 */
export interface LockedServer {
  command?: string;
  url?: string;
  /** `name@version`, from the `package.json` above the first file among the arguments. */
  package?: string;
  name?: string;
  version?: string;
}

/** Digests of a definition and of its parts, so that a diff can say which part changed. */
export interface LockedTool {
  digest: string;
  description: string;
  inputSchema: string;
  /** Present when the definition has one. */
  outputSchema?: string;
  annotations?: string;
}

export function lockPath(configPath: string): string {
  return join(dirname(configPath), 'mvm.lock');
}

/** The command that writes the lock at `path` again, for the configuration it belongs to. */
function updateHint(path: string, configPath: string | null | undefined): string {
  return lockUpdateCommand(configPath ?? join(dirname(path), 'mvm.yaml'));
}

/**
 * The lock at `path`, or undefined when there is none; one that cannot be read is refused.
 * `configPath` is the configuration it belongs to, for the command that writes it again.
 */
export function readLock(path: string, configPath?: string | null): LockFile | undefined {
  if (!existsSync(path)) return undefined;
  const bad = (what: string) =>
    new ConfigError(
      'bad_lock',
      `${path}: ${what}; review the tools and write it again with ${updateHint(path, configPath)}`,
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
    const { tools, server } = (entry ?? {}) as { tools?: unknown; server?: unknown };
    if (tools === null || typeof tools !== 'object' || Array.isArray(tools)) {
      throw bad(`namespaces.${ns}.tools: expected an object`);
    }
    const strings = (o: object) => Object.values(o).every((v) => typeof v === 'string');
    if (
      server !== undefined &&
      (server === null || typeof server !== 'object' || Array.isArray(server) || !strings(server))
    ) {
      throw bad(`namespaces.${ns}.server: expected an object of strings`);
    }
  }
  return lock as LockFile;
}

/** The identity of a server as the lock keeps it; undefined for host functions. */
export function serverIdentity(d: ProviderDescription): LockedServer | undefined {
  if (d.kind === 'host') return undefined;
  const out: LockedServer = d.kind === 'http' ? { url: d.url! } : { command: d.command! };
  const pkg = d.kind === 'stdio' ? packageOf(d.args ?? []) : undefined;
  if (pkg) out.package = pkg;
  if (d.serverName) out.name = d.serverName;
  if (d.serverVersion) out.version = d.serverVersion;
  return out;
}

/**
 * The npm package a server's script belongs to: the nearest `package.json` with a name and
 * a version above the first argument that is an existing file, by absolute path.
 */
function packageOf(args: readonly string[]): string | undefined {
  const file = args.find((a) => isAbsolute(a) && isFile(a));
  if (!file) return undefined;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (isFile(manifest)) {
      try {
        const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as JsonObject;
        if (typeof name === 'string' && typeof version === 'string') return `${name}@${version}`;
      } catch {
        // A package.json that cannot be read names no package; look further up.
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function lockEntry(def: ToolDefinition): LockedTool {
  const entry: LockedTool = {
    digest: digest(def),
    description: digest(def.description),
    inputSchema: digest(def.inputSchema),
  };
  if (def.outputSchema !== undefined) entry.outputSchema = digest(def.outputSchema);
  if (def.annotations !== undefined) entry.annotations = digest(def.annotations);
  return entry;
}

/** What a namespace offers: its server, as described once connected, and its tools. */
export interface Listed {
  server: ProviderDescription;
  defs: ToolDefinition[];
}

export function writeLock(path: string, namespaces: Record<string, Listed>): LockFile {
  const lock: LockFile = { mvmLock: 1, namespaces: {} };
  for (const [ns, listed] of Object.entries(namespaces).sort(([a], [b]) => a.localeCompare(b))) {
    const tools: Record<string, LockedTool> = {};
    for (const d of [...listed.defs].sort((a, b) => a.name.localeCompare(b.name)))
      tools[d.name] = lockEntry(d);
    const server = serverIdentity(listed.server);
    lock.namespaces[ns] = server ? { server, tools } : { tools };
  }
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  return lock;
}

const SERVER_KEYS: ReadonlyArray<keyof LockedServer> = [
  'command',
  'url',
  'package',
  'name',
  'version',
];

/** What differs between a namespace's server and tools now and its lock, one line a change. */
export function lockDiff(lock: LockFile, ns: string, listed: Listed): string[] {
  const entry = lock.namespaces[ns];
  const locked = entry?.tools;
  if (!locked) return [`namespace '${ns}' is not in the lock`];
  const out: string[] = [];
  const was = entry.server;
  if (was) {
    const now = serverIdentity(listed.server) ?? {};
    const said = (v: string | undefined) => (v === undefined ? 'none' : JSON.stringify(v));
    const changes = SERVER_KEYS.filter((k) => was[k] !== now[k]).map(
      (k) => `${k} ${said(was[k])} -> ${said(now[k])}`,
    );
    if (changes.length > 0) out.push(`~ ${ns}: another server: ${changes.join(', ')}`);
  }
  const defs = listed.defs;
  const now = new Map(defs.map((d) => [d.name, d]));
  for (const [name, d] of now) {
    const was = locked[name];
    if (!was) {
      out.push(`+ ${ns}/${name}: a new tool`);
      continue;
    }
    const e = lockEntry(d);
    // Each part's digest is compared too: a lock whose parts were edited is not the one
    // reviewed, even where the whole definition's digest is.
    const same = (Object.keys(e) as Array<keyof LockedTool>).every((k) => e[k] === was[k]);
    if (same && Object.keys(was).length === Object.keys(e).length) continue;
    const parts = [
      e.description !== was.description ? 'description' : '',
      e.inputSchema !== was.inputSchema ? 'input schema' : '',
      e.outputSchema !== was.outputSchema ? 'output schema' : '',
      e.annotations !== was.annotations ? 'annotations' : '',
    ].filter(Boolean);
    out.push(`~ ${ns}/${name}: ${parts.join(', ') || 'definition'} changed`);
  }
  for (const name of Object.keys(locked)) if (!now.has(name)) out.push(`- ${ns}/${name}: gone`);
  return out;
}

/** Throws when the server or its definitions differ from the lock, listing each difference. */
export function checkLock(
  lock: LockFile,
  ns: string,
  listed: Listed,
  path: string,
  configPath?: string | null,
): void {
  const diff = lockDiff(lock, ns, listed);
  if (diff.length === 0) return;
  throw new ProviderError(
    'lock_mismatch',
    `${ns}: the tools differ from ${path}; review them and run ${updateHint(path, configPath)}:\n  ${diff.join('\n  ')}`,
    { namespace: ns, lock: path, diff } as unknown as JsonObject,
  );
}

/**
 * Holds the tools a run loaded, as its journal pins them (`tool.load` and `tool.relist`),
 * to a lock: every definition the lock's, none missing. A run held to the lock could not
 * have loaded others, so a difference means the journal or the lock is not what the run had.
 */
export function auditLock(
  lock: LockFile,
  path: string,
  entries: readonly JournalEntry[],
): ChainProblem[] {
  const problems: ChainProblem[] = [];
  for (const e of entries) {
    if (e.type !== 'tool.load' && e.type !== 'tool.relist') continue;
    const d = e.data as JsonObject;
    const ns = String(d.ns);
    const pins = (Array.isArray(d.tools) ? d.tools : []) as JsonObject[];
    const locked = lock.namespaces[ns]?.tools;
    const say = (what: string) =>
      problems.push({
        seq: e.seq,
        code: 'lock_mismatch',
        message: `entry ${e.seq} (${e.type}): ${what}`,
      });
    if (!locked) {
      say(`namespace '${ns}' is not in ${path}`);
      continue;
    }
    for (const pin of pins) {
      const name = String(pin.name);
      const was = Object.hasOwn(locked, name) ? locked[name] : undefined;
      if (!was) say(`${ns}/${name} is not in ${path}`);
      else if (pin.digest !== was.digest || digest(pin.definition ?? null) !== was.digest) {
        say(`${ns}/${name} is not the definition ${path} pins`);
      }
    }
    const loaded = new Set(pins.map((p) => String(p.name)));
    for (const name of Object.keys(locked)) {
      if (!loaded.has(name)) say(`${ns}/${name}, pinned in ${path}, was not offered`);
    }
  }
  return problems;
}
