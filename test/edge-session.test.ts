import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { startSessionEdge } from './support/session-layer.ts';
import { connectFeedClient, createClient, TRANSPORTS, type FeedClient } from './support/client.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session`: the official client's session terminated in a Durable Object at the edge, its
 * upstream on a shard. Sessions work on every transport, and outlive their shard.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

const originEnv = (id: string) => ({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });

beforeAll(async () => {
  await Promise.all(['u1', 'u2'].map(async (id) => (origins[id] = await startOrigin(originEnv(id)))));
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })), [{ host: 'packed.localhost', modes: ['session'], createsPerMinute: 0, sessionsPerObject: 2 }]);
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

describe('a session terminated at the edge', () => {
  it.each(TRANSPORTS)('%s: connects, subscribes and streams the feed', async (transport) => {
    const client = await connectFeedClient(edge.urlFor('session.localhost'), { transport, item: 'feed' });
    try {
      await waitUntil(() => feed.isLive(client.values), 10_000, () => `not live: ${client.values.slice(-3)} ${client.statuses.join('>')}`);
      expect(client.sessions[0]).toMatch(/^E[0-9a-f]{64}\.[0-9a-f]{32}$/);
      expect(client.serverErrors).toEqual([]);
    } finally {
      client.close();
    }
  });
});

describe('bandwidth through the session layer', () => {
  it('the client\'s request reaches its upstream: granted within the adapter set\'s cap, and constrained again', async () => {
    // TEST caps every user at 40 kbit/s.
    const watched = createClient(edge.urlFor('session.localhost'), { transport: 'WS-STREAMING', adapterSet: 'TEST' });
    const granted: string[] = [];
    watched.client.addListener({
      onPropertyChange: (p: string) => {
        if (p === 'realMaxBandwidth') granted.push(String(watched.client.connectionOptions.getRealMaxBandwidth()));
      },
    });
    watched.client.connectionOptions.setRequestedMaxBandwidth(20.1);
    watched.client.connect();
    try {
      await waitUntil(() => granted.at(-1) === '20.1', 10_000, () => `granted ${granted.join(' > ')}; ${watched.statuses.join('>')}`);
      watched.client.connectionOptions.setRequestedMaxBandwidth(70.1);
      await waitUntil(() => granted.at(-1) === '40', 10_000, () => `granted ${granted.join(' > ')}`);
      watched.client.connectionOptions.setRequestedMaxBandwidth(39);
      await waitUntil(() => granted.at(-1) === '39', 10_000, () => `granted ${granted.join(' > ')}`);
      expect(watched.serverErrors).toEqual([]);
    } finally {
      watched.close();
    }
  });
});

