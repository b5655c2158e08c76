// The page of `mvm serve` as a person uses it: Debian's Chromium, driven by playwright-core,
// on a server bound to an ephemeral loopback port. The page may fetch from its own server
// only; anything else is aborted and counted as a problem.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mailerServer } from '../src/server/test-helpers/mailer.js';
import { launchChromium } from './browser.js';
import { root } from './cli.js';

const artifacts = join(root, 'test-artifacts');

let scratch: string;
let browser: Browser;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-serve-browser-'));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A page on the server, with what it logged: errors, policy violations, foreign requests. */
async function open(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const origin = new URL(url).origin;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.route('**/*', (route) => {
    if (new URL(route.request().url()).origin === origin) return route.continue();
    problems.push(`request: ${route.request().url()}`);
    return route.abort();
  });
  await page.goto(url);
  return { page, problems };
}

describe('the page of mvm serve, in Chromium', () => {
  it('shows a waiting run; Approve runs the call once and the page shows it done', async () => {
    const s = await mailerServer(scratch, { to: 'ann@example.org' });
    try {
      const { page, problems } = await open(`${s.server.url}#token=${s.server.token}`);
      // The token leaves the address bar as soon as the page has it.
      expect(new URL(page.url()).hash).toBe('');

      const first = await s.start();
      const second = await s.start();
      const request = (runId: string) =>
        page.locator(`#waiting .request[data-run="${runId}"][data-id="c1"]`);
      await request(first.runId).waitFor();
      await request(second.runId).waitFor();
      const shown = await request(first.runId).textContent();
      expect(shown).toContain('mail/send');
      expect(shown).toContain('ann@example.org');
      expect(shown).toContain('rules[3]: confirm tool:mail/send');
      expect(shown).toContain('mail leaves');
      expect(await page.title()).toBe('(2) mvm serve');

      await request(first.runId).getByRole('button', { name: 'Approve' }).click();
      const row = page.locator(`#recent tr[data-run="${first.runId}"]`);
      await row.locator('.badge', { hasText: 'done' }).waitFor();
      expect(await row.locator('.output').textContent()).toBe('sent');
      await expect.poll(() => request(first.runId).count()).toBe(0);
      expect(await page.locator('#note').textContent()).toContain(
        `Approved c1 of run ${first.runId}`,
      );
      expect(s.calls).toEqual([{ to: 'ann@example.org' }]);

      // What a person types survives the page's refreshes.
      const reason = request(second.runId).locator('textarea');
      await reason.fill('not today');
      await page.waitForTimeout(1800);
      expect(await reason.inputValue()).toBe('not today');

      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'serve.png'), fullPage: true });

      await request(second.runId).getByRole('button', { name: 'Deny' }).click();
      const denied = page.locator(`#recent tr[data-run="${second.runId}"]`);
      await denied.locator('.badge', { hasText: 'done' }).waitFor();
      expect(s.calls).toHaveLength(1);
      const refused = s.mvm.store.entries(second.runId).find((e) => e.type === 'tool.refused');
      expect(refused?.data).toMatchObject({ reason: 'denied by a person: not today' });
      expect(await page.locator('#waiting').textContent()).toContain('No run waits');
      expect(problems).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('without the token, shows the runs read-only and offers no buttons', async () => {
    const s = await mailerServer(scratch);
    try {
      const { runId } = await s.start();
      await s.settled(runId);
      const { page, problems } = await open(s.server.url);
      const req = page.locator(`#waiting .request[data-run="${runId}"]`);
      await req.waitFor();
      expect(await page.locator('.readonly').isVisible()).toBe(true);
      expect(await req.getByRole('button', { name: 'Approve' }).isVisible()).toBe(false);
      expect(problems).toEqual([]);
    } finally {
      await s.close();
    }
  });

  it('shows markup a request carries as text, and runs none of it', async () => {
    const hostile = '<script>window.pwned=1</script><img src=x onerror=window.pwned=2>';
    const s = await mailerServer(scratch, { to: hostile });
    try {
      const { runId } = await s.start();
      await s.settled(runId);
      const { page, problems } = await open(`${s.server.url}#token=${s.server.token}`);
      const req = page.locator(`#waiting .request[data-run="${runId}"]`);
      await req.waitFor();
      // Let a refresh replace the list, as the script does every 1.5 s.
      await page.waitForTimeout(1700);
      expect(await req.locator('pre').textContent()).toContain(hostile);
      expect(await page.evaluate('window.pwned')).toBeUndefined();
      expect(await page.locator('script').count()).toBe(1);
      expect(await page.locator('img').count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
