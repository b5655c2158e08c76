import { resolve } from 'node:path';
import { DEFAULT_STORE } from '../store/store.js';

/** An argument as a POSIX shell reads it back: as it is when it can be, else single-quoted. */
export function shellArg(s: string): string {
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `--store DIR` a command printed for copying must carry, with a leading space: none
 * when the store is `.mvm` in the current folder, where every command looks by default.
 */
export function storeFlag(dir: string, cwd: string = process.cwd()): string {
  return resolve(dir) === resolve(cwd, DEFAULT_STORE) ? '' : ` --store ${shellArg(resolve(dir))}`;
}

/**
 * `mvm lock --update` for the configuration at `configPath`: naming it unless it is the
 * `mvm.yaml` of the current folder, where `mvm lock` looks by default.
 */
export function lockUpdateCommand(configPath: string | null, cwd = process.cwd()): string {
  const here = !configPath || resolve(configPath) === resolve(cwd, 'mvm.yaml');
  return `mvm lock${here ? '' : ` ${shellArg(resolve(configPath))}`} --update`;
}