describe('sessions sharing objects (sessionsPerObject)', () => {
  const hostOf = (c: FeedClient) => c.sessions[0].slice(1, 65);
  /** The session is gone from its host: a control request for it is answered 20 (not one for a subscription it lacks). */
  async function gone(sessionId: string): Promise<boolean> {
    const url = `${edge.urlFor('packed.localhost')}/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${sessionId}`;
    const answer = await (await fetch(url, { method: 'POST', body: 'LS_reqId=1&LS_op=reconf&LS_subId=9999&LS_requested_max_frequency=1\r\n' })).text();
    return answer.startsWith('REQERR,1,20');
  }

  it('fill one object after another, and a full object takes sessions again once one leaves', async () => {
    const clients: FeedClient[] = [];
    const open = async () => {
      const c = await connectFeedClient(edge.urlFor('packed.localhost'), { transport: TRANSPORTS[clients.length % TRANSPORTS.length], item: 'feed' });
      clients.push(c);
      return c;
    };
    try {
      for (let i = 0; i < 5; i++) await open();
      await waitUntil(() => clients.every((c) => feed.isLive(c.values)), 15_000, () => 'clients not live');
      const hosts = clients.map(hostOf);
      expect(hosts[1]).toBe(hosts[0]);
      expect(hosts[3]).toBe(hosts[2]);
      expect(new Set(hosts).size).toBe(3);

      // A session of the first, full object leaves: it has room again, after the object in use fills.
      const leaving = clients[0];
      leaving.close();
      await waitUntil(() => gone(leaving.sessions[0]), 10_000, () => 'the closed session is still there');
      expect(hostOf(await open())).toBe(hosts[4]);
      expect(hostOf(await open())).toBe(hosts[0]);
      for (const c of clients.slice(1)) {
        expect(c.sessions).toHaveLength(1);
        expect(c.serverErrors).toEqual([]);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('a shard lost under the sessions', () => {
  /** Clients on every transport, until at least four have their upstream on `victim` (SERVNAME names it). */
  async function clientsOn(victim: string): Promise<FeedClient[]> {
    const clients: FeedClient[] = [];
    for (let i = 0; clients.filter((c) => c.shard() === victim).length < 4; i++) {
      if (i >= 40) throw new Error(`upstreams never on ${victim}: ${clients.map((c) => c.shard()).join(',')}`);
      clients.push(await connectFeedClient(edge.urlFor('session.localhost'), { transport: TRANSPORTS[i % TRANSPORTS.length], item: 'feed' }));
    }
    await waitUntil(() => clients.every((c) => feed.isLive(c.values)), 15_000, () => 'clients not live');
    return clients;
  }

  const moves = async () => ((await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> }).counters.upstreamMoves ?? 0;

  /** Every client kept its session, subscribed once, saw no error and is live again. */
  async function unharmed(clients: FeedClient[], what: string): Promise<void> {
    const since = feed.tick;
    await waitUntil(
      () => clients.every((c) => c.values.some((v) => Number(v) > since + 5)),
      20_000,
      () => `${what}: not all live again: ${clients.map((c) => `${c.values.at(-1)} ${c.statuses.slice(-2).join('>')}`).join(' | ')}`,
    );
    for (const c of clients) {
      expect(c.sessions).toHaveLength(1);
      expect(c.serverErrors).toEqual([]);
      expect(c.subscription.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
    }
  }

  it('hung (SIGSTOP): every client keeps its session and its subscription, and streams again once its upstream goes silent past its keepalive', async () => {
    const clients = await clientsOn('u2');
    const victim = origins.u2;
    const movesBefore = await moves();
    try {
      const victims = clients.filter((c) => c.shard() === 'u2').length;
      victim.child.kill('SIGSTOP');
      await unharmed(clients, 'after SIGSTOP');
      // Each client names the shard now serving it (SERVNAME), not the one that hung.
      for (const c of clients) expect(c.shard()).toBe('u1');
      await waitUntil(async () => (await moves()) - movesBefore >= victims, 10_000, () => 'upstream moves not counted');
    } finally {
      victim.child.kill('SIGCONT');
      for (const c of clients) c.close();
    }
  });

  it('killed (SIGKILL): the same', async () => {
    const clients = await clientsOn('u1');
    const movesBefore = await moves();
    try {
      const victims = clients.filter((c) => c.shard() === 'u1').length;
      await origins.u1.kill();
      await unharmed(clients, 'after SIGKILL');
      for (const c of clients) expect(c.shard()).toBe('u2');
      await waitUntil(async () => (await moves()) - movesBefore >= victims, 10_000, () => 'upstream moves not counted');
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('the edge restarted (every deploy restarts every object)', () => {
  it('clients keep their sessions: each object restores its session from storage when its client recovers', async () => {
    await waitUntil(async () => ((await (await edge.admin('/_edge/api/status')).json()) as { shards: { id: string; healthy: boolean }[] }).shards.some((s) => s.healthy), 20_000, () => 'no shard healthy');
    const clients: FeedClient[] = [];
    for (const transport of TRANSPORTS) clients.push(await connectFeedClient(edge.urlFor('session.localhost'), { transport, item: 'feed' }));
    try {
      await waitUntil(() => clients.every((c) => feed.isLive(c.values)), 10_000, () => 'clients not live');
      await edge.restart();
      const since = feed.tick;
      await waitUntil(
        () => clients.every((c) => c.values.some((v) => Number(v) > since + 5)),
        30_000,
        () => `not all live again: ${clients.map((c) => `${c.values.at(-1)} ${c.statuses.slice(-3).join('>')}`).join(' | ')}`,
      );
      for (const c of clients) {
        expect(c.sessions).toHaveLength(1);
        expect(c.serverErrors).toEqual([]);
        expect(c.subscription.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});
