// The CLI for tests: in this process with a capturing console, or as its own process.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Console, main } from '../src/cli/main.js';

const exec = promisify(execFile);
export const root = join(import.meta.dirname, '..');
const entry = join(import.meta.dirname, 'mvm-source.ts');
const argsOf = (args: string[]) => ['--import', 'tsx', entry, ...args];

/** `mvm ARGS` in this process; what it printed, joined by line. */
export async function mvm(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const con: Console = { out: (t) => out.push(t), err: (t) => err.push(t) };
  const code = await main(argv, con);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `mvm ARGS` as its own process, as a person would start it. */
export async function mvmProcess(...args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, argsOf(args), { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** `mvm ARGS` started in the background, for tests that stop it. */
export function spawnMvm(...args: string[]) {
  return spawn(process.execPath, argsOf(args), { cwd: root, stdio: 'ignore' });
}
