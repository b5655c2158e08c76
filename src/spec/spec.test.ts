import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { specMarkdown } from './docs.js';
import { OPCODE_NAMES, OPCODES } from './opcodes.js';
import { imageSchema } from './schema.js';
import { VERIFY_CODES } from './verify-codes.js';

const root = join(import.meta.dirname, '..', '..');

describe('the opcode table', () => {
  it('covers every family of the design', () => {
    const families = new Set(OPCODE_NAMES.map((op) => OPCODES[op].family));
    expect([...families].sort()).toEqual(
      ['control', 'data', 'memory', 'model', 'parse', 'tool', 'user'].sort(),
    );
  });

  it('gives the image schema one definition per opcode, with its required operands', () => {
    const defs = imageSchema().definitions as Record<string, { required: string[] }>;
    for (const op of OPCODE_NAMES) {
      const required = Object.entries(OPCODES[op].operands)
        .filter(([, o]) => !('optional' in o && o.optional))
        .map(([name]) => name);
      expect(defs[`op:${op}`]?.required).toEqual(['op', ...required]);
    }
  });

  it('names every monitored opcode with a resource', () => {
    for (const op of OPCODE_NAMES) {
      const spec = OPCODES[op];
      if (spec.effect === 'model' && op !== 'model.load')
        expect(spec.permission).toMatch(/^model:/);
      if (spec.effect === 'user') expect(spec.permission).toBe('user');
    }
  });
});

describe('docs/spec.md', () => {
  it('is the text generated from the table (run npm run docs after changing it)', () => {
    expect(readFileSync(join(root, 'docs', 'spec.md'), 'utf8')).toBe(specMarkdown());
  });

  it('lists every issue code the verifier reports', () => {
    const dir = join(root, 'src', 'verifier');
    const used = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts') && !n.includes('.test.'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/code: '([a-z_]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/this\.issue\(\s*'([a-z_]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/\n\s+'([a-z_]+)',\n\s+at,/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(10);
    for (const code of used) expect(Object.keys(VERIFY_CODES)).toContain(code);
  });
});
