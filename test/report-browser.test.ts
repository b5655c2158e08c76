// The report as a browser shows it: Debian's Chromium, driven by playwright-core, on files
// written by `mvm report`. Nothing is served: the pages load from file:// URLs.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostileRun } from '../src/server/test-helpers/hostile.js';
import { RunStore } from '../src/store/store.js';
import { launchChromium } from './browser.js';
import { mvm, root } from './cli.js';

const artifacts = join(root, 'test-artifacts');

/** The one browser global the tests ask for; the project's types leave out the DOM's. */
interface Styled {
  getComputedStyle(e: unknown): { backgroundColor: string };
}

let scratch: string;
let browser: Browser;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'mvm-report-browser-'));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** A page on the report, with what the page logged: errors, and policy violations. */
async function open(path: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  // Only the file itself may be fetched: a report that reached for anything else would fail.
  await page.route('**/*', (route) =>
    route.request().url() === pathToFileURL(path).href ? route.continue() : route.abort(),
  );
  page.on('request', (r) => {
    if (r.url() !== pathToFileURL(path).href) problems.push(`request: ${r.url()}`);
  });
  await page.goto(pathToFileURL(path).href);
  return { page, problems };
}

describe('the report of the notes example, in Chromium', () => {
  let store: string;
  let report: string;
  let page: Page;
  let problems: string[];
  let effects: number;

  beforeAll(async () => {
    store = join(scratch, 'store');
    const ran = await mvm('run', join(root, 'examples/notes'), '--store', store, '--json');
    expect(ran.code).toBe(0);
    const { runId } = JSON.parse(ran.out) as { runId: string };
    const written = await mvm('report', runId, '--store', store);
    expect(written.code).toBe(0);
    report = written.out;
    expect(report).toBe(join(store, 'runs', runId, 'report.html'));

    const s = RunStore.open(store);
    try {
      // One effect per intent or lone effect entry; decisions and outcomes join their effect.
      const heads = ['run.', 'tool.load', 'model.intent', 'tool.intent', 'tool.refused', 'user.'];
      effects = s.entries(runId).filter((e) => heads.some((h) => e.type.startsWith(h))).length;
    } finally {
      s.close();
    }
    ({ page, problems } = await open(report));
  });

  it('renders one visible timeline row per effect of the journal', async () => {
    const rows = page.locator('#timeline > li');
    expect(effects).toBeGreaterThan(10);
    expect(await rows.count()).toBe(effects);
    for (let i = 0; i < effects; i++) {
      const box = await rows.nth(i).boundingBox();
      expect(box?.height ?? 0).toBeGreaterThan(20);
    }
    expect(await page.locator('#timeline > li.f-model').count()).toBe(5);
  });

  it('shows the denied write as a deny badge, and its rule when opened', async () => {
    const denied = page.locator('#timeline > li.has-deny');
    const summary = denied.locator(':scope > details > summary');
    expect(await denied.count()).toBe(1);
    expect(await summary.textContent()).toContain('fs/write_file');
    const badge = summary.locator('.badge.b-deny', { hasText: /^deny$/ });
    expect(await badge.isVisible()).toBe(true);
    // The function runs in the page: it can name nothing of this module but types.
    const colour = await badge.evaluate(
      (b) => (globalThis as unknown as Styled).getComputedStyle(b).backgroundColor,
    );
    expect(colour).toBe('rgb(255, 235, 233)');

    const rule = denied.locator('.decision', { hasText: 'rules[3]: deny tool:fs/write_file' });
    expect(await rule.isVisible()).toBe(false);
    await summary.click();
    expect(await rule.isVisible()).toBe(true);
    expect(await rule.textContent()).toContain('the notes folder is read-only for this agent');
  });

  it("runs its own script under the page's policy: the filters work", async () => {
    const visible = () =>
      page.locator('#timeline > li').evaluateAll((els) => els.filter((e) => e.clientHeight > 0));
    await page.locator('button[data-show="tool"]').click();
    expect((await visible()).length).toBe(5);
    await page.locator('button[data-show="denied"]').click();
    expect((await visible()).length).toBe(1);
    await page.locator('button[data-show="all"]').click();
    expect((await visible()).length).toBe(effects);
  });

  it('shows the manifest: tokens, budget, head hash and signature state', async () => {
    expect(await page.locator('#models').textContent()).toMatch(/3,523\s+tokens/);
    expect(await page.locator('#budget').textContent()).toMatch(/modelCalls\s*5 \/ 10/);
    const journal = await page.locator('#journal').textContent();
    expect(journal).toContain('verifies');
    expect(journal).toContain('matches the journal');
    expect(journal).toContain('unsigned');
  });

  it('logs no error, fetches nothing, and leaves a screenshot', async () => {
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});

describe('the report of a journal made to attack it, in Chromium', () => {
  it('shows the scripts it holds as text, and runs none of them', async () => {
    const dir = join(scratch, 'hostile');
    const s = RunStore.open(dir);
    const id = hostileRun(s);
    s.close();
    const written = await mvm('report', id, '--store', dir);
    const { page, problems } = await open(written.out);

    await page.locator('#expand').click();
    expect(await page.evaluate('window.pwned')).toBeUndefined();
    expect(await page.locator('script').count()).toBe(1);
    expect(await page.locator('img, iframe, u, x, fine').count()).toBe(0);
    expect(await page.locator('svg:not(.bar)').count()).toBe(0);
    expect(await page.locator('[onmouseover], [onerror], [onload]').count()).toBe(0);
    const result = page.locator('pre', { hasText: '<script>window.pwned=15</script>' });
    expect(await result.first().isVisible()).toBe(true);
    expect(await page.title()).toContain('</title><script>window.pwned=1</script>');
    expect(problems).toEqual([]);
  });
});
