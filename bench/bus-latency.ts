/**
 * Cluster data path on Redis: publish→deliver latency for a client on the publishing shard and
 * on another shard, and the publish rate the cluster sustains with every update delivered to both.
 * Two real origins on one real Redis, the official client, one run:
 *   npx tsx bench/bus-latency.ts [seconds per phase, default 5]
 */
import { startOrigin } from '../test/support/origin.ts';
import { startRedis } from '../test/support/redis.ts';
import { connect, subscribe } from '../test/support/ls-recorder.ts';

const seconds = Number(process.argv[2] ?? 5);
const TOKEN = 'bench-publish-token';

const redis = await startRedis();
const env = { REDIS_URL: redis.url, PUBLISH_TOKEN: TOKEN, LOG_LEVEL: 'error' };
const [a, b] = await Promise.all([startOrigin({ ...env, SHARD_ID: 'ba' }), startOrigin({ ...env, SHARD_ID: 'bb' })]);
const [clientA, clientB] = [await connect(a.url), await connect(b.url)];

async function post(origin: { url: string }, body: unknown): Promise<void> {
  const res = await fetch(`${origin.url}/api/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`publish: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

try {
  // Phase 1: latency without load: one publish through shard A, then 5 ms of quiet, and so on.
  const latA = subscribe(clientA, { mode: 'RAW', items: ['lat'], fields: ['t'], dataAdapter: 'FEED' });
  const latB = subscribe(clientB, { mode: 'RAW', items: ['lat'], fields: ['t'], dataAdapter: 'FEED' });
  await new Promise((r) => setTimeout(r, 500));
  const count = seconds * 150;
  for (let i = 0; i < count; i++) {
    await post(a, { item: 'lat', fields: { t: String(performance.now()) } });
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all([latA, latB].map((s) => s.until((u) => u.length >= count, 30_000)));
  const latency = (s: typeof latA) => s.updates.map((u) => u.at - Number(u.values.t)).sort((x, y) => x - y);
  const [la, lb] = [latency(latA), latency(latB)];

  // Phase 2: throughput: both shards publish as fast as they accept, in batches of 50 updates.
  const thrA = subscribe(clientA, { mode: 'RAW', items: ['thr'], fields: ['n'], dataAdapter: 'FEED' });
  const thrB = subscribe(clientB, { mode: 'RAW', items: ['thr'], fields: ['n'], dataAdapter: 'FEED' });
  await new Promise((r) => setTimeout(r, 500));
  let published = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (origin: { url: string }) => {
    while (performance.now() < deadline) {
      const batch = Array.from({ length: 50 }, () => ({ item: 'thr', fields: { n: String(published) } }));
      await post(origin, batch);
      published += batch.length;
    }
  };
  await Promise.all([a, b, a, b, a, b, a, b].map(worker));
  const publishSeconds = (performance.now() - started) / 1000;
  await Promise.all([thrA, thrB].map((s) => s.until((u) => u.length >= published, 60_000)));
  const deliveredSeconds = (Math.max(thrA.updates.at(-1)!.at, thrB.updates.at(-1)!.at) - started) / 1000;

  console.log(`bus latency, 2 origins on one Redis (${count} publishes through shard A, 5 ms apart)`);
  console.log(`  client on the publishing shard: p50 ${fmt(percentile(la, 50))}  p99 ${fmt(percentile(la, 99))}`);
  console.log(`  client on the other shard:      p50 ${fmt(percentile(lb, 50))}  p99 ${fmt(percentile(lb, 99))}`);
  console.log(`cluster throughput (both shards publishing, batches of 50, 8 concurrent requests)`);
  console.log(`  published ${published} updates in ${publishSeconds.toFixed(1)} s: ${Math.round(published / publishSeconds)} publishes/s`);
  console.log(`  every update delivered to a client on each shard within ${deliveredSeconds.toFixed(1)} s: ${Math.round(published / deliveredSeconds)} publishes/s sustained`);
} finally {
  clientA.disconnect();
  clientB.disconnect();
  await Promise.all([a.stop(), b.stop()]);
  await redis.stop();
}
