import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { connectClient, connectFeedClient, TRANSPORTS, type FeedClient } from './support/client.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { counterOf, openOnShard, placingOn, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session` in front of origins whose session ids do not name their shard
 * (`SESSION_ID_STYLE=opaque`, standing in for genuine Lightstreamer Servers): the session object
 * keeps its upstream's shard itself, so sessions work and outlive their shard all the same.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(
    ['o1', 'o2'].map(async (id) => {
      origins[id] = await startOrigin({ SHARD_ID: id, SESSION_ID_STYLE: 'opaque', EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });
    }),
  );
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })));
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

describe('opaque-id origins behind the session layer', () => {
  it('the origins name no shard in their ids', async () => {
    const direct = await connectClient(origins.o1.url, { transport: 'WS-STREAMING' });
    try {
      expect(direct.sessions[0]).toMatch(/^[\w-]{32}$/);
    } finally {
      direct.close();
    }
  });

  it('every transport streams, and keeps its session, its subscription and no error when its shard is killed', async () => {
    const first = await connectFeedClient(edge.urlFor('session.localhost'), { transport: TRANSPORTS[0], item: 'feed' });
    const victim = first.shard()!;
    const clients: FeedClient[] = [first];
    try {
      await placingOn(edge, victim, Object.keys(origins), async () => {
        for (const transport of TRANSPORTS.slice(1)) {
          clients.push(await openOnShard(victim, () => connectFeedClient(edge.urlFor('session.localhost'), { transport, item: 'feed' })));
        }
      });
      await waitUntil(() => clients.every((c) => c.values.length > 0 && feed.isLive(c.values)), 10_000, () => 'clients not live');
      const movesBefore = await counterOf(edge, 'upstreamMoves');

      await origins[victim].kill();
      const since = feed.tick;
      await waitUntil(
        () => clients.every((c) => c.values.some((v) => Number(v) > since + 5)),
        20_000,
        () => `not all live again: ${clients.map((c) => `${c.values.at(-1)} ${c.statuses.slice(-2).join('>')}`).join(' | ')}`,
      );
      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 10_000, () => 'upstream moves not counted');
      clients.forEach((c, i) => {
        expect(c.sessions, TRANSPORTS[i]).toHaveLength(1);
        expect(c.serverErrors, TRANSPORTS[i]).toEqual([]);
        expect(c.subscription.calls, TRANSPORTS[i]).toEqual({ subscribed: 1, unsubscribed: 0 });
      });
    } finally {
      for (const c of clients) c.close();
    }
  });
});
