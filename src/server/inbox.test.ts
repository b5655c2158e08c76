import { describe, expect, it } from 'vitest';
import { inboxFragment } from './inbox.js';
import type { PendingView, RunSummary } from './views.js';

const waiting = (pending: PendingView): RunSummary => ({
  id: 'r1',
  image: 'mailer',
  status: 'waiting',
  createdAt: '2026-01-02T03:04:05.000Z',
  endedAt: null,
  entries: 9,
  pending: [pending],
  output: null,
  error: null,
});

const request: PendingView = {
  kind: 'confirm',
  request: 'tool',
  id: 'c1',
  resource: 'tool:mail/send',
  tool: 'mail/send',
  callId: 'a',
  args: { to: 'ann' },
  rule: 'rules[3]: confirm tool:mail/send',
  reason: "'tool:mail/send' needs a person's confirmation",
  at: 'procedures.main.body[2]',
  resources: [],
};

describe('a confirmation on the approval page', () => {
  it("shows the tool's hints as its server's claim, and nothing when it gave none", () => {
    const hinted = inboxFragment([
      waiting({ ...request, hints: { destructive: true, openWorld: true } }),
    ]).text;
    expect(hinted).toContain(
      '<dt>server says</dt><dd>destructive, open world <span class="muted">(its own claim, not checked)</span></dd>',
    );
    expect(inboxFragment([waiting(request)]).text).not.toContain('server says');
  });
});
