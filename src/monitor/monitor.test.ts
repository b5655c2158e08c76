import { describe, expect, it } from 'vitest';
import type { Label } from '../labels/label.js';
import { patternsOverlap, resourceMatches } from '../spec/resources.js';
import { Monitor, type Rule } from './monitor.js';

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

  it('overlap when some resource matches both, wildcards on either side', () => {
    const both: Array<[string, string, boolean]> = [
      ['tool:*/send', 'tool:mail/*', true],
      ['tool:*/send', 'tool:mail/read_*', false],
      ['tool:mail/send', 'tool:mail/send', true],
      ['tool:mail/send', 'tool:mail/sent', false],
      ['tool:*', 'tool:fs/read_file', false],
      ['tool:*', 'tool:**', true],
      ['fs:/srv/**/a.md', 'fs:/srv/x/*', true],
      ['fs:/srv/*/a.md', 'fs:/srv/x/y/*', false],
      ['net:*.example.test/**', 'net:api.*/v1', true],
      ['**', 'user', true],
      ['tool:a*', 'tool:*b', true],
      ['model:main', 'model:*2', false],
    ];
    for (const [a, b, want] of both) {
      expect([a, b, patternsOverlap(a, b)]).toEqual([a, b, want]);
      expect([b, a, patternsOverlap(b, a)]).toEqual([b, a, want]);
    }
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

  it('asks for confirmation where a confirm rule matches, below deny and above allow', () => {
    const m = new Monitor([
      { allow: 'tool:mail/*' },
      { confirm: 'tool:mail/send' },
      { deny: 'tool:mail/purge' },
    ]);
    expect(m.decide({ resource: 'tool:mail/read' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'tool:mail/send' })).toMatchObject({
      verdict: 'confirm',
      rule: 'rules[1]: confirm tool:mail/send',
    });
    expect(m.decide({ resource: 'tool:mail/purge' }).verdict).toBe('deny');
    m.grantForRun('tool:mail/send');
    m.grantForRun('tool:mail/purge');
    expect(m.decide({ resource: 'tool:mail/send' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'tool:mail/purge' }).verdict).toBe('deny');
  });

  it('applies a rule with a mode only to requests of that mode', () => {
    const m = new Monitor([
      { allow: 'fs:/data/**', mode: 'read' },
      { confirm: 'fs:/data/**', mode: 'write' },
    ]);
    expect(m.decide({ resource: 'fs:/data/a.md', mode: 'read' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'fs:/data/a.md', mode: 'write' }).verdict).toBe('confirm');
    expect(m.decide({ resource: 'fs:/data/a.md', mode: 'execute' }).verdict).toBe('deny');
    expect(m.decide({ resource: 'fs:/data/a.md' }).verdict).toBe('deny');
  });

  it('decides a request of several modes by the strictest, so it needs each one granted', () => {
    const m = new Monitor([
      { allow: 'tool:fs/*' },
      { deny: 'tool:fs/*', mode: 'read' },
      { allow: 'fs:/data/**', mode: 'read' },
      { confirm: 'fs:/data/**', mode: 'write' },
    ]);
    // Read-only rules alone cannot let a call through that also writes, nor lift a deny.
    const both = ['read', 'write'] as const;
    expect(m.decide({ resource: 'fs:/data/a.md', mode: 'read' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'fs:/data/a.md', mode: both })).toMatchObject({
      verdict: 'confirm',
      reason: "'fs:/data/a.md' needs a person's confirmation (as a write call)",
    });
    expect(m.decide({ resource: 'fs:/other', mode: both }).verdict).toBe('deny');
    expect(m.decide({ resource: 'tool:fs/read_file', mode: 'write' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'tool:fs/read_file', mode: both }).verdict).toBe('deny');
  });

  it('keeps a deny in force when its expiry cannot be read', () => {
    const m = new Monitor([{ allow: 'tool:fs/*' }, { deny: 'tool:fs/write', until: '2099-13-45' }]);
    expect(m.decide({ resource: 'tool:fs/write' }).verdict).toBe('deny');
  });

  it('ignores a rule past its expiry', () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const m = new Monitor([{ allow: 'tool:fs/*', until: '2026-01-02T00:00:00Z' }], undefined, {
      now: () => now,
    });
    expect(m.decide({ resource: 'tool:fs/read' }).verdict).toBe('allow');
    now = Date.parse('2026-01-03T00:00:00Z');
    expect(m.decide({ resource: 'tool:fs/read' })).toMatchObject({ verdict: 'deny', rule: null });
    expect(m.grants('tool:fs/*')).toBe(false);
  });

  it('allows nothing the image does not request, whatever the rules say', () => {
    const m = new Monitor([{ allow: 'tool:**' }], ['tool:fs/read_*']);
    expect(m.decide({ resource: 'tool:fs/read_file' }).verdict).toBe('allow');
    expect(m.decide({ resource: 'tool:fs/write_file' })).toMatchObject({
      verdict: 'deny',
      reason: "the image does not request 'tool:fs/write_file'",
    });
  });

  it('tells which requests no rule grants any part of', () => {
    const m = new Monitor([
      { allow: 'tool:fs/read_*' },
      { deny: 'tool:web/*' },
      { confirm: 'user' },
    ]);
    expect(m.grants('tool:fs/*')).toBe(true);
    expect(m.grants('tool:fs/read_file')).toBe(true);
    expect(m.grants('tool:web/*')).toBe(false);
    expect(m.grants('user')).toBe(true);
    expect(m.grants('model:main')).toBe(false);
  });

  it('decides through its rule index exactly as a scan of every rule would', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const parts = ['tool:a/', 'tool:b/', 'mem:', 'model:', 'tool:', ''];
    const names = ['x', 'read_x', 'write', 'a/x', '*', '**', 'read_*', 'main'];
    const pattern = () => `${parts[rand(parts.length)]}${names[rand(names.length)]}`;
    const kinds = ['allow', 'deny', 'confirm'] as const;
    for (let round = 0; round < 200; round++) {
      const rules = Array.from({ length: 1 + rand(12) }, () => ({
        [kinds[rand(3)]!]: pattern(),
      })) as unknown as Rule[];
      const m = new Monitor(rules);
      for (let k = 0; k < 20; k++) {
        const resource = pattern().replaceAll('*', 'z');
        const matching = rules
          .map((r) => Object.entries(r)[0] as [string, string])
          .filter(([, p]) => resourceMatches(p, resource))
          .map(([v]) => v);
        const expected = matching.includes('deny')
          ? 'deny'
          : matching.includes('confirm')
            ? 'confirm'
            : matching.includes('allow')
              ? 'allow'
              : 'deny';
        expect(m.decide({ resource }).verdict, `${JSON.stringify(rules)} ${resource}`).toBe(
          expected,
        );
      }
    }
  });
});

