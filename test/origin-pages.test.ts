import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';

/** The HTTP side of the pages an origin serves: what browsers, caches and the edge rely on. */

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ SHARD_ID: 'pg1' });
});

afterAll(async () => {
  await origin?.stop();
});

test('the bundled web client is served gzipped to whoever accepts it, plain otherwise', async () => {
  const gz = await fetch(`${origin.url}/web/lightstreamer.js`, { headers: { 'accept-encoding': 'gzip' } });
  expect(gz.status).toBe(200);
  expect(gz.headers.get('content-encoding')).toBe('gzip');
  expect(gz.headers.get('vary')).toBe('accept-encoding');
  expect(await gz.text()).toContain('Lightstreamer Web Client');

  const plain = await fetch(`${origin.url}/web/lightstreamer.js`, { headers: { 'accept-encoding': 'identity' } });
  expect(plain.headers.get('content-encoding')).toBeNull();
  expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  expect(Number(plain.headers.get('content-length'))).toBeGreaterThan(Number(gz.headers.get('content-length')) * 2);
  expect(plain.headers.get('etag')).not.toBe(gz.headers.get('etag'));
});

test('pages revalidate with their etag', async () => {
  const first = await fetch(`${origin.url}/`);
  expect(first.headers.get('cache-control')).toBe('no-cache');
  expect(await first.text()).toContain('web/demo.js');
  const again = await fetch(`${origin.url}/`, { headers: { 'if-none-match': first.headers.get('etag')! } });
  expect(again.status).toBe(304);
});

test('only GET and HEAD; unknown assets are not the page handlers\' business', async () => {
  expect((await fetch(`${origin.url}/`, { method: 'POST' })).status).toBe(405);
  expect((await fetch(`${origin.url}/dashboard/data`, { method: 'DELETE' })).status).toBe(405);
  const head = await fetch(`${origin.url}/web/demo.css`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(await head.text()).toBe('');
  expect((await fetch(`${origin.url}/web/nope.js`)).status).toBe(404);
});

test('dashboard data: status, totals and a sampled history', async () => {
  // The sampler takes a point a second: wait for two of them.
  const samples = async () => ((await (await fetch(`${origin.url}/dashboard/data`)).json()) as { samples: unknown[] }).samples.length;
  await expect.poll(samples, { timeout: 10_000, interval: 200 }).toBeGreaterThanOrEqual(2);
  const res = await fetch(`${origin.url}/dashboard/data`);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const data = (await res.json()) as {
    shard: string;
    serverName: string;
    bus: { kind: string; connected: boolean };
    samples: { at: number; sessions: number; eventLoopP99Ms: number }[];
    totals: { sessionsCreated: number };
    errors: unknown[];
  };
  expect(data.shard).toBe('pg1');
  expect(data.serverName).toBe('edgepush pg1');
  expect(data.bus).toMatchObject({ kind: 'embedded', connected: true });
  expect(data.samples.length).toBeGreaterThanOrEqual(2);
  const [a, b] = data.samples.slice(-2);
  expect(b.at - a.at).toBeGreaterThanOrEqual(900);
  expect(b.eventLoopP99Ms).toBeGreaterThan(0);
  expect(data.totals.sessionsCreated).toBe(0);
  expect(Array.isArray(data.errors)).toBe(true);
});
