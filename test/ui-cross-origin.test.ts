import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { launchBrowser, type BrowserHandle } from './support/browser.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { freePort } from './support/ports.ts';
import { waitUntil } from './support/wait.ts';

/**
 * tlcp.md F.12: lightstreamer-client-web in Chromium on a page served from one origin, connected to
 * the edge at another. The page comes from a small static server; the client script from an origin's
 * `/web/lightstreamer.js`. Origins issue opaque session ids, so in cookie mode nothing but the sticky
 * cookie can route a session's binds and control requests: if the browser did not send it, the
 * client would only ever meet code 20.
 *
 * Browsers key SameSite on the site (scheme + registrable name, ports ignored): `localhost:<a>` and
 * `localhost:<b>` are one site, `127.0.0.1` and `localhost` two.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const origins = new Map<string, OriginHandle>();
let edge: EdgeHandle;
let browser: BrowserHandle;
let pages: http.Server;
let pagePort: number;

const PAGE = (scriptUrl: string) => `<!doctype html>
<meta charset="utf-8"><title>cross-origin client</title>
<script src="${scriptUrl}"></script>
<script>
  const q = new URLSearchParams(location.search);
  window.seen = { statuses: [], values: [], errors: [] };
  const client = new LightstreamerClient(q.get('server'), 'DEMO');
  client.connectionOptions.setForcedTransport(q.get('transport'));
  client.connectionOptions.setCookieHandlingRequired(q.get('cookies') === '1');
  client.addListener({
    onStatusChange: (s) => seen.statuses.push(s),
    onServerError: (code, message) => seen.errors.push(code + ' ' + message),
  });
  const sub = new Subscription('MERGE', [q.get('item')], ['v']);
  sub.setDataAdapter('FEED');
  sub.addListener({ onItemUpdate: (u) => seen.values.push(u.getValue('v')) });
  client.subscribe(sub);
  client.connect();
  window.serverName = () => client.connectionDetails.getServerSocketName();
</script>`;

beforeAll(async () => {
  const started = await Promise.all(
    ['x1', 'x2'].map((id) => startOrigin({ SHARD_ID: id, SESSION_ID_STYLE: 'opaque', EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN })),
  );
  for (const o of started) origins.set(o.shardId, o);
  pagePort = await freePort();
  const page = PAGE(`${started[0].url}/web/lightstreamer.js`);
  pages = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
  await new Promise<void>((resolve) => pages.listen(pagePort, '127.0.0.1', resolve));
  [edge, browser] = await Promise.all([
    startEdge({
      secrets,
      shards: started.map((o) => ({ id: o.shardId, url: o.url })),
      domains: [
        { host: 'localhost', modes: ['cookie'] },
        { host: '*', modes: ['path', 'session-id'] },
      ],
    }),
    launchBrowser(),
  ]);
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await edge?.stop();
  await new Promise((resolve) => pages?.close(resolve));
  await Promise.all([...origins.values()].map((o) => o.stop()));
});

interface Seen {
  statuses: string[];
  values: string[];
  errors: string[];
}

const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: Seen }).seen);

/** Opens the page at `pageHost`, its client aimed at `server`, and waits until updates stream. */
async function streams(pageHost: string, server: string, transport: string, cookies: boolean): Promise<{ page: Page; shard: string }> {
  const item = `xo_${transport}_${cookies ? 'c' : 'n'}`.replace(/-/g, '_');
  const page = await browser.newPage();
  await page.goto(`http://${pageHost}:${pagePort}/?${new URLSearchParams({ server, transport, item, cookies: cookies ? '1' : '0' })}`);
  await waitUntil(
    async () => (await seen(page)).statuses.at(-1) === `CONNECTED:${transport}`,
    20_000,
    () => `never ${transport}: ${JSON.stringify(browser.problems)}`,
  );
  const shard = /^edgepush (\S+)$/.exec((await page.evaluate(() => (window as unknown as { serverName(): string }).serverName())) ?? '')?.[1];
  expect(shard).toMatch(/^x[12]$/);
  // The subscription is a control request (over HTTP a separate POST): updates prove it reached the session's shard.
  let n = 0;
  let last: Seen | undefined;
  await waitUntil(
    async () => {
      await publish(origins.get(shard!)!.url, PUBLISH_TOKEN, { item, fields: { v: `v${++n}` } });
      last = await seen(page);
      return last.values.length > 0;
    },
    15_000,
    () => `no update over ${transport}: ${JSON.stringify(last)}`,
  );
  const s = await seen(page);
  expect(s.errors).toEqual([]);
  // Exactly one session: a lost cookie would show as code 20 and sessions re-created over and over.
  expect(s.statuses.filter((x) => x.startsWith('CONNECTED:') && !x.includes('SENSING'))).toEqual([`CONNECTED:${transport}`]);
  return { page, shard: shard! };
}

describe('web client on another origin', () => {
  it.each(['WS-STREAMING', 'HTTP-STREAMING'])('streams over %s from a page on another site (path + session id)', async (transport) => {
    const { page } = await streams('localhost', edge.url, transport, false);
    await page.close();
  });

  it.each(['WS-STREAMING', 'HTTP-STREAMING'])('keeps the sticky cookie on a page of the same site, another port (cookie mode, %s)', async (transport) => {
    await browser.context.clearCookies();
    const { page, shard } = await streams('localhost', edge.urlFor('localhost'), transport, true);
    const cookies = await browser.context.cookies(edge.urlFor('localhost'));
    expect(cookies.find((c) => c.name === 'edgepush_sticky')?.value).toMatch(new RegExp(`^${shard}\\.`));
    await page.close();
  });

  it('the edge’s own failover answers carry CORS, so a page on another origin can read code 20', async () => {
    const res = await fetch(`${edge.url}/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0`, {
      method: 'POST',
      headers: { origin: `http://localhost:${pagePort}`, 'content-type': 'text/plain; charset=utf-8' },
      body: `LS_session=gone.${'A'.repeat(32)}\r\n`,
    });
    expect(await res.text()).toMatch(/^CONERR,20,/);
    expect(res.headers.get('access-control-allow-origin')).toBe(`http://localhost:${pagePort}`);
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });
});