describe('flow rules in the monitor', () => {
  const untrusted: Label = {
    readers: ['ann'],
    integrity: 'untrusted',
    sources: ['tool:web/get#1'],
  };
  const write = { consequential: true, recipients: 'public' } as const;

  it('apply only to requests that say what they carry', () => {
    const m = new Monitor([{ allow: 'tool:**' }]);
    const request = { resource: 'tool:mail/send', context: untrusted } as const;
    expect(m.decide(request).verdict).toBe('allow');
    expect(m.decide({ ...request, sink: write })).toMatchObject({
      verdict: 'deny',
      rule: 'flow.untrusted: deny',
    });
  });

  it('take the strictest of the rules and the flow findings', () => {
    const flow = { untrusted: 'confirm', readers: 'allow' } as const;
    const request = { resource: 'tool:mail/send', context: untrusted, sink: write } as const;
    expect(new Monitor([{ allow: 'tool:**' }], undefined, { flow }).decide(request)).toMatchObject({
      verdict: 'confirm',
      rule: 'flow.untrusted: confirm',
    });
    const denied = new Monitor([{ deny: 'tool:**' }], undefined, { flow }).decide(request);
    expect(denied).toMatchObject({ verdict: 'deny', rule: 'rules[0]: deny tool:**' });
    const both = new Monitor([{ allow: 'tool:**' }]).decide(request);
    expect(both.rule).toBe('flow.untrusted: deny');
  });

  it('are not lifted by an allow for the rest of the run', () => {
    const m = new Monitor([{ confirm: 'tool:**' }], undefined, {
      flow: { untrusted: 'confirm', readers: 'allow' },
    });
    m.grantForRun('tool:mail/send');
    const trusted = { ...untrusted, integrity: 'trusted', readers: 'public' } as const;
    const request = { resource: 'tool:mail/send', sink: write } as const;
    expect(m.decide({ ...request, context: trusted }).verdict).toBe('allow');
    expect(m.decide({ ...request, context: untrusted }).verdict).toBe('confirm');
  });

  it('let a read from an untrusted context through, but not to a reader it may not reach', () => {
    const m = new Monitor([{ allow: 'tool:**' }]);
    const read = { consequential: false, recipients: ['ann'] } as const;
    const request = { resource: 'tool:web/get', context: untrusted } as const;
    expect(m.decide({ ...request, sink: read }).verdict).toBe('allow');
    expect(m.decide({ ...request, sink: { ...read, recipients: ['ann', 'eve'] } })).toMatchObject({
      verdict: 'deny',
      rule: 'flow.readers: deny',
    });
  });
});

describe('argument constraints', () => {
  const to = (address: string) => ({ to: address, body: 'hi' });
  const ours = {
    type: 'object',
    properties: { to: { type: 'string', pattern: '@example\\.test$' } },
  };

  it('apply an allow to the calls whose arguments meet its schema only', () => {
    const m = new Monitor([{ allow: 'tool:mail/send', args: ours }]);
    const request = { resource: 'tool:mail/send' };
    expect(m.decide({ ...request, args: to('ann@example.test') })).toMatchObject({
      verdict: 'allow',
      rule: 'rules[0]: allow tool:mail/send (with these arguments)',
    });
    expect(m.decide({ ...request, args: to('eve@evil.test') })).toMatchObject({
      verdict: 'deny',
      rule: null,
    });
    expect(m.decide(request).verdict).toBe('deny');
  });

  it('aim a deny at some arguments, leaving the others to the allow', () => {
    const m = new Monitor([
      { allow: 'tool:web/fetch' },
      {
        deny: 'tool:web/fetch',
        args: { properties: { url: { type: 'string', pattern: '^https?://(127\\.|localhost)' } } },
        reason: 'no loopback fetches',
      },
    ]);
    const fetch = (url: string) => m.decide({ resource: 'tool:web/fetch', args: { url } });
    expect(fetch('https://docs.example.test/a').verdict).toBe('allow');
    expect(fetch('http://127.0.0.1:8080/admin')).toMatchObject({
      verdict: 'deny',
      reason: 'no loopback fetches',
    });
  });

  it('grant at load a request whose pattern shares a resource with a rule’s', () => {
    const m = new Monitor([{ allow: 'tool:*/send' }, { deny: 'tool:web/*' }]);
    expect(m.grants('tool:mail/*')).toBe(true);
    expect(m.grants('tool:mail/read_*')).toBe(false);
    expect(m.grants('tool:web/fetch')).toBe(false);
  });

  it('still grant their resource at load, since some arguments may pass', () => {
    const m = new Monitor([{ allow: 'tool:mail/send', args: ours }]);
    expect(m.grants('tool:mail/*')).toBe(true);
  });
});
