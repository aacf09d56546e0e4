import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, screenshot, type BrowserHandle } from './support/browser.ts';
import { newSecrets, type EdgeHandle } from './support/edge.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { counterOf, placingOn, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The web client (lightstreamer-client-web, the demo page) in Chromium through mode `session`: it
 * connects, streams, and keeps its one session — no new session id, no server error, no reconnection
 * — when the shard of its upstream is killed, on WebSocket and HTTP streaming.
 */

const secrets = newSecrets();
const origins = new Map<string, OriginHandle>();
let edge: EdgeHandle;
let browser: BrowserHandle;

beforeAll(async () => {
  const started = await Promise.all(['w1', 'w2'].map((id) => startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin })));
  for (const o of started) origins.set(o.shardId, o);
  [edge, browser] = await Promise.all([
    startSessionEdge(
      secrets,
      started.map((o) => ({ id: o.shardId, url: o.url })),
    ),
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

/** The demo page on the session domain (`*.localhost` is loopback to Chromium), connected on `transport`. */
async function openDemo(page: Page, transport: 'WS-STREAMING' | 'HTTP-STREAMING'): Promise<void> {
  await page.goto(`http://session.localhost:${edge.port}/?transport=${transport}`);
  await page.waitForSelector(`#connection[data-status="CONNECTED:${transport}"]`, { timeout: 20_000 });
  await expect.poll(() => servingShard(page)).toMatch(/^w[12]$/);
}

describe('the web client through the session layer', () => {
  test('connects and streams on WebSocket and HTTP streaming, and both keep their session through the kill of their shard', async () => {
    const ws = await browser.newPage();
    const http = await browser.newPage();
    await openDemo(ws, 'WS-STREAMING');
    const victim = (await servingShard(ws))!;
    // Both pages on the shard to be killed: the HTTP one is placed there (reloaded if the edge lags behind the weights).
    await placingOn(edge, victim, [...origins.keys()], async () => {
      await openDemo(http, 'HTTP-STREAMING');
      for (let i = 0; (await servingShard(http)) !== victim; i++) {
        if (i >= 20) throw new Error(`the HTTP page never had its upstream on ${victim}`);
        await openDemo(http, 'HTTP-STREAMING');
      }
    });
    const pages = [
      { page: ws, transport: 'WS-STREAMING' },
      { page: http, transport: 'HTTP-STREAMING' },
    ];
    const before: { id: string | null; events: number }[] = [];
    for (const { page } of pages) {
      await pricesMove(page);
      const id = await page.textContent('#session-id');
      expect(id).toMatch(/^E[0-9a-f]{64}\.[0-9a-f]{32}$/);
      before.push({ id, events: await page.locator('#events li').count() });
    }
    const movesBefore = await counterOf(edge, 'upstreamMoves');

    await origins.get(victim)!.kill();
    await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + pages.length, 15_000, () => 'upstreams not moved');
    for (const [i, { page, transport }] of pages.entries()) {
      await pricesMove(page);
      expect(await page.textContent('#session-id'), transport).toBe(before[i].id);
      expect(await page.textContent('#session-count'), transport).toBe('session #1');
      expect(await page.getAttribute('#connection', 'data-status'), transport).toBe(`CONNECTED:${transport}`);
      // The page logs every status change, server error and shard move: the kill added only the move
      // (the session names its new shard), no status change and no error.
      const events = page.locator('#events li');
      expect(await events.count(), `${transport}: ${await page.textContent('#events')}`).toBe(before[i].events + 1);
      expect(await events.first().textContent(), transport).toMatch(new RegExp(`moved from edgepush ${victim} to edgepush (?!${victim})w[12]`));
    }

    // Orders after the move go to the new upstream and come back as portfolio rows.
    const qty = async () => Number((await ws.locator('#portfolio tr[data-item="item9"] .qty').textContent({ timeout: 500 }).catch(() => '0')) ?? 0);
    const held = await qty();
    await ws.selectOption('#order-item', 'item9');
    await ws.fill('#order-qty', '3');
    await ws.click('#order button.buy');
    await expect.poll(qty, { timeout: 10_000 }).toBe(held + 3);
    await screenshot(ws, 'demo-session-failover');

    // The operator's status page shows the sessions kept and the items brought up to date.
    const status = await browser.newPage();
    await status.goto(`${edge.url}/_edge/status`);
    await status.fill('#secret', secrets.admin);
    await status.click('#login-form button');
    const kpi = async (key: string) => Number((await status.textContent(`.kpi[data-kpi="${key}"] .value`))!.replace(/\D/g, ''));
    await expect.poll(() => kpi('kept'), { timeout: 10_000 }).toBeGreaterThanOrEqual(pages.length);
    await expect.poll(async () => (await kpi('reconciled')) === (await counterOf(edge, 'itemsReconciled')), { timeout: 10_000 }).toBe(true);
    expect(await kpi('reconciled')).toBeGreaterThan(0);
    expect(await status.textContent('.kpi[data-kpi="kept"] .hint')).toMatch(/session-layer sessions on \d+ host starts/);
    expect(browser.problems).toEqual([]);
    await Promise.all([...pages.map(({ page }) => page.close()), status.close()]);
  });
});
