import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { connectFeedClient, type FeedClient } from './support/client.ts';
import { waitUntil } from './support/wait.ts';
import { startFeed, type Feed } from './support/feed.ts';

/**
 * The edge watches every stream it relays with one timer per isolate, which workerd ties to the
 * request context of the stream that started it (worker/stream-watch.ts). When that stream ends, the
 * timer must live on in another stream's context, or the streams left would no longer be ended when
 * their shard is lost.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(['w1', 'w2'].map(async (id) => (origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, PUBLISH_TOKEN }))));
  edge = await startEdge({
    secrets,
    shards: [
      { id: 'w1', url: origins.w1.url },
      { id: 'w2', url: origins.w2.url },
    ],
    domains: [
      { host: 'first.localhost', modes: ['path', 'session-id'], shards: ['w1'] },
      { host: 'rest.localhost', modes: ['path', 'session-id'], shards: ['w2'] },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.urlFor('first.localhost')}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  for (const o of Object.values(origins)) if (o.child.signalCode === null) o.child.kill('SIGCONT');
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

const shardLostEnds = async () => ((await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> }).counters.shardLostEnds ?? 0;

describe('the watch over relayed streams', () => {
  it('outlives the stream whose context started its timer: the streams left still get END 48 when their shard stops', async () => {
    const clients: FeedClient[] = [];
    try {
      // The isolate's first relayed stream starts the timer.
      const first = await connectFeedClient(edge.urlFor('first.localhost'), { transport: 'WS-STREAMING', item: 'feed' });
      clients.push(first);
      for (const transport of ['WS-STREAMING', 'HTTP-STREAMING'] as const) clients.push(await connectFeedClient(edge.urlFor('rest.localhost'), { transport, item: 'feed' }));
      const rest = clients.slice(1);
      await waitUntil(() => clients.every((c) => feed.isLive(c.values)), 10_000, () => 'clients not live');
      const endsBefore = await shardLostEnds();

      // The others' shard stops; once they receive nothing more (a stream that receives bytes would
      // restart a lost timer), the stream that started the timer ends: only the timer it hands over
      // can notice the shard is gone, long before the clients' own keepalive timeout.
      origins.w2.child.kill('SIGSTOP');
      const lastValue = (c: FeedClient) => Number(c.values.at(-1) ?? 0);
      await waitUntil(() => rest.every((c) => feed.tick > lastValue(c) + 2), 5_000, () => 'the stopped shard still delivers');
      first.close();

      await waitUntil(
        async () => (await shardLostEnds()) - endsBefore >= rest.length,
        10_000,
        () => `END 48 not counted for every stream left: ${rest.map((c) => c.statuses.slice(-3).join('>')).join(' | ')}`,
      );
      // The clients' own keepalive timeout (STALLED) never had to fire: the edge ended each stream.
      for (const c of rest) expect(c.statuses).not.toContain('STALLED');
    } finally {
      for (const c of clients) c.close();
      origins.w2.child.kill('SIGCONT');
    }
  });
});
