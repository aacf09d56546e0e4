import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ SHARD_ID: 'm1' });
});

afterAll(async () => {
  await origin?.stop();
});

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('GET /metrics exposes telemetry and Node process metrics in Prometheus text format', async () => {
  const res = await fetch(`${origin.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  expect(value(text, 'edgepush_sessions{shard="m1"}')).toBe(0);
  expect(value(text, 'edgepush_sessions_bound{transport="WS-STREAMING",shard="m1"}')).toBe(0);
  expect(value(text, 'edgepush_wrong_instance_total{shard="m1"}')).toBe(0);
  expect(value(text, 'edgepush_bus_connected{shard="m1"}')).toBe(1);
  expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds\{shard="m1"\} [0-9.e-]+$/m);
  expect(text).toMatch(/^process_resident_memory_bytes\{shard="m1"\} \d+$/m);
});

test('counters follow what the origin does', async () => {
  // A request naming another shard's session is counted as a wrong-instance routing mistake.
  const res = await fetch(`${origin.url}/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0`, {
    method: 'POST',
    body: 'LS_session=zz.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  });
  expect(await res.text()).toMatch(/^CONERR,21,/);
  const text = await (await fetch(`${origin.url}/metrics`)).text();
  expect(value(text, 'edgepush_wrong_instance_total{shard="m1"}')).toBe(1);
});

test('only GET and HEAD', async () => {
  expect((await fetch(`${origin.url}/metrics`, { method: 'POST' })).status).toBe(405);
});
