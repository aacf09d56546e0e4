import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './process.ts';

/** Debian's package; `.ci/run` installs it. Overridable for machines that keep Chromium elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(ROOT, 'test-artifacts');

export interface BrowserHandle {
  readonly context: BrowserContext;
  /** A new page whose console errors and uncaught exceptions are collected in `problems`. */
  newPage(): Promise<Page>;
  /** Uncaught page exceptions and console errors seen so far, for assertions and failure reports. */
  readonly problems: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with a fresh profile and nothing that phones home: the machines that run the
 * tests have no internet, and a background update or sync request would only add noise or hangs.
 */
export async function launchBrowser(): Promise<BrowserHandle> {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'edgepush-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1440, height: 960 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const problems: string[] = [];
  return {
    context,
    problems,
    async newPage() {
      const page = await context.newPage();
      page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Keeps a full-page screenshot in test-artifacts/ (gitignored; CI uploads it). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Resolves once the origin dashboard open in `page` has drawn at least `samples` samples: a data
 * answer carries them, and the page asks for the next one only after drawing the last.
 */
export async function chartsDrawn(page: Page, samples: number): Promise<void> {
  const isData = (url: string) => new URL(url).pathname.endsWith('/dashboard/data');
  const enough = async (body: Promise<unknown>) => {
    try {
      return ((await body) as { samples: unknown[] }).samples.length >= samples;
    } catch {
      return false;
    }
  };
  await page.waitForResponse(async (res) => isData(res.url()) && (await enough(res.json())), { timeout: 20_000 });
  await page.waitForRequest((req) => isData(req.url()), { timeout: 20_000 });
}
