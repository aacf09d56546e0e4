import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { connectFeedClient, TRANSPORTS, type FeedClient } from './support/client.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { counterOf, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session` under 200 official clients, fifty on each transport, over two session hosts: a
 * shard that hangs (SIGSTOP) or is SIGKILLed under them costs none its session. How fast they stream
 * again is measured in bench/ (failover); here every one must, with no error and no second
 * subscription.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const CLIENTS = 200;
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(['v1', 'v2', 'v3'].map(async (id) => (origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN }))));
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })));
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  await edge?.stop();
  // The hung shard must be able to take its stop signal.
  for (const o of Object.values(origins)) o.child.kill('SIGCONT');
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

describe('200 session-layer sessions', () => {
  const clients: FeedClient[] = [];
  const transportOf = (c: FeedClient) => TRANSPORTS[clients.indexOf(c) % TRANSPORTS.length];

  beforeAll(async () => {
    // Twenty at a time: the official client's create is a round trip through the edge and a host.
    for (let i = 0; i < CLIENTS; i += 20) {
      clients.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, j) => connectFeedClient(edge.urlFor('session.localhost'), { transport: TRANSPORTS[(i + j) % TRANSPORTS.length], item: 'feed' })),
        )),
      );
    }
    await waitUntil(() => clients.every((c) => feed.isLive(c.values)), 30_000, () => `not live: ${clients.filter((c) => !feed.isLive(c.values)).length}`);
  }, 120_000);

  afterAll(() => {
    for (const c of clients) c.close();
  });

  /** The shard serving most clients now, `fault` applied to it; every client must stream again on its session. */
  async function survive(fault: (victim: OriginHandle) => Promise<void>): Promise<void> {
    const load = (id: string) => clients.filter((c) => c.shard() === id).length;
    const victim = Object.values(origins)
      .filter((o) => o.child.exitCode === null && o.child.signalCode === null)
      .sort((a, b) => load(b.shardId) - load(a.shardId))[0];
    const onVictim = load(victim.shardId);
    expect(onVictim).toBeGreaterThan(0);
    const movesBefore = await counterOf(edge, 'upstreamMoves');

    const faultAt = feed.tick;
    await fault(victim);
    await waitUntil(
      () => clients.every((c) => c.values.some((v) => Number(v) > faultAt + 5)),
      30_000,
      () => `not streaming again: ${clients.filter((c) => !c.values.some((v) => Number(v) > faultAt + 5)).map((c) => `${transportOf(c)} ${c.statuses.slice(-2).join('>')}`).join(', ')}`,
    );
    for (const c of clients) {
      const what = transportOf(c);
      expect(c.sessions, what).toHaveLength(1);
      expect(c.serverErrors, what).toEqual([]);
      expect(c.subscription.calls, what).toEqual({ subscribed: 1, unsubscribed: 0 });
      expect(c.shard(), what).not.toBe(victim.shardId);
    }
    await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) - movesBefore >= onVictim, 10_000, () => 'moves not counted');
  }

  it('sit on two session hosts', () => {
    expect(new Set(clients.map((c) => c.sessions[0].split('.')[0])).size).toBe(2);
  });

  it('a shard that hangs (SIGSTOP) costs no client its session: each streams again, subscribed once, with no error', async () => {
    await survive(async (victim) => void victim.child.kill('SIGSTOP'));
  });

  it('a shard SIGKILLed: the same', async () => {
    await survive((victim) => victim.kill());
  });
});
