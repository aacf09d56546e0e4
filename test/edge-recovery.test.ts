import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { createClient, watchSubscription, type WatchedClient, type WatchedSubscription } from './support/client.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Session recovery through the edge (tlcp.md §B): the network drops the client's stream mid-flow,
 * the official client posts `bind_session` with `LS_recovery_from` to its control-link address, and
 * the edge must take that request to the shard holding the session — by the path the edge wrote
 * into CONOK, by the session id, or by the pin learned at creation. The client keeps its session and
 * sees every published update exactly once.
 *
 * Two TCP relays make the network observable: one between the clients and the edge, cut to drop every
 * client connection at once, and one in front of each origin, recording what the edge sent it.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const origins: Record<string, OriginHandle> = {};
const originRelays: Record<string, Relay> = {};
let edge: EdgeHandle;
let clientRelay: Relay;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(
    ['r1', 'r2'].map(async (id) => {
      // A short keepalive: the client notices a stream that went silent within a few seconds.
      origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN, KEEPALIVE_MS: '1000' });
      originRelays[id] = await startRelay(origins[id].port);
    }),
  );
  edge = await startEdge({
    secrets,
    shards: ['r1', 'r2'].map((id) => ({ id, url: `http://127.0.0.1:${originRelays[id].port}` })),
    domains: [
      { host: 'localhost', modes: ['path'] },
      { host: 'sid.localhost', modes: ['session-id'] },
      // The origins' ids name their shard, but a pin-only domain ignores that: only the pin routes.
      { host: 'pin.localhost', modes: ['pin'] },
    ],
  });
  clientRelay = await startRelay(edge.port);
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await clientRelay?.close();
  await edge?.stop();
  await Promise.all(Object.values(originRelays).map((r) => r.close()));
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface Subscriber {
  readonly watched: WatchedClient;
  readonly transport: string;
  readonly item: string;
  readonly raw: WatchedSubscription;
  readonly merge: WatchedSubscription;
}

const values = (s: WatchedSubscription) => s.updates.map((u) => u.values.v);

/** Requests the edge sent an origin for this session that carry `LS_recovery_from`. */
function recoveriesSeenBy(shard: string, sessionId: string): number {
  const requests = originRelays[shard].upstream.flatMap((conversation) => conversation.split(/(?=POST \/)/));
  return requests.filter((r) => r.startsWith('POST /lightstreamer/bind_session.txt') && r.includes(`LS_session=${sessionId}`) && r.includes('LS_recovery_from=')).length;
}

const UPDATES = 40;

describe.each([
  { mode: 'path', host: 'localhost' },
  { mode: 'session-id', host: 'sid.localhost', ignoreControlLink: true },
  { mode: 'pin', host: 'pin.localhost' },
])('mode $mode', ({ mode, host, ignoreControlLink }) => {
  it('recovers a dropped stream on the session’s shard: same session, no gap, no duplicate', async () => {
    const url = `http://${host}:${clientRelay.port}`;
    const subscribers: Subscriber[] = [];
    try {
      for (const transport of ['WS-STREAMING', 'HTTP-STREAMING'] as const) {
        const watched = createClient(url, { transport });
        if (ignoreControlLink) watched.client.connectionOptions.setServerInstanceAddressIgnored(true);
        watched.client.connect();
        await watched.status(new RegExp(`^CONNECTED:${transport}$`));
        const item = `recovery_${mode}_${transport}_${randomBytes(3).toString('hex')}`;
        const raw = watchSubscription(watched.client, { mode: 'RAW', items: [item], fields: ['v'], dataAdapter: 'FEED' });
        const merge = watchSubscription(watched.client, { mode: 'MERGE', items: [item], fields: ['v'], dataAdapter: 'FEED', snapshot: 'no', maxFrequency: 'unfiltered' });
        await Promise.all([raw.subscribed(), merge.subscribed()]);
        subscribers.push({ watched, transport, item, raw, merge });
      }
      const sessions = subscribers.map((s) => s.watched.client.connectionDetails.getSessionId() as string);
      const shards = sessions.map((id) => id.split('.')[0]);
      for (const [i, s] of subscribers.entries()) expect(s.watched.client.connectionDetails.getServerSocketName()).toBe(`edgepush ${shards[i]}`);

      const publishTo = (n: number) =>
        Promise.all(Object.values(origins).map((o) => publish(o.url, PUBLISH_TOKEN, subscribers.map((s) => ({ item: s.item, fields: { v: String(n) } })))));
      for (let n = 1; n <= UPDATES; n++) {
        await publishTo(n);
        if (n === UPDATES / 4) {
          await waitUntil(() => subscribers.every((s) => values(s.raw).length >= n), 5_000, () => 'updates before the drop missing');
          clientRelay.cut();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await waitUntil(
        () => subscribers.every((s) => values(s.raw).length >= UPDATES && values(s.merge).length >= UPDATES),
        20_000,
        () => `updates missing after the drop: ${subscribers.map((s) => `${s.transport} ${s.watched.statuses.join('>')} raw ${values(s.raw).length} merge ${values(s.merge).length}`).join(' | ')}`,
      );
      // A duplicate would come before an update published after all of them: once that one is in, count.
      const last = String(UPDATES + 1);
      await publishTo(UPDATES + 1);
      await waitUntil(() => subscribers.every((s) => values(s.raw).at(-1) === last && values(s.merge).at(-1) === last), 10_000, () => 'the closing update never arrived');

      const expected = Array.from({ length: UPDATES + 1 }, (_, i) => String(i + 1));
      for (const [i, s] of subscribers.entries()) {
        expect(values(s.raw), s.transport).toEqual(expected);
        expect(values(s.merge), s.transport).toEqual(expected);
        expect(s.watched.client.connectionDetails.getSessionId(), s.transport).toBe(sessions[i]);
        expect(s.watched.statuses, s.transport).toContain('DISCONNECTED:TRYING-RECOVERY');
        expect(s.watched.statuses.filter((st) => st === 'DISCONNECTED:WILL-RETRY' || st === 'DISCONNECTED'), s.transport).toEqual([]);
        expect(s.watched.serverErrors, s.transport).toEqual([]);
        // The recovery request reached the shard holding the session, and nothing of it the other one.
        const other = shards[i] === 'r1' ? 'r2' : 'r1';
        expect(recoveriesSeenBy(shards[i], sessions[i]), s.transport).toBeGreaterThan(0);
        expect(originRelays[other].upstream.some((c) => c.includes(sessions[i])), s.transport).toBe(false);
      }
    } finally {
      for (const s of subscribers) s.watched.client.disconnect();
    }
  });
});
