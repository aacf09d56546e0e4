import ls from 'lightstreamer-client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, originStatus } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { mintStickyCookie } from '../worker/sticky-cookie.ts';
import { RawSocket } from './support/tlcp-raw.ts';
import { waitUntil } from './support/wait.ts';
import { connectFeedClient, type FeedClient } from './support/client.ts';

/**
 * A full origin answers a create with `CONERR,5`, which the 9.2 client retries at once, through the
 * balancer again. The edge places such a create on another shard of the pool itself, so a client
 * whose stickiness or the balancing points at the full shard connects without ever seeing the 5.
 *
 * Shard `full` holds one session at most (MAX_SESSIONS=1) and has it from a direct client before the
 * edge sees any; it weighs far more than `roomy`, so balancing prefers it once `roomy` holds a session.
 */

const { LightstreamerClient } = ls;
const secrets = newSecrets();
let full: OriginHandle;
let roomy: OriginHandle;
let edge: EdgeHandle;
const clients: FeedClient[] = [];

resolveLocalhostNames();

beforeAll(async () => {
  const common = { EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin };
  [full, roomy] = await Promise.all([
    startOrigin({ ...common, SHARD_ID: 'full', MAX_SESSIONS: '1' }),
    startOrigin({ ...common, SHARD_ID: 'roomy' }),
  ]);
  clients.push(await connectFeedClient(full.url, { transport: 'WS-STREAMING', item: 'occupant' }));
  edge = await startEdge({
    secrets,
    shards: [
      { id: 'full', url: full.url, weight: 100 },
      { id: 'roomy', url: roomy.url, weight: 1 },
    ],
    domains: [
      { host: 'localhost', modes: ['cookie'] },
      { host: '*', modes: ['path', 'session-id'] },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await edge?.stop();
  await Promise.all([full, roomy].map((o) => o?.stop()));
});

const counters = async () => ((await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> }).counters;

describe('a create refused as overloaded', () => {
  it('is placed on the shard with room although the sticky cookie names the full one', async () => {
    const expiresAt = Date.now() + 3_600_000;
    const cookie = `edgepush_sticky=${await mintStickyCookie(secrets.cookie, 'localhost', 'full', expiresAt)}`;

    const res = await fetch(`${edge.urlFor('localhost')}/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'text/plain; charset=utf-8' },
      body: 'LS_adapter_set=DEMO&LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0\r\n',
    });
    const text = await res.text();
    expect(text.split('\r\n')[0]).toMatch(/^CONOK,roomy\./);
    // The new cookie follows the session to its shard, or every later create would meet the 5 again.
    expect(res.headers.get('set-cookie')).toMatch(/^edgepush_sticky=roomy\./);

    LightstreamerClient.addCookies(edge.urlFor('localhost'), [`${cookie}; Path=/`]);
    const t = await connectFeedClient(edge.urlFor('localhost'), { transport: 'HTTP-STREAMING', cookies: true, item: 'overload_cookie' });
    clients.push(t);
    expect(t.shard()).toBe('roomy');
    expect(t.serverErrors).toEqual([]);
    expect((await originStatus(full.url)).sessions).toBe(1);
    await expect.poll(async () => (await counters()).overloadedCreatesPlacedAgain ?? 0, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
  });

  it.each(['HTTP-STREAMING', 'WS-STREAMING'] as const)('is placed on the shard with room when balancing picks the full one (%s)', async (transport) => {
    // Balancing prefers `full` (1 session per 100 weight) over `roomy` (≥ 1 per 1) once the registry has seen both.
    await waitUntil(
      async () => {
        const status = (await (await edge.admin('/_edge/api/status')).json()) as { shards: { id: string; sessions: number }[] };
        return (status.shards.find((s) => s.id === 'roomy')?.sessions ?? 0) >= 1 && (status.shards.find((s) => s.id === 'full')?.sessions ?? 0) === 1;
      },
      10_000,
      () => 'the registry never saw both shards loaded',
    );
    const before = (await counters()).overloadedCreatesPlacedAgain ?? 0;
    if (transport === 'WS-STREAMING') {
      // Over WebSocket the official client would hide a 5 by retrying over HTTP: the wire must show none.
      const raw = new RawSocket(edge.url);
      try {
        expect(await raw.create()).toMatch(/^roomy\./);
        expect(raw.lines.filter((l) => l.startsWith('CONERR'))).toEqual([]);
      } finally {
        raw.close();
      }
    }
    const t = await connectFeedClient(edge.url, { transport, item: `overload_${transport}` });
    clients.push(t);
    expect(t.shard()).toBe('roomy');
    expect(t.serverErrors).toEqual([]);
    expect((await originStatus(full.url)).sessions).toBe(1);
    await expect.poll(async () => (await counters()).overloadedCreatesPlacedAgain ?? 0, { timeout: 10_000 }).toBeGreaterThan(before);
  });
});
