import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { startSessionEdge } from './support/session-layer.ts';
import { connectClient, watchSubscription, type Transport } from './support/client.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session`: a request the session object cannot answer before the official client's retry
 * delay (4 s) — every shard hung, so its upstream is silent and no other can take it yet — is sent
 * again by the client over HTTP. The repeat is the same request: answered as the first, never
 * executed twice. A TCP relay in front of the edge shows when the client repeated itself.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let redis: RedisHandle;
let edge: EdgeHandle;
let clientPath: Relay;
const run = randomBytes(4).toString('hex');

resolveLocalhostNames();

beforeAll(async () => {
  redis = await startRedis();
  await Promise.all(
    ['t1', 't2'].map(async (id) => {
      origins[id] = await startOrigin({ SHARD_ID: id, REDIS_URL: redis.url, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });
    }),
  );
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })));
  clientPath = await startRelay(edge.port);
}, 120_000);

afterAll(async () => {
  await clientPath?.close();
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
  await redis?.stop();
});

/** How many requests through the relay so far carry `pattern`. */
const sent = (pattern: RegExp) => clientPath.upstream.join('').split(pattern).length - 1;

/** Every shard hangs while `during` runs; they resume whatever happens. */
async function withEveryShardHung(during: () => Promise<void>): Promise<void> {
  for (const o of Object.values(origins)) o.child.kill('SIGSTOP');
  try {
    await during();
  } finally {
    for (const o of Object.values(origins)) o.child.kill('SIGCONT');
  }
}

const openClient = (transport: Transport) => connectClient(`http://session.localhost:${clientPath.port}`, { transport });

describe('a request the client sends again because its answer is late', () => {
  it.each(['HTTP-STREAMING', 'HTTP-POLLING'] as const)('%s: a repeated add is the same subscription: subscribed once, no error', async (transport) => {
    const c = await openClient(transport);
    try {
      const item = `late-${run}-${transport}`;
      const adds = new RegExp(`LS_op=add&[^\\r\\n]*LS_group=${item}`, 'g');
      let sub!: ReturnType<typeof watchSubscription>;
      await withEveryShardHung(async () => {
        sub = watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['v'], dataAdapter: 'FEED', snapshot: 'yes' });
        await waitUntil(() => sent(adds) >= 2, 20_000, () => `the add was not sent again: ${sent(adds)}`);
      });
      await sub.subscribed();
      expect(sub.calls).toEqual({ subscribed: 1, unsubscribed: 0 });
      expect(sub.errors).toEqual([]);
      expect(c.sessions).toHaveLength(1);
      expect(c.serverErrors).toEqual([]);
    } finally {
      c.close();
    }
  });
});
