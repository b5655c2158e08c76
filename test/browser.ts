import { type Browser, chromium } from 'playwright-core';

/**
 * Debian's Chromium, headless, as the browser tests use it. Background networking, sync and
 * component updates are off: this machine's network is closed, and a browser that tries it
 * anyway fills its log with refused connections.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
