import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Gives the tests one temporary folder, under which every folder they make goes (the
 * processes they start too, through TMPDIR), and removes it when they end: a test that
 * leaves its stores behind leaves nothing on the machine.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'mvm-tests-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
