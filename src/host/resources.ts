import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Mode } from '../monitor/monitor.js';
import type { Json, JsonObject } from '../spec/types.js';
import { mayChange, type ToolHints } from '../tools/provider.js';
import type { NamespaceBinding } from './config.js';

/** How a tool's arguments name resources: argument name to kind. */
export type ResourceMap = Record<string, 'fs' | 'net'>;

/** The arguments the reference filesystem server takes paths in. */
const FILESYSTEM: ResourceMap = { path: 'fs', paths: 'fs', source: 'fs', destination: 'fs' };

/**
 * The read-only tools of the reference filesystem and memory servers, known by name: the
 * operator chose the package, so this is the configuration speaking, not the server.
 */
const READS: Record<string, readonly string[]> = {
  'server-filesystem': [
    'read_file',
    'read_text_file',
    'read_media_file',
    'read_multiple_files',
    'list_directory',
    'list_directory_with_sizes',
    'directory_tree',
    'search_files',
    'get_file_info',
    'list_allowed_directories',
  ],
  'server-memory': ['read_graph', 'search_nodes', 'open_nodes'],
};

/**
 * How a tool uses what it touches: the namespace's `modes`, else a reference server's read
 * tools, known by name, else write.
 *
 * The server's own hints count only where the configuration is silent, and only to be
 * stricter: a tool taken to read by its name that its server says may change things
 * (`readOnlyHint: false` or `destructiveHint: true`) is decided as both a read and a write,
 * so every rule for either applies. A read-only hint never makes a tool read.
 *
 * ```ts
 * modeOf(fsServer, 'read_file', { destructive: true }) // ['read', 'write']
 * ```
 */
export function modeOf(
  binding: NamespaceBinding | undefined,
  tool: string,
  hints: ToolHints = {},
): Mode | Mode[] {
  const given =
    binding?.modes && Object.hasOwn(binding.modes, tool) ? binding.modes[tool] : undefined;
  if (given) return given;
  const args = binding && 'args' in binding ? (binding.args ?? []) : [];
  for (const [server, reads] of Object.entries(READS)) {
    if (args.some((a) => a.includes(server)) && reads.includes(tool)) {
      return mayChange(hints) ? ['read', 'write'] : 'read';
    }
  }
  return 'write';
}

/** What the calls of a namespace touch: resources named by arguments, and files every call does. */
export interface ResourceRules {
  map: ResourceMap;
  base: string;
  /** Files every call touches whatever its arguments, as the memory server's graph. */
  always: string[];
}

/**
 * The resource map of a namespace's tool: the tool's own `resources` under `tools`, else the
 * namespace's, else the reference filesystem server's when the namespace runs it; paths
 * resolve against `resourceBase`, else the server's first allowed folder. Every call to the
 * reference memory server touches its graph file, `MEMORY_FILE_PATH` (relative to the
 * server's folder, as the server reads it), whatever the tool says.
 */
export function resourceRules(
  binding: NamespaceBinding | undefined,
  tool?: string,
): ResourceRules | undefined {
  if (!binding) return undefined;
  const b = binding as NamespaceBinding & { resources?: ResourceMap; resourceBase?: string };
  const args = 'args' in b ? (b.args ?? []) : [];
  const entry = (name: string) => args.findIndex((a) => a.includes(name));
  const fsAt = entry('server-filesystem');
  const memoryAt = entry('server-memory');
  const always = memoryAt >= 0 ? [memoryFile(args[memoryAt]!, b)] : [];
  const tools = b.tools;
  const own = tool !== undefined && tools && Object.hasOwn(tools, tool) ? tools[tool] : undefined;
  const map = own?.resources ?? b.resources ?? (fsAt >= 0 ? FILESYSTEM : undefined);
  if (!map && always.length === 0) return undefined;
  const folder = fsAt >= 0 ? args[fsAt + 1] : undefined;
  const base = b.resourceBase ?? folder ?? process.cwd();
  return { map: map ?? {}, base, always };
}

/** The memory server's graph file: its environment's `MEMORY_FILE_PATH`, else its default. */
function memoryFile(entry: string, binding: NamespaceBinding): string {
  const env = 'env' in binding ? binding.env : undefined;
  const named = env?.MEMORY_FILE_PATH;
  const serverDir = dirname(resolve(entry));
  return `fs:${realPath(named || 'memory.jsonl', serverDir)}`;
}

/**
 * An absolute path with `..` folded and every symlink resolved, as far as the path exists:
 * a link that points out of a folder names where it points.
 */
export function realPath(path: string, base: string): string {
  let p = resolve(base, path);
  const rest: string[] = [];
  while (!existsSync(p)) {
    const parent = dirname(p);
    if (parent === p) break;
    rest.unshift(basename(p));
    p = parent;
  }
  let real = p;
  try {
    real = realpathSync(p);
  } catch {
    // An unreadable ancestor is named as written.
  }
  return rest.length ? join(real, ...rest) : real;
}

/** The resources a call's arguments name, as `fs:/abs/path` and `net:host/path`. */
export function resourcesOf(args: JsonObject, rules: ResourceRules | undefined): string[] {
  if (!rules) return [];
  const out: string[] = [...rules.always];
  for (const [arg, kind] of Object.entries(rules.map)) {
    const v: Json | undefined = args[arg];
    const values = Array.isArray(v) ? v : v === undefined ? [] : [v];
    for (const x of values) {
      if (typeof x !== 'string') continue;
      if (kind === 'fs') {
        out.push(`fs:${realPath(x, isAbsolute(x) ? '/' : rules.base)}`);
      } else {
        try {
          const u = new URL(x);
          out.push(`net:${u.host}${u.pathname}`);
        } catch {
          out.push(`net:${x}`);
        }
      }
    }
  }
  return out;
}
