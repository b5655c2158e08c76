import { describe, expect, it } from 'vitest';
import type { Manifest } from '../audit/manifest.js';
import type { Json } from '../spec/types.js';
import { checkOutcome } from './checks.js';
import type { Expectation } from './suite.js';

function outcome(output: Json | null, tools: Partial<Manifest['tools'][number]>[] = []) {
  const manifest = {
    tools: tools.map((t) => ({
      name: '',
      calls: 0,
      errors: 0,
      refused: 0,
      denied: 0,
      ms: 0,
      ...t,
    })),
  } as Manifest;
  return { status: 'done', output, error: null, manifest };
}

const done = (rest: Omit<Expectation, 'status'>): Expectation => ({ status: 'done', ...rest });

describe('the checks of an expected outcome', () => {
  it('compares JSON outputs whatever their key order, and reads their text as canonical JSON', () => {
    const out = { b: [1, 2], a: 'x' };
    expect(checkOutcome(done({ output: { equals: { a: 'x', b: [1, 2] } } }), outcome(out))).toEqual(
      [],
    );
    expect(checkOutcome(done({ output: { equals: { a: 'y' } } }), outcome(out))).toEqual([
      'output is "{\\"a\\":\\"x\\",\\"b\\":[1,2]}", expected "{\\"a\\":\\"y\\"}"',
    ]);
    expect(checkOutcome(done({ output: { contains: '"a":"x"' } }), outcome(out))).toEqual([]);
    expect(checkOutcome(done({ output: { matches: '^\\{"a"' } }), outcome(out))).toEqual([]);
  });

  it('says each text that is missing, and what a schema found wrong', () => {
    const found = checkOutcome(
      done({ output: { contains: ['card', 'dentist', 'bakery'], schema: { type: 'number' } } }),
      outcome('Renew the card, then the dentist.'),
    );
    expect(found).toEqual([
      "output does not contain 'bakery'",
      'output does not meet its schema: (root) must be number',
    ]);
    expect(checkOutcome(done({ output: { contains: 'x' } }), outcome(null))).toEqual([
      'there is no output',
    ]);
    expect(checkOutcome(done({ output: { equals: null } }), outcome(null))).toEqual([]);
  });

  it('reads tool calls from the manifest: made, not made, and denied, by name or pattern', () => {
    const run = outcome('ok', [
      { name: 'fs/read_text_file', calls: 2 },
      { name: 'fs/write_file', calls: 0, refused: 1, denied: 1 },
      { name: 'mail/send', calls: 1, errors: 1 },
    ]);
    expect(
      checkOutcome(
        done({
          tools: {
            called: ['fs/read_*', 'mail/send'],
            notCalled: ['fs/write_file', 'memory/*'],
            denied: ['fs/write_file'],
          },
        }),
        run,
      ),
    ).toEqual([]);
    expect(
      checkOutcome(
        done({
          tools: {
            called: ['fs/write_file'],
            notCalled: ['*/read_*', 'mail/*'],
            denied: ['mail/send'],
          },
        }),
        run,
      ),
    ).toEqual([
      'fs/write_file was not called',
      'fs/read_text_file was called 2 times',
      'mail/send was called once',
      'no call to mail/send was denied',
    ]);
    // A dot in a name is itself, not any character.
    expect(checkOutcome(done({ tools: { called: ['fs/read.text.file'] } }), run)).toEqual([
      'fs/read.text.file was not called',
    ]);
  });

  it('checks the status and the error code of a failed run', () => {
    const failed = {
      ...outcome(null),
      status: 'failed',
      error: { kind: 'trap', code: 'loop_limit', message: 'loop reached its bound of 3' },
    };
    expect(checkOutcome({ status: 'failed', error: 'loop_limit' }, failed)).toEqual([]);
    expect(checkOutcome({ status: 'failed', error: 'budget_steps' }, failed)).toEqual([
      "error is 'loop_limit', expected 'budget_steps'",
    ]);
    expect(checkOutcome({ status: 'done' }, failed)).toEqual([
      'status is failed, expected done: loop reached its bound of 3 [loop_limit]',
    ]);
  });
});
