import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { chartsDrawn, launchBrowser, screenshot, type BrowserHandle } from './support/browser.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/** The demo page and the monitoring dashboard, served by one real origin, in a real browser. */

let origin: OriginHandle;
let browser: BrowserHandle;

beforeAll(async () => {
  [origin, browser] = await Promise.all([startOrigin({ SHARD_ID: 'ui1' }), launchBrowser()]);
});

afterAll(async () => {
  await browser?.close();
  await origin?.stop();
});

const lastPrices = (page: Page) =>
  page.$$eval('#quotes tbody tr', (rows) =>
    rows.map((tr) => tr.querySelector('[data-field="last_price"]')?.textContent ?? ''),
  );

async function openDemo(query = ''): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${origin.url}/${query}`);
  await page.waitForSelector('#connection[data-status^="CONNECTED:"]:not([data-status$="STREAM-SENSING"])');
  return page;
}

describe('demo page on an origin', () => {
  let page: Page;
  beforeAll(async () => {
    page = await openDemo();
  });

  test('shows the serving shard, the transport and the session status', async () => {
    await expect.poll(() => page.textContent('#server-name')).toBe('edgepush ui1');
    expect(await page.textContent('#transport')).toBe('WS-STREAMING');
    expect(await page.textContent('#session-id')).toMatch(/^ui1\./);
  });

  test('the stock list fills and prices move', async () => {
    await expect.poll(async () => (await lastPrices(page)).filter((p) => p !== '').length, { timeout: 10_000 }).toBe(30);
    expect(await page.textContent('#quotes tr[data-item="item1"] [data-field="stock_name"]')).not.toBe('item1');
    const before = await lastPrices(page);
    await expect
      .poll(async () => (await lastPrices(page)).filter((p, i) => p !== before[i]).length, { timeout: 10_000 })
      .toBeGreaterThan(0);
  });

  test('a chat message comes back with the sender address', async () => {
    const text = `hello from the browser ${Date.now()}`;
    await page.fill('#chat-text', text);
    await page.click('#chat-form button');
    const line = page.locator('#chat li', { hasText: text });
    await line.waitFor({ timeout: 10_000 });
    expect(await line.locator('.meta').textContent()).toContain('127.0.0.1');
  });

  test('a portfolio order changes the panel', async () => {
    const qtyOf = async () => Number((await page.locator('#portfolio tr[data-item="item5"] .qty').textContent({ timeout: 500 }).catch(() => '0')) ?? 0);
    // Let the COMMAND snapshot arrive first, so the starting quantity is the real one.
    await page.waitForSelector('#portfolio tbody tr');
    const before = await qtyOf();
    await page.selectOption('#order-item', 'item5');
    await page.fill('#order-qty', '7');
    await page.click('#order button.buy');
    await expect.poll(qtyOf, { timeout: 10_000 }).toBe(before + 7);
    await expect.poll(() => page.textContent('#order-result')).toMatch(/done$/);
    await screenshot(page, 'demo-origin');
  });

  test('HTTP streaming serves the page as well', async () => {
    const http = await openDemo('?transport=HTTP-STREAMING');
    expect(await http.textContent('#transport')).toBe('HTTP-STREAMING');
    await expect.poll(async () => (await lastPrices(http)).filter((p) => p !== '').length, { timeout: 10_000 }).toBe(30);
    await http.close();
  });

  test('no script errors', () => {
    expect(browser.problems).toEqual([]);
  });
});

describe('monitoring dashboard on an origin', () => {
  test('renders live figures', async () => {
    const demo = await openDemo();
    const page = await browser.newPage();
    await page.goto(`${origin.url}/dashboard`);
    await expect.poll(() => page.textContent('#shard')).toBe('ui1');
    const kpi = async (key: string) =>
      Number(((await page.textContent(`.kpi[data-kpi="${key}"] .value`)) ?? '').replace(/[^0-9.]/g, ''));
    await expect.poll(() => kpi('sessions'), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await expect.poll(() => kpi('subscriptions'), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await expect.poll(() => kpi('updates'), { timeout: 10_000 }).toBeGreaterThan(0);
    const wsRow = page.locator('#transports tr', { hasText: 'WS-STREAMING' }).locator('td.num').first();
    expect(Number(await wsRow.textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.getAttribute('#link', 'class')).toContain('ok');
    // A few samples in, so the charts have lines to show in the screenshot.
    await chartsDrawn(page, 4);
    await screenshot(page, 'dashboard-origin');
    await Promise.all([page.close(), demo.close()]);
  });
});
