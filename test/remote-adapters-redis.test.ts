/**
 * Two origins sharing one Redis, each with its own remote adapter process (the official Node SDK)
 * running the same adapter set: one of them leads an item at a time, so every update reaches the
 * clients of both shards exactly once; when the leader's remote adapter dies, the other shard takes
 * the item over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, watchSubscription, type WatchedClient, type WatchedSubscription } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import {
  REMOTE_PASSWORD,
  freeAdapterPorts,
  remoteAdaptersXml,
  startRemoteAdapter,
  writeAdaptersXml,
  type RemoteAdapterHandle,
} from './support/remote-adapter.ts';
import { waitUntil } from './support/wait.ts';

const ITEM = 'tick_shared_feed';

/** The counter values received after `from`, as numbers. */
const counts = (s: WatchedSubscription, from = 0) => s.updates.slice(from).map((u) => Number(u.values.n));

/** Each value once, none skipped: n, n+1, n+2… */
function consecutive(values: number[]): boolean {
  return values.every((v, i) => i === 0 || v === values[i - 1] + 1);
}

describe('one remote adapter per shard, one feed for the cluster', () => {
  let redis: RedisHandle;
  const origins: OriginHandle[] = [];
  const remotes: RemoteAdapterHandle[] = [];
  const clients: WatchedClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (const shard of ['a', 'b']) {
      const ports = await freeAdapterPorts();
      const conf = writeAdaptersXml(remoteAdaptersXml(ports));
      const origin = await startOrigin({ SHARD_ID: shard, REDIS_URL: redis.url, ADAPTERS_CONF: conf, REMOTE_ADAPTER_SECRET: REMOTE_PASSWORD });
      origins.push(origin);
      remotes.push(await startRemoteAdapter(ports, { TICK_MS: '20' }, origin.url));
    }
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([...remotes, ...origins].map((p) => p.stop()));
    await redis?.stop();
  });

  it('delivers every update once on both shards, from the one shard that leads the item, and moves the lead when its remote adapter dies', async () => {
    const subs = [];
    for (const origin of origins) {
      const c = createClient(origin.url, { adapterSet: 'REMOTE', transport: 'WS-STREAMING' });
      clients.push(c);
      subs.push(watchSubscription(c.client, { mode: 'DISTINCT', items: [ITEM], fields: ['n'], dataAdapter: 'STOCKS', bufferSize: 'unlimited' }));
      c.client.connect();
      await c.status(/^CONNECTED:WS-STREAMING$/);
    }
    for (const s of subs) await s.until((u) => u.length >= 50, '50 updates');
    for (const s of subs) expect(consecutive(counts(s)), JSON.stringify(counts(s))).toBe(true);
    // Both clients saw the same feed: the values of one are the values of the other.
    const [fromA, fromB] = subs.map((s) => counts(s));
    const shared = fromA.filter((v) => fromB.includes(v));
    expect(shared.length).toBeGreaterThan(40);

    // One upstream subscription in the cluster: the leader's.
    const upstream = await Promise.all(remotes.map((r) => r.count(`SUB ${ITEM}`)));
    expect([...upstream].sort()).toEqual([0, 1]);
    const leader = upstream.indexOf(1);
    const follower = 1 - leader;

    const before = subs.map((s) => s.updates.length);
    await remotes[leader].kill();
    await waitUntil(async () => (await remotes[follower].state()).subscribed.includes(ITEM), 20_000, () => 'the other shard did not take the item over');
    for (const [i, s] of subs.entries()) await s.until((u) => u.length >= before[i] + 30, 'updates after the take-over', 20_000);
    // The new leader's feed, each value once: a run of consecutive values ending the updates.
    for (const [i, s] of subs.entries()) {
      const after = counts(s, before[i]);
      const restart = after.findIndex((v, k) => k > 0 && v !== after[k - 1] + 1);
      expect(consecutive(restart < 0 ? after : after.slice(restart)), JSON.stringify(after)).toBe(true);
    }
    expect(clients.every((c) => c.serverErrors.length === 0 && c.sessions.length === 1)).toBe(true);
  });
});
