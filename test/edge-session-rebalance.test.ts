import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originStatus, startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { connectFeedClient, TRANSPORTS, type FeedClient } from './support/client.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { counterOf, openOnShard, placingOn, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Rebalancing in mode `session` (guide §5, without its cost): a drain, a shed and the domain's
 * maximum upstream age move upstreams between shards, and the clients notice nothing — the same session, no
 * status change, no error, no second subscription, no snapshot again, live all along.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(
    ['b1', 'b2'].map(async (id) => (origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN }))),
  );
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })), [{ host: 'aged.localhost', modes: ['session'], createsPerMinute: 0, maxSessionMinutes: 0.05 }]);
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface Baseline {
  readonly statuses: number;
  readonly snapshots: number;
}

/** The client has had its snapshot and recent values: what it holds now is the baseline. */
const settled = (c: FeedClient) => c.values.length > 0 && feed.isLive(c.values);
const baselineOf = (c: FeedClient): Baseline => ({ statuses: c.statuses.length, snapshots: c.subscription.updates.filter((u) => u.snapshot).length });

/** Each client is live past now, on its one session, and went through nothing it could see since `baseline`. */
async function unnoticed(clients: FeedClient[], baseline: Baseline[], what: string): Promise<void> {
  const since = feed.tick;
  await waitUntil(
    () => clients.every((c) => c.values.some((v) => Number(v) > since + 5)),
    15_000,
    () => `${what}: not all live: ${clients.map((c) => `${c.values.at(-1)} ${c.statuses.slice(-2).join('>')}`).join(' | ')}`,
  );
  clients.forEach((c, i) => {
    const who = `${what}, ${TRANSPORTS[i]}`;
    expect(c.sessions, who).toHaveLength(1);
    expect(c.serverErrors, who).toEqual([]);
    expect(c.statuses.slice(baseline[i].statuses), `${who}: status changes`).toEqual([]);
    expect(c.subscription.calls, who).toEqual({ subscribed: 1, unsubscribed: 0 });
    expect(c.subscription.errors, who).toEqual([]);
    expect(c.subscription.updates.filter((u) => u.snapshot).length, `${who}: snapshot again`).toBe(baseline[i].snapshots);
  });
}

const shardView = async (id: string) =>
  ((await (await edge.admin('/_edge/api/status')).json()) as { shards: { id: string; draining: boolean; drained: boolean }[] }).shards.find((s) => s.id === id)!;

describe('rebalancing moves upstreams, not clients', () => {
  it('drain: the shard holding the upstreams ends them, each moves to the other shard, and no client sees anything', async () => {
    const first = await connectFeedClient(edge.urlFor('session.localhost'), { transport: TRANSPORTS[0], item: 'feed' });
    const drained = first.shard()!;
    const clients = [first];
    try {
      await placingOn(edge, drained, Object.keys(origins), async () => {
        for (const transport of TRANSPORTS.slice(1)) {
          clients.push(await openOnShard(drained, () => connectFeedClient(edge.urlFor('session.localhost'), { transport, item: 'feed' })));
        }
      });
      await waitUntil(() => clients.every(settled), 10_000, () => 'clients not live');
      const baseline = clients.map(baselineOf);
      const movesBefore = await counterOf(edge, 'upstreamMoves');
      expect((await originStatus(origins[drained].url)).sessions).toBeGreaterThanOrEqual(clients.length);

      expect((await edge.admin(`/_edge/api/shards/${drained}/drain`, { method: 'POST' })).status).toBe(200);
      await waitUntil(async () => (await shardView(drained)).drained, 20_000, () => `${drained} never drained`);
      await waitUntil(async () => (await originStatus(origins[drained].url)).sessions === 0, 10_000, () => `upstreams left on ${drained}`);
      await unnoticed(clients, baseline, 'after the drain');
      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 10_000, () => 'upstream moves not counted');
    } finally {
      await edge.admin(`/_edge/api/shards/${drained}/undrain`, { method: 'POST' });
      for (const c of clients) c.close();
    }
  });

  it('shed: the shard ends as many upstreams as asked, each moves to the other shard, and no client sees anything', async () => {
    await waitUntil(async () => !(await shardView('b1')).draining && !(await shardView('b2')).draining, 10_000, () => 'a shard still draining');
    const first = await connectFeedClient(edge.urlFor('session.localhost'), { transport: TRANSPORTS[0], item: 'feed' });
    const shed = first.shard()!;
    const clients = [first];
    try {
      await placingOn(edge, shed, Object.keys(origins), async () => {
        for (const transport of TRANSPORTS.slice(1)) {
          clients.push(await openOnShard(shed, () => connectFeedClient(edge.urlFor('session.localhost'), { transport, item: 'feed' })));
        }
      });
      await waitUntil(() => clients.every(settled), 10_000, () => 'clients not live');
      // Only these clients' upstreams are on the shard (the others' closed with their clients).
      await waitUntil(async () => (await originStatus(origins[shed].url)).sessions === clients.length, 10_000, () => `other sessions on ${shed}`);
      const baseline = clients.map(baselineOf);
      const movesBefore = await counterOf(edge, 'upstreamMoves');

      const res = await edge.admin(`/_edge/api/shards/${shed}/shed`, { method: 'POST', body: JSON.stringify({ count: clients.length }) });
      expect(res.status).toBe(200);
      await waitUntil(async () => (await originStatus(origins[shed].url)).sessions === 0, 20_000, () => `upstreams left on ${shed}`);
      await unnoticed(clients, baseline, 'after the shed');
      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 10_000, () => 'upstream moves not counted');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('maximum upstream age: upstreams move to a new upstream again and again, and no client sees anything', async () => {
    await waitUntil(async () => !(await shardView('b1')).draining && !(await shardView('b2')).draining, 10_000, () => 'a shard still draining');
    const clients: FeedClient[] = [];
    try {
      for (const transport of TRANSPORTS) clients.push(await connectFeedClient(edge.urlFor('aged.localhost'), { transport, item: 'feed' }));
      await waitUntil(() => clients.every(settled), 10_000, () => 'clients not live');
      const baseline = clients.map(baselineOf);
      const agedBefore = await counterOf(edge, 'upstreamsAged');
      // 0.05 minutes: every upstream moves about every 3 s; twice each is past any first-move luck.
      await waitUntil(async () => (await counterOf(edge, 'upstreamsAged')) >= agedBefore + 2 * clients.length, 20_000, () => 'upstreams not aged');
      await unnoticed(clients, baseline, 'after upstreams aged');
    } finally {
      for (const c of clients) c.close();
    }
  });
});
