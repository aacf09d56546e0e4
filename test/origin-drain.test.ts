import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originStatus, publish, startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { connectFeedClient, type FeedClient } from './support/client.ts';
import { httpRequest } from './support/http.ts';
import { openOnShard, placingOn } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * A rollout's SIGTERM (origin/session/drain.ts), with real origin processes behind the edge and the
 * official client: the origin refuses creates (the edge places them on another shard), ends its
 * sessions with END 48 a few at a time — at DRAIN_RATE, or faster when DRAIN_GRACE_SECONDS would
 * not suffice — and exits once none is left, within the grace period. Its clients stream again
 * from the other shard.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const SHARDS = ['d1', 'd2', 'd3'];
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;

const DRAIN: Record<string, { DRAIN_RATE: string; DRAIN_GRACE_SECONDS: string }> = {
  // The rate decides: 12 sessions at 4/s take 3 s, well within the grace.
  d1: { DRAIN_RATE: '4', DRAIN_GRACE_SECONDS: '60' },
  d2: { DRAIN_RATE: '100', DRAIN_GRACE_SECONDS: '600' },
  // The grace decides: 12 sessions at 1/s would take 12 s; the grace allows 5.
  d3: { DRAIN_RATE: '1', DRAIN_GRACE_SECONDS: '5' },
};

beforeAll(async () => {
  await Promise.all(
    SHARDS.map(async (id) => {
      origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN, ...DRAIN[id] });
    }),
  );
  edge = await startEdge({
    secrets,
    shards: SHARDS.map((id) => ({ id, url: origins[id].url })),
    domains: [{ host: '*', modes: ['path', 'session-id'], createsPerMinute: 0 }],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

const SESSIONS = 12;

/** SESSIONS clients with their sessions on `shard`, half over WebSocket, half over HTTP streaming. */
async function clientsOn(shard: string, item: string): Promise<FeedClient[]> {
  // Sessions of clients closed earlier wait out their recovery time: end them, so all counted here are ours.
  await fetch(`${origins[shard].url}/api/sessions/end`, { method: 'POST', headers: { authorization: `Bearer ${secrets.originAdmin}`, 'content-type': 'application/json' }, body: '{"all":true}' });
  await waitUntil(async () => (await originStatus(origins[shard].url)).sessions === 0, 5_000, () => `sessions linger on ${shard}`);
  const clients: FeedClient[] = [];
  await placingOn(edge, shard, SHARDS, async () => {
    for (let i = 0; i < SESSIONS; i++) {
      clients.push(
        await openOnShard(shard, () => connectFeedClient(edge.url, { transport: i % 2 === 0 ? 'WS-STREAMING' : 'HTTP-STREAMING', item })),
      );
    }
  });
  return clients;
}

interface Watched {
  /** Every session count the origin reported while it drained, in order. */
  readonly counts: number[];
  readonly exitCode: number | null;
  readonly exitedAfterMs: number;
}

/** SIGTERMs `shard` and reads its session count until it exits; `meanwhile` runs once it reports draining. */
async function terminate(shard: string, meanwhile: () => Promise<void>): Promise<Watched> {
  const { child } = origins[shard];
  const sentAt = Date.now();
  let exitedAfterMs = -1;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      exitedAfterMs = Date.now() - sentAt;
      resolve(code);
    }),
  );
  child.kill('SIGTERM');
  const counts: number[] = [];
  let ranMeanwhile: Promise<void> | null = null;
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    try {
      const status = (await (await fetch(`${origins[shard].url}/api/status`)).json()) as { sessions: number; draining: boolean };
      if (counts.at(-1) !== status.sessions) counts.push(status.sessions);
      if (status.draining) ranMeanwhile ??= meanwhile();
    } catch {
      // The listener closed: the process is on its way out.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await ranMeanwhile;
  return { counts, exitCode: await exited, exitedAfterMs };
}

async function expectMovedAndStreaming(clients: FeedClient[], from: string, item: string): Promise<void> {
  await waitUntil(
    () => clients.every((c) => c.sessions.length === 2 && c.shard() !== from && /^CONNECTED:/.test(c.statuses.at(-1) ?? '')),
    20_000,
    () => `not every client moved: ${clients.map((c) => `${c.sessions.length}@${c.shard()}:${c.statuses.at(-1)}`).join(' ')}`,
  );
  const others = SHARDS.filter((s) => s !== from && origins[s].child.exitCode === null);
  await Promise.all(others.map((s) => publish(origins[s].url, PUBLISH_TOKEN, { item, fields: { v: `after-${from}` } })));
  await waitUntil(() => clients.every((c) => c.values.at(-1) === `after-${from}`), 15_000, () => 'a moved client receives nothing');
  for (const c of clients) expect(c.subscription.errors).toEqual([]);
}

describe('SIGTERM', () => {
  it('refuses creates, which the edge places elsewhere, moves sessions a few at a time, then exits', async () => {
    const item = 'drain_rate';
    const clients = await clientsOn('d1', item);
    try {
      expect((await originStatus(origins.d1.url)).sessions).toBe(SESSIONS);
      let directCreate = '';
      let placedDuring: string | null = null;
      const watched = await terminate('d1', async () => {
        // Asked directly, the draining origin refuses a create with the code the edge re-places.
        const body = 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=drain\r\n';
        directCreate = (await httpRequest(origins.d1.port, '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', { body })).text;
        // Through the edge, a new client gets a session elsewhere.
        const late = await connectFeedClient(edge.url, { transport: 'WS-STREAMING', item });
        placedDuring = late.shard();
        late.close();
      });
      expect(directCreate).toMatch(/^CONERR,5,server shutting down\r\n/);
      expect(placedDuring).not.toBeNull();
      expect(placedDuring).not.toBe('d1');
      // Staggered: the origin was seen holding several counts between all and none, not one burst.
      expect(watched.counts[0]).toBe(SESSIONS);
      expect(watched.counts.at(-1)).toBe(0);
      expect(watched.counts.filter((n) => n > 0 && n < SESSIONS).length, `counts seen: ${watched.counts.join(' ')}`).toBeGreaterThanOrEqual(3);
      expect(watched.counts).toEqual([...watched.counts].sort((a, b) => b - a));
      expect(watched.exitCode).toBe(0);
      await expectMovedAndStreaming(clients, 'd1', item);
    } finally {
      for (const c of clients) c.close();
    }
  }, 90_000);

  it('ends every session within the grace period when the rate alone would not, then exits', async () => {
    const item = 'drain_grace';
    const clients = await clientsOn('d3', item);
    try {
      const watched = await terminate('d3', async () => {});
      expect(watched.counts[0]).toBe(SESSIONS);
      expect(watched.counts.at(-1)).toBe(0);
      expect(watched.counts.filter((n) => n > 0 && n < SESSIONS).length, `counts seen: ${watched.counts.join(' ')}`).toBeGreaterThanOrEqual(3);
      expect(watched.exitCode).toBe(0);
      // The platform's SIGKILL comes at the grace period: the origin is gone before it.
      expect(watched.exitedAfterMs).toBeLessThan(Number(DRAIN.d3.DRAIN_GRACE_SECONDS) * 1000);
      await expectMovedAndStreaming(clients, 'd3', item);
    } finally {
      for (const c of clients) c.close();
    }
  }, 90_000);
});
