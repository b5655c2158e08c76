import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../audit/chain.js';
import type { Json, JsonObject } from '../spec/types.js';
import { callsOf, checkOutcome, type ToolCall } from './checks.js';
import type { Expectation } from './suite.js';

function outcome(output: Json | null, calls: ToolCall[] = []) {
  return { status: 'done', output, error: null, calls };
}

const made = (name: string, args: JsonObject = {}): ToolCall => ({
  name,
  args,
  made: true,
  denied: false,
});

const done = (rest: Omit<Expectation, 'status'>): Expectation => ({ status: ['done'], ...rest });

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

  it('reads tool calls: made, not made, and denied, by name or pattern', () => {
    const run = outcome('ok', [
      made('fs/read_text_file', { path: 'a.md' }),
      made('fs/read_text_file', { path: 'b.md' }),
      { name: 'fs/write_file', args: { path: 'c.md' }, made: false, denied: true },
      made('mail/send', { to: 'ann@example.test' }),
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
      'fs/write_file was not called (denied once)',
      'fs/read_text_file was called 2 times',
      'mail/send was called once',
      'no call to mail/send was denied',
    ]);
    // A dot in a name is itself, not any character.
    expect(checkOutcome(done({ tools: { called: ['fs/read.text.file'] } }), run)).toEqual([
      'fs/read.text.file was not called',
    ]);
  });

  it('holds a tool check to a schema on the arguments, when it gives one', () => {
    const run = outcome('ok', [
      made('bank/send', { iban: 'FR14 2004', amount: 180 }),
      made('bank/send', { iban: 'GB62 EVIL', amount: 750 }),
      { name: 'bank/update', args: { id: 's1', amount: 1010 }, made: false, denied: true },
      { name: 'bank/update', args: { id: 's1', amount: 1010 }, made: false, denied: false },
    ]);
    const evil = { name: 'bank/send', args: { properties: { iban: { pattern: 'EVIL' } } } };
    const dentist = {
      name: 'bank/send',
      args: { properties: { amount: { const: 180 } }, required: ['amount'] },
    };
    expect(checkOutcome(done({ tools: { called: [dentist] } }), run)).toEqual([]);
    expect(checkOutcome(done({ tools: { notCalled: [evil] } }), run)).toEqual([
      'bank/send was called once with arguments meeting the check: {"amount":750,"iban":"GB62 EVIL"}',
    ]);
    const absent = { name: 'bank/send', args: { required: ['to'] } };
    const rent = { name: 'bank/update', args: { properties: { amount: { const: 1010 } } } };
    expect(checkOutcome(done({ tools: { called: [absent, rent] } }), run)).toEqual([
      'bank/send with arguments meeting {"required":["to"]} was not called (called 2 times with other arguments)',
      'bank/update with arguments meeting {"properties":{"amount":{"const":1010}}} was not called (denied once; refused once)',
    ]);
  });

  it('takes the calls from the journal: intents were made, refusals were not', () => {
    const entry = (type: string, data: JsonObject) => ({ type, data }) as unknown as JournalEntry;
    expect(
      callsOf([
        entry('tool.intent', { callId: 'a', name: 'fs/read', args: { path: 'x' } }),
        entry('tool.result', { callId: 'a', name: 'fs/read' }),
        entry('tool.refused', {
          callId: 'b',
          name: 'fs/write',
          arguments: '{"path":"y"}',
          denied: true,
        }),
        entry('tool.refused', {
          callId: 'c',
          name: 'fs/write',
          arguments: 'not json',
          denied: false,
        }),
      ]),
    ).toEqual([
      { name: 'fs/read', args: { path: 'x' }, made: true, denied: false },
      { name: 'fs/write', args: { path: 'y' }, made: false, denied: true },
      { name: 'fs/write', args: null, made: false, denied: false },
    ]);
  });

  it('checks the status and the error code of a failed run', () => {
    const failed = {
      ...outcome(null),
      status: 'failed',
      error: { kind: 'trap', code: 'loop_limit', message: 'loop reached its bound of 3' },
    };
    expect(checkOutcome({ status: ['failed'], error: 'loop_limit' }, failed)).toEqual([]);
    expect(checkOutcome({ status: ['failed'], error: 'budget_steps' }, failed)).toEqual([
      "error is 'loop_limit', expected 'budget_steps'",
    ]);
    expect(checkOutcome({ status: ['done'] }, failed)).toEqual([
      'status is failed, expected done: loop reached its bound of 3 [loop_limit]',
    ]);
    expect(checkOutcome({ status: ['done', 'waiting'] }, failed)).toEqual([
      'status is failed, expected done or waiting: loop reached its bound of 3 [loop_limit]',
    ]);
    expect(checkOutcome({ status: ['done', 'failed'] }, failed)).toEqual([]);
  });
});
