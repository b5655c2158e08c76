import { describe, expect, it } from 'vitest';
import { tellingLines } from './stderr.js';

describe("what a server's stderr says", () => {
  it('gives the first line that reads as an error, and the last', () => {
    const node = [
      'node:internal/modules/cjs/loader:1228',
      '  throw err;',
      '  ^',
      '',
      "Error: Cannot find module '/srv/nope.js'",
      '    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)',
      '{',
      "  code: 'MODULE_NOT_FOUND',",
      '}',
      '',
      'Node.js v20.20.2',
    ];
    expect(tellingLines(node)).toBe("Error: Cannot find module '/srv/nope.js' … Node.js v20.20.2");
  });

  it('gives the last line alone when it is the error, or when none reads as one', () => {
    expect(
      tellingLines(['Traceback (most recent call last):', 'x', 'ModuleNotFoundError: y']),
    ).toBe('ModuleNotFoundError: y');
    expect(tellingLines(['starting', 'bye'])).toBe('bye');
    expect(tellingLines(['', '  '])).toBeUndefined();
  });

  it('prefers an error line seen before the tail was cut', () => {
    expect(tellingLines(['    at f', 'Node.js v20'], 'Error: boom')).toBe(
      'Error: boom … Node.js v20',
    );
  });

  it('bounds each line', () => {
    const said = tellingLines([`Error: ${'x'.repeat(1000)}`, 'end']);
    expect(said!.length).toBeLessThan(220);
    expect(said).toMatch(/… end$/);
  });
});
