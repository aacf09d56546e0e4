import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { createClient, watchSubscription } from './support/client.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { countedGaps, startCountedFeed, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session`: a client whose connection to the edge drops recovers its session by TLCP recovery
 * (`LS_recovery_from`), served from the session object's own log — the upstream never knew — with
 * every event once and in order. A TCP relay between the client and the edge stands for the network.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
let origin: OriginHandle;
let edge: EdgeHandle;
let relay: Relay;
const run = randomBytes(4).toString('hex');

resolveLocalhostNames();

beforeAll(async () => {
  origin = await startOrigin({ SHARD_ID: 'v1', EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });
  edge = await startSessionEdge(secrets, [{ id: origin.shardId, url: origin.url }]);
  relay = await startRelay(edge.port);
}, 120_000);

afterAll(async () => {
  await relay?.close();
  await edge?.stop();
  await origin?.stop();
});

describe("a client's dropped connection", () => {
  it.each(['WS-STREAMING', 'HTTP-STREAMING'] as const)('%s: recovers the same session from the object, every DISTINCT event once and in order', async (transport) => {
    const item = `r-${run}-${transport}`;
    // The control link carries the relay's port (the Host the client used): every later request goes through it too.
    const watched = createClient(`http://session.localhost:${relay.port}`, { transport });
    const events = watchSubscription(watched.client, { mode: 'DISTINCT', items: [item], fields: ['n'], dataAdapter: 'FEED', snapshot: 'yes' });
    watched.client.connect();
    const feed = startCountedFeed(origin.url, PUBLISH_TOKEN, item, 50);
    try {
      await watched.status(new RegExp(`^CONNECTED:${transport}$`));
      await events.subscribed();
      await events.until((u) => u.length >= 10, 'events before the drop');
      const statusesBefore = watched.statuses.length;

      // The network drops, and stays down while events go on: they can only come back from the object's log.
      relay.resetNext(Number.MAX_SAFE_INTEGER);
      relay.cut();
      await watched.status(/^DISCONNECTED:TRYING-RECOVERY$/, statusesBefore);
      const missed = feed.last + 5;
      await waitUntil(() => feed.last >= missed, 10_000, () => 'feed stalled');
      relay.resetNext(0);

      await watched.status(new RegExp(`^CONNECTED:${transport}$`), statusesBefore);
      const afterRecovery = feed.last + 10;
      await events.until((u) => u.length >= afterRecovery, 'events after the recovery');
      await feed.stop();
      expect(feed.failures).toEqual([]);
      await waitUntil(
        () => events.updates.length >= feed.last,
        10_000,
        () => `events missing: ${countedGaps(events.updates.map((u) => u.values.n), feed.last)}`,
      );
      expect(countedGaps(events.updates.map((u) => u.values.n), feed.last)).toBeNull();
      expect(watched.sessions).toHaveLength(1);
      expect(watched.serverErrors).toEqual([]);
      expect(events.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
      expect(events.lost).toEqual([]);
      if (transport === 'HTTP-STREAMING') expect(relay.upstream.some((r) => /bind_session[\s\S]*LS_recovery_from=/.test(r))).toBe(true);
    } finally {
      relay.resetNext(0);
      await feed.stop();
      watched.close();
    }
  });
});
