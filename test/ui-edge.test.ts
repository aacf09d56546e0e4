import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { chartsDrawn, launchBrowser, screenshot, type BrowserHandle } from './support/browser.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/**
 * What a person sees through the edge: the demo at the edge root (balanced onto a shard, surviving
 * the death of that shard), a shard's dashboard through the authenticated direct access, and the
 * operator's status page on the live admin API.
 */

const secrets = newSecrets();
const origins = new Map<string, OriginHandle>();
let edge: EdgeHandle;
let browser: BrowserHandle;

beforeAll(async () => {
  const started = await Promise.all(
    ['e1', 'e2'].map((id) => startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin })),
  );
  for (const o of started) origins.set(o.shardId, o);
  [edge, browser] = await Promise.all([
    startEdge({
      shards: started.map((o) => ({ id: o.shardId, url: o.url })),
      // The local default: path prefix for clients that follow the control link, session id for the rest.
      domains: [{ host: '*', modes: ['path', 'session-id'] }],
      secrets,
    }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await edge?.stop();
  await Promise.all([...origins.values()].map((o) => o.stop()));
});

const lastPrices = (page: Page) =>
  page.$$eval('#quotes tbody tr', (rows) => rows.map((tr) => tr.querySelector('[data-field="last_price"]')?.textContent ?? ''));

async function pricesMove(page: Page): Promise<void> {
  await expect.poll(async () => (await lastPrices(page)).filter((p) => p !== '').length, { timeout: 15_000 }).toBe(30);
  const before = await lastPrices(page);
  await expect.poll(async () => (await lastPrices(page)).filter((p, i) => p !== before[i]).length, { timeout: 10_000 }).toBeGreaterThan(0);
}

const servingShard = async (page: Page) => /^edgepush (\S+)$/.exec((await page.textContent('#server-name')) ?? '')?.[1] ?? null;

describe('demo through the edge', () => {
  let page: Page;

  beforeAll(async () => {
    page = await browser.newPage();
    await page.goto(`${edge.url}/`);
    await page.waitForSelector('#connection[data-status="CONNECTED:WS-STREAMING"]', { timeout: 20_000 });
  });

  test('quotes, chat and portfolio work on a balanced shard', async () => {
    await expect.poll(() => servingShard(page)).toMatch(/^e[12]$/);
    await pricesMove(page);

    const text = `through the edge ${Date.now()}`;
    await page.fill('#chat-text', text);
    await page.click('#chat-form button');
    await page.locator('#chat li', { hasText: text }).waitFor({ timeout: 10_000 });

    const qty = async () => Number((await page.locator('#portfolio tr[data-item="item9"] .qty').textContent({ timeout: 500 }).catch(() => '0')) ?? 0);
    const before = await qty();
    await page.selectOption('#order-item', 'item9');
    await page.fill('#order-qty', '3');
    await page.click('#order button.buy');
    await expect.poll(qty, { timeout: 10_000 }).toBe(before + 3);
    await screenshot(page, 'demo-edge');
  });

  test('HTTP streaming through the edge is live, not buffered', async () => {
    const http = await browser.newPage();
    await http.goto(`${edge.url}/?transport=HTTP-STREAMING`);
    await http.waitForSelector('#connection[data-status="CONNECTED:HTTP-STREAMING"]', { timeout: 20_000 });
    await pricesMove(http);
    // Control requests of an HTTP session are separate requests: each must find the session's shard.
    const text = `over http ${Date.now()}`;
    await http.fill('#chat-text', text);
    await http.click('#chat-form button');
    await http.locator('#chat li', { hasText: text }).waitFor({ timeout: 10_000 });
    await http.close();
  });

  test('after the serving shard is killed the page recovers on the other one', async () => {
    const first = (await servingShard(page))!;
    const survivor = first === 'e1' ? 'e2' : 'e1';
    await origins.get(first)!.kill();
    await expect.poll(() => servingShard(page), { timeout: 30_000 }).toBe(survivor);
    await page.waitForSelector('#connection[data-status="CONNECTED:WS-STREAMING"]', { timeout: 15_000 });
    await pricesMove(page);
    await expect(page.locator('#events li.move', { hasText: `to edgepush ${survivor}` }).count()).resolves.toBeGreaterThan(0);
    await screenshot(page, 'demo-edge-failover');
    expect(browser.problems).toEqual([]);
  });
});

describe('operator pages through the edge', () => {
  test('a shard dashboard through direct instance access (guide §6)', async () => {
    const survivor = [...origins.values()].find((o) => o.child.exitCode === null && o.child.signalCode === null)!;
    const page = await browser.newPage();
    // Basic with the admin secret as password, as a browser sends it after the edge's challenge.
    await page.setExtraHTTPHeaders({ authorization: `Basic ${Buffer.from(`operator:${secrets.admin}`).toString('base64')}` });
    await page.goto(`${edge.url}/_edge/shards/${survivor.shardId}/dashboard`);
    await expect.poll(() => page.textContent('#shard'), { timeout: 10_000 }).toBe(survivor.shardId);
    await expect.poll(() => page.getAttribute('#link', 'class')).toContain('ok');
    await chartsDrawn(page, 3);
    await screenshot(page, 'dashboard-edge');
    await page.close();
  });

  test('the status page shows shards, domains and routing counters, and drains a shard', async () => {
    const page = await browser.newPage();
    // The page itself needs no secret: it holds no data and asks the operator for one.
    const res = await page.goto(`${edge.url}/_edge/status`);
    expect(res?.status()).toBe(200);
    await page.fill('#secret', 'not the secret');
    await page.click('#login-form button');
    await expect.poll(() => page.textContent('#login-error')).toContain('refused');

    await page.fill('#secret', secrets.admin);
    await page.click('#login-form button');
    await expect.poll(() => page.getAttribute('#link', 'class'), { timeout: 10_000 }).toContain('ok');
    const dead = [...origins.values()].find((o) => o.child.exitCode !== null || o.child.signalCode !== null)!;
    const alive = [...origins.values()].find((o) => o !== dead)!;
    await expect.poll(() => page.textContent(`tr[data-shard="${dead.shardId}"] .health`), { timeout: 10_000 }).toContain('down');
    expect(await page.textContent(`tr[data-shard="${alive.shardId}"] .health`)).toContain('healthy');
    await expect.poll(async () => Number(await page.textContent(`tr[data-shard="${alive.shardId}"] .sessions`)), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(await page.textContent('#domains tbody')).toContain('session-id');
    expect(await page.locator('#decisions .line').count()).toBeGreaterThan(0);
    // The figures are the admin API's, whatever they are by now.
    const kpi = async (key: string) => Number((await page.textContent(`.kpi[data-kpi="${key}"] .value`))!.replace(/\D/g, ''));
    const counters = async () => ((await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> }).counters;
    await expect.poll(async () => (await kpi('failovers')) === ((await counters()).failovers ?? 0), { timeout: 10_000 }).toBe(true);
    await expect.poll(async () => (await kpi('violations')) === ((await counters()).stickinessViolations ?? 0), { timeout: 10_000 }).toBe(true);

    page.once('dialog', (d) => void d.accept());
    await page.click(`tr[data-shard="${alive.shardId}"] button[data-action="drain"]`);
    await expect.poll(() => page.textContent(`tr[data-shard="${alive.shardId}"] .state`), { timeout: 10_000 }).toMatch(/draining|drained/);
    await screenshot(page, 'status-edge');
    const status = (await (await edge.admin('/_edge/api/status')).json()) as { shards: { id: string; draining: boolean }[] };
    expect(status.shards.find((s) => s.id === alive.shardId)?.draining).toBe(true);
    await page.close();
  });
});
