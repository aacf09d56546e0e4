import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, type BrowserHandle } from './support/browser.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { ROOT } from './support/process.ts';

/**
 * The public demos' adapter sets in Chromium, with the official web client and small pages
 * (test/demo-pages/) that subscribe and send messages as the demos' own front-ends do. The pages are
 * served under the origin's address, as a demo deployed beside its server would be.
 */

let origin: OriginHandle;
let browser: BrowserHandle;

beforeAll(async () => {
  [origin, browser] = await Promise.all([startOrigin({ SHARD_ID: 'uid1' }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await origin?.stop();
});

async function openPage(name: string): Promise<Page> {
  const page = await browser.newPage();
  const html = readFileSync(path.join(ROOT, 'test', 'demo-pages', `${name}.html`), 'utf8');
  await page.route(`${origin.url}/demo-pages/${name}.html`, (route) => route.fulfill({ contentType: 'text/html; charset=utf-8', body: html }));
  await page.goto(`${origin.url}/demo-pages/${name}.html`);
  return page;
}

describe('demo front-ends in a browser', () => {
  test('StockList (full): every row fills, item_status active', async () => {
    const page = await openPage('stocklist');
    await expect.poll(() => page.locator('tr.active').count(), { timeout: 15_000 }).toBe(30);
    expect(await page.textContent('tr[data-item="item7"] [data-field="item_status"]')).toBe('active');
    expect(await page.textContent('tr[data-item="item7"] [data-field="stock_name"]')).toMatch(/\S/);
    expect(await page.evaluate(() => (window as unknown as { errors: string[] }).errors)).toEqual([]);
  });

  test('Chat: a line comes back signed with the browser’s User-Agent and address', async () => {
    const [writer, reader] = [await openPage('chat'), await openPage('chat')];
    const text = `hello from chromium ${Date.now()}`;
    await writer.fill('#user_message', text);
    await writer.click('#send button');
    const userAgent = await writer.evaluate(() => navigator.userAgent);
    for (const page of [writer, reader]) {
      const line = page.locator('#messages li', { hasText: text });
      await line.waitFor({ timeout: 15_000 });
      expect(await line.locator('.messageIP').textContent()).toBe('127.0.0.1');
      // Other sessions of this browser (earlier pages, the reader) may hold the bare name: ` [n]` then.
      const nick = (await line.locator('.messageNick').textContent())!;
      expect(nick.startsWith(userAgent) && /^( \[\d+\])?$/.test(nick.slice(userAgent.length))).toBe(true);
    }
  });

  test('Full Portfolio: rows carry their quotes, and the order log shows each order’s outcome', async () => {
    const page = await openPage('portfolio');
    await expect.poll(() => page.locator('#portfolio tr').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#portfolio tr [data-field="last_price"]:empty').count(), { timeout: 15_000 }).toBe(0);
    await page.selectOption('#stockN', 'item30');
    await page.fill('#qtyN', '300');
    await page.click('#buy');
    await expect.poll(() => page.textContent('#orders tr[data-prog="1"] .status'), { timeout: 15_000 }).toBe('SUBMITTED');
    await expect.poll(() => page.textContent('#portfolio tr[data-key="item30"] [data-field="qty"]'), { timeout: 15_000 }).toBe('300');
    await page.evaluate(() => {
      // An order for a stock the demo does not have: the log shows the refusal.
      (document.getElementById('stockN') as HTMLSelectElement).append(new Option('item99', 'item99', true, true));
    });
    await page.click('#buy');
    await expect.poll(() => page.textContent('#orders tr[data-prog="2"] .status'), { timeout: 15_000 }).toBe('DENY');
    await page.selectOption('#stockN', 'item30');
    await page.click('#sell');
    await expect.poll(() => page.textContent('#orders tr[data-prog="3"] .status'), { timeout: 15_000 }).toBe('SUBMITTED');
    await expect.poll(() => page.locator('#portfolio tr[data-key="item30"]').count(), { timeout: 15_000 }).toBe(0);
  });

  test('JSON Patch Portfolio: the json field is the whole portfolio, updated by an order', async () => {
    const page = await openPage('json-portfolio');
    type Doc = { portfolio1: Array<{ symbol: string; quantity: number }> };
    const docs = () => page.evaluate(() => (window as unknown as { documents: Doc[] }).documents);
    await expect.poll(async () => (await docs()).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const [first] = await docs();
    const symbol = first.portfolio1[0].symbol;
    const quantity = first.portfolio1[0].quantity;
    await page.evaluate((s) => (window as unknown as { order(m: string): void }).order(`BUY|portfolio1|${s}|100`), symbol);
    await expect
      .poll(async () => (await docs()).at(-1)!.portfolio1.find((h) => h.symbol === symbol)?.quantity, { timeout: 15_000 })
      .toBe(quantity + 100);
  });
});
