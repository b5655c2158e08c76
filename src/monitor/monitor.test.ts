import { describe, expect, it } from 'vitest';
import { resourceMatches } from '../spec/resources.js';
import { Monitor } from './monitor.js';

describe('resource patterns', () => {
  it('match within a segment with * and across segments with **', () => {
    expect(resourceMatches('tool:fs/*', 'tool:fs/read_file')).toBe(true);
    expect(resourceMatches('tool:fs/read_*', 'tool:fs/write_file')).toBe(false);
    expect(resourceMatches('tool:*', 'tool:fs/read_file')).toBe(false);
    expect(resourceMatches('tool:**', 'tool:fs/read_file')).toBe(true);
    expect(resourceMatches('mem:notes/**', 'mem:notes/a/b')).toBe(true);
    expect(resourceMatches('model:main', 'model:main2')).toBe(false);
    expect(resourceMatches('tool:fs/a.b', 'tool:fs/aXb')).toBe(false);
  });
});

describe('the reference monitor', () => {
  it('denies by default, naming no rule', () => {
    const d = new Monitor([]).decide({ resource: 'tool:fs/read_file' });
    expect(d).toMatchObject({ verdict: 'deny', rule: null });
    expect(d.reason).toContain('tool:fs/read_file');
  });

  it('lets a matching deny win over any allow, wherever it stands', () => {
    const m = new Monitor([
      { allow: 'tool:fs/*' },
      { deny: 'tool:fs/write_*', reason: 'read-only' },
      { allow: 'tool:fs/write_file' },
    ]);
    expect(m.decide({ resource: 'tool:fs/read_file' })).toMatchObject({
      verdict: 'allow',
      rule: 'rules[0]: allow tool:fs/*',
    });
    expect(m.decide({ resource: 'tool:fs/write_file' })).toMatchObject({
      verdict: 'deny',
      rule: 'rules[1]: deny tool:fs/write_*',
      reason: 'read-only',
    });
  });

  it('decides model slots and the user as resources like any other', () => {
    const m = new Monitor([{ allow: 'model:main' }, { allow: 'user' }]);
    expect(m.decide({ resource: 'model:main' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'model:other' }).verdict).toBe('deny');
    expect(m.decide({ resource: 'user' }).verdict).toBe('allow');
  });
});
