import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { connectClient, sendMessage, watchSubscription, type MessageOutcome, type Transport } from './support/client.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { openOnShard, placingOn, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session`: the connection between a session object and the shard of its upstream drops while
 * the shard lives (a network blip). Whatever the client asked meanwhile — a subscription, a delete,
 * a message — gets its answer: requests whose answers were on their way on the lost connection, and
 * requests made while the object opens a new one. A TCP relay in front of one shard stands for the
 * network; another in front of the edge shows when the client's requests left it.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
/** Between the edge and shard n1 (n2 is reached directly). */
let shardPath: Relay;
/** Between the clients and the edge. */
let clientPath: Relay;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(['n1', 'n2'].map(async (id) => (origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN }))));
  shardPath = await startRelay(origins.n1.port);
  edge = await startSessionEdge(secrets, [
    { id: 'n1', url: `http://127.0.0.1:${shardPath.port}` },
    { id: 'n2', url: origins.n2.url },
  ]);
  clientPath = await startRelay(edge.port);
}, 120_000);

afterAll(async () => {
  await clientPath?.close();
  await edge?.stop();
  await shardPath?.close();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

const bytes = (relay: Relay) => relay.upstream.reduce((sum, s) => sum + s.length, 0);
/** A connection that carries (or starts with) an upstream socket's upgrade, not only the registry's probes. */
const isUpstream = (sent: string) => sent.includes('GET /lightstreamer HTTP/1.1');
/** What the edge sent n1 on connections that carry upstream sockets (workerd reuses a probe's connection for one). */
const upstreamBytes = () => shardPath.upstream.filter(isUpstream).reduce((sum, s) => sum + s.length, 0);

/** A client with its upstream on n1, subscribed to one item, and what it then asks of the session. */
async function clientOnN1(transport: Transport) {
  const watched = await placingOn(edge, 'n1', ['n1', 'n2'], () => openOnShard('n1', () => connectClient(`http://session.localhost:${clientPath.port}`, { transport })));
  const first = watchSubscription(watched.client, { mode: 'MERGE', items: ['first'], fields: ['v'], dataAdapter: 'FEED', snapshot: 'yes' });
  await first.subscribed();
  const outcomes: MessageOutcome[] = [];
  return {
    watched,
    first,
    outcomes,
    /** A new subscription, the first one deleted, and a message with a listener. */
    ask() {
      const second = watchSubscription(watched.client, { mode: 'MERGE', items: ['second'], fields: ['v'], dataAdapter: 'FEED', snapshot: 'yes' });
      watched.client.unsubscribe(first.sub);
      void sendMessage(watched.client, 'CHAT|during the blip', 'chat').then((o) => outcomes.push(o));
      return second;
    },
  };
}

describe('the connection to the shard drops while the shard lives', () => {
  it.each(['WS-STREAMING', 'HTTP-STREAMING'] as const)('%s: requests whose answers were on the lost connection are answered all the same', async (transport) => {
    const c = await clientOnN1(transport);
    try {
      // The path goes silent: the requests reach the shard's relay, their answers never come back.
      shardPath.stall();
      const before = upstreamBytes();
      const second = c.ask();
      await waitUntil(() => upstreamBytes() > before, 10_000, () => 'the requests never left the edge');
      shardPath.hold();
      shardPath.cut();
      await waitUntil(() => shardPath.held.length > 0, 10_000, () => 'nothing reconnected to n1');
      shardPath.release();

      await second.subscribed();
      await c.first.unsubscribed();
      await waitUntil(() => c.outcomes.length > 0, 20_000, () => 'the message got no outcome');
      expect(['processed', 'error']).toContain(c.outcomes[0].kind);
      expect(second.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
      expect(c.watched.sessions).toHaveLength(1);
      expect(c.watched.serverErrors).toEqual([]);
    } finally {
      shardPath.release();
      c.watched.close();
    }
  });

  it.each(['WS-STREAMING', 'HTTP-STREAMING'] as const)('%s: requests made while the object reconnects to the shard are sent there once it has', async (transport) => {
    const c = await clientOnN1(transport);
    try {
      // The object's new socket to n1 waits in the relay: it is reconnecting when the requests come.
      shardPath.hold();
      shardPath.cut();
      await waitUntil(() => shardPath.held.some(isUpstream), 10_000, () => `the object never reconnected to n1: ${shardPath.held.map((h) => h.split('\r\n')[0]).join(', ')}`);
      const before = bytes(clientPath);
      const second = c.ask();
      await waitUntil(() => bytes(clientPath) > before, 10_000, () => 'the client sent nothing');
      shardPath.release();

      await second.subscribed();
      await c.first.unsubscribed();
      await waitUntil(() => c.outcomes.length > 0, 20_000, () => 'the message got no outcome');
      expect(c.outcomes).toEqual([{ kind: 'processed', response: '' }]);
      expect(second.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
      expect(c.watched.sessions).toHaveLength(1);
      expect(c.watched.serverErrors).toEqual([]);
    } finally {
      shardPath.release();
      c.watched.close();
    }
  });
});
