import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Json, JsonObject } from '../spec/types.js';
import type { NamespaceBinding } from './config.js';

/** How a tool's arguments name resources: argument name to kind. */
export type ResourceMap = Record<string, 'fs' | 'net'>;

/** The arguments the reference filesystem server takes paths in. */
const FILESYSTEM: ResourceMap = { path: 'fs', paths: 'fs', source: 'fs', destination: 'fs' };

/**
 * The resource map of a namespace: its own `resources`, else the reference filesystem
 * server's when the namespace runs it; paths resolve against `resourceBase`, else the
 * server's first allowed folder.
 */
export function resourceRules(binding: NamespaceBinding | undefined) {
  if (!binding) return undefined;
  const b = binding as NamespaceBinding & { resources?: ResourceMap; resourceBase?: string };
  const args = 'args' in b ? (b.args ?? []) : [];
  const isFilesystem = args.some((a) => a.includes('server-filesystem'));
  const map = b.resources ?? (isFilesystem ? FILESYSTEM : undefined);
  if (!map) return undefined;
  const folder = args.slice(args.findIndex((a) => a.includes('server-filesystem')) + 1)[0];
  const base = b.resourceBase ?? (isFilesystem && folder ? folder : process.cwd());
  return { map, base };
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
export function resourcesOf(args: JsonObject, rules: ReturnType<typeof resourceRules>): string[] {
  if (!rules) return [];
  const out: string[] = [];
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
