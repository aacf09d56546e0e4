import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, originStatus, publish } from './support/origin.ts';
import { freePort } from './support/ports.ts';
import { SLOW_START_MS } from '../worker/balance.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { waitUntil } from './support/wait.ts';
import { connectFeedClient, type FeedClient, type Transport } from './support/client.ts';

/**
 * Every CR-pinning mode of the edge, over WS-STREAMING and HTTP-STREAMING, with the official client
 * and real origins: sessions spread over both shards, and every control and rebind request of a
 * session lands on the shard that created it. One workerd serves all modes, one domain each.
 *
 * Origins s1/s2 issue self-routing session ids and name a direct CR listener as their control link
 * (what mode `partial` needs; the other domains rewrite or ignore it). Origins p1/p2 issue opaque
 * ids, like genuine Lightstreamer Servers, so only stickiness or learned pins can route them.
 *
 * Where balancing puts each case's sessions is exact, not luck. On a loaded machine one probe of a
 * shard can time out; the registry then calls it down, and once back it is in slow start for
 * SLOW_START_MS, admitted to a placement only one time in ten at first: all eight sessions of a case
 * went to the other shard. A refreshed snapshot can also bring session counts older than the
 * placements the refresh makes the isolate forget. So each case waits until the registry has seen
 * its shards empty and fully ramped, and places every session from the snapshot that read takes
 * (it outlives any case) plus the isolate's own count of what it placed since: they alternate.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const origins: Record<string, OriginHandle> = {};
const crPorts: Record<string, number> = {};
let edge: EdgeHandle;

resolveLocalhostNames();

beforeAll(async () => {
  const common = { EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN, KEEPALIVE_MS: '2000' };
  // Four listeners picked up front and distinct: a port just released may be handed out again.
  const ports = new Set<number>();
  while (ports.size < 4) ports.add(await freePort());
  const [p1, p2, p3, p4] = [...ports];
  const listenerPorts: Record<string, [number, number]> = { s1: [p1, p2], s2: [p3, p4] };
  await Promise.all(
    ['s1', 's2'].map(async (id) => {
      const [port, crPort] = listenerPorts[id];
      crPorts[id] = crPort;
      origins[id] = await startOrigin({
        ...common,
        SHARD_ID: id,
        PORT: String(port),
        LISTENERS: JSON.stringify([
          { name: 'S', protocol: 'http', host: '127.0.0.1', port },
          { name: 'CR', protocol: 'http', host: '127.0.0.1', port: crPort },
        ]),
        CONTROL_LINK: `127.0.0.1:${crPort}`,
      });
    }),
  );
  await Promise.all(['p1', 'p2'].map(async (id) => (origins[id] = await startOrigin({ ...common, SHARD_ID: id, SESSION_ID_STYLE: 'opaque' }))));
  edge = await startEdge({
    secrets,
    shards: Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })),
    vars: { SNAPSHOT_TTL_MS: '600000' },
    domains: [
      { host: 'localhost', modes: ['path', 'session-id'], shards: ['s1', 's2'] },
      { host: 'sid.localhost', modes: ['session-id'], shards: ['s1', 's2'] },
      { host: 'push.localhost', modes: ['host'], shards: ['s1', 's2'], shardHosts: { 's1.localhost': 's1', 's2.localhost': 's2' } },
      { host: 'partial.localhost', modes: ['partial'], controlLink: 'origin', shards: ['s1', 's2'] },
      { host: '*.cookie.localhost', modes: ['cookie'], shards: ['p1', 'p2'] },
      { host: 'ip.localhost', modes: ['ip'], shards: ['p1', 'p2'] },
      { host: 'pin.localhost', modes: ['pin'], shards: ['p1', 'p2'] },
    ],
  });
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

const CLIENTS_PER_TRANSPORT = 4;

interface ModeCase {
  readonly mode: string;
  /** Test title when one mode has several cases. */
  readonly title?: string;
  readonly shards: readonly [string, string];
  readonly url: (n: number) => string;
  readonly ignoreControlLink?: boolean;
  readonly cookies?: boolean;
  readonly headers?: (n: number) => Record<string, string>;
  /** Where CR requests go by CONOK's control link, for modes that use one. */
  readonly instanceAddress?: (shard: string) => string;
}

const cases: ModeCase[] = [
  { mode: 'path', shards: ['s1', 's2'], url: () => edge.urlFor('localhost'), instanceAddress: (s) => `${edge.urlFor('localhost')}/s/${s}` },
  { mode: 'session-id', shards: ['s1', 's2'], url: () => edge.urlFor('sid.localhost'), ignoreControlLink: true },
  // s1/s2 announce a control link for partial mode; a client of this domain that follows links must
  // still be kept on the balancing host, so the edge replaces the origin's link with `*`.
  {
    mode: 'session-id',
    title: 'session-id (client follows the control link)',
    shards: ['s1', 's2'],
    url: () => edge.urlFor('sid.localhost'),
    // The client reports no instance address for `*`: it stays on the address it was given.
    instanceAddress: () => '',
  },
  { mode: 'host', shards: ['s1', 's2'], url: () => edge.urlFor('push.localhost'), instanceAddress: (s) => edge.urlFor(`${s}.localhost`) },
  { mode: 'partial', shards: ['s1', 's2'], url: () => edge.urlFor('partial.localhost'), instanceAddress: (s) => `http://127.0.0.1:${crPorts[s]}` },
  { mode: 'cookie', shards: ['p1', 'p2'], url: (n) => edge.urlFor(`c${n}.cookie.localhost`), cookies: true },
  // All test clients share 127.0.0.1; locally workerd takes CF-Connecting-IP from the request, which
  // on Cloudflare only the platform sets, so each client plays a different source address.
  { mode: 'ip', shards: ['p1', 'p2'], url: () => edge.urlFor('ip.localhost'), headers: (n) => ({ 'CF-Connecting-IP': `10.0.0.${n}` }) },
  { mode: 'pin', shards: ['p1', 'p2'], url: () => edge.urlFor('pin.localhost') },
];

interface RegistryShard {
  id: string;
  healthy: boolean;
  draining: boolean;
  sessions: number;
  upSince: number | null;
}

/**
 * Waits until the registry has probed `shards` empty, healthy and fully ramped (a shard that was once
 * seen down is admitted only now and then for SLOW_START_MS). The admin read that sees it hands this
 * isolate the snapshot the next sessions are placed from.
 */
async function balancerAtRest(shards: readonly string[]): Promise<void> {
  let seen: RegistryShard[] = [];
  const atRest = (s: RegistryShard | undefined) =>
    !!s && s.healthy && !s.draining && s.sessions === 0 && s.upSince !== null && Date.now() - s.upSince >= SLOW_START_MS;
  await waitUntil(
    async () => {
      seen = ((await (await edge.admin('/_edge/api/status')).json()) as { shards: RegistryShard[] }).shards;
      return shards.every((id) => atRest(seen.find((s) => s.id === id)));
    },
    SLOW_START_MS + 15_000,
    () => `the registry never saw ${shards.join(', ')} empty and fully up: ${JSON.stringify(seen)}`,
  );
}

async function sessionsOn(shards: readonly string[]): Promise<Record<string, number>> {
  const entries = await Promise.all(shards.map(async (s) => [s, (await originStatus(origins[s].url)).sessions] as const));
  return Object.fromEntries(entries);
}

describe.each(cases.map((c) => ({ ...c, title: c.title ?? c.mode })))('mode $title', (mc) => {
  it('spreads sessions over both shards and keeps every CR request on the session’s shard', async () => {
    // Closed clients leave sessions waiting for recovery; end them so counts below are this case's.
    for (const o of Object.values(origins)) {
      await fetch(`${o.url}/api/sessions/end`, { method: 'POST', headers: { authorization: `Bearer ${secrets.originAdmin}`, 'content-type': 'application/json' }, body: '{"all":true}' });
    }
    await waitUntil(async () => Object.values(await sessionsOn(mc.shards)).every((n) => n === 0), 5_000, () => 'sessions of an earlier case linger');
    await balancerAtRest(mc.shards);
    const wrongBefore = await Promise.all(mc.shards.map(async (s) => (await originStatus(origins[s].url)).wrongInstance));
    const item = `routing_${mc.mode}`;
    const clients: FeedClient[] = [];
    const transports: Transport[] = ['WS-STREAMING', 'HTTP-STREAMING'];
    try {
      let n = 0;
      for (const transport of transports) {
        for (let i = 0; i < CLIENTS_PER_TRANSPORT; i++) {
          n++;
          clients.push(
            await connectFeedClient(mc.url(n), {
              transport,
              item,
              ignoreControlLink: mc.ignoreControlLink,
              cookies: mc.cookies,
              headers: mc.headers?.(n),
              // HTTP streams end and rebind every ~1.5 kB: each update below forces rebinds (CR).
              contentLength: transport === 'HTTP-STREAMING' ? 1_500 : undefined,
            }),
          );
        }
      }
      const shardsUsed = clients.map((c) => c.shard());
      expect(new Set(shardsUsed), `sessions placed on ${shardsUsed.join(' ')}`).toEqual(new Set(mc.shards));

      // Subscriptions were sent as control requests after CONOK; updates through rebinds prove the binds.
      const padding = 'x'.repeat(400);
      for (let i = 1; i <= 8; i++) {
        await Promise.all(mc.shards.map((s) => publish(origins[s].url, PUBLISH_TOKEN, { item, fields: { v: `${i}-${padding}` } })));
      }
      await waitUntil(() => clients.every((c) => c.values.at(-1) === `8-${padding}`), 15_000, () =>
        `not every client got the last update: ${clients.map((c) => `${c.shard()}:${c.values.length}`).join(' ')}`,
      );

      // The origins agree with the clients on who holds which session.
      const onShard = await sessionsOn(mc.shards);
      for (const s of mc.shards) expect(onShard[s]).toBe(clients.filter((c) => c.shard() === s).length);
      const wrongAfter = await Promise.all(mc.shards.map(async (s) => (await originStatus(origins[s].url)).wrongInstance));
      expect(wrongAfter).toEqual(wrongBefore);

      for (const c of clients) {
        expect(c.serverErrors).toEqual([]);
        expect(c.subscription.errors).toEqual([]);
        // One session for the whole run: no CR request ever met "session not found".
        expect(c.sessions).toHaveLength(1);
        expect(c.statuses.filter((s) => s.startsWith('DISCONNECTED'))).toEqual([]);
        if (mc.instanceAddress) {
          const address = c.client.connectionDetails.getServerInstanceAddress() ?? '';
          expect(address.replace(/\/$/, '')).toBe(mc.instanceAddress(c.shard()!));
        }
      }
    } finally {
      for (const c of clients) c.close();
    }
  }, SLOW_START_MS + 60_000);
});

describe('polling transports', () => {
  it('keep every poll on the session’s shard: each poll’s CONOK carries the edge’s control link', async () => {
    const item = 'routing_polling';
    const clients = await Promise.all(
      (['WS-POLLING', 'HTTP-POLLING'] as const).map((transport) => connectFeedClient(edge.urlFor('localhost'), { transport, item })),
    );
    try {
      // Each update is received before the next is published, so each comes with a poll of its own.
      for (let i = 1; i <= 5; i++) {
        await Promise.all(['s1', 's2'].map((s) => publish(origins[s].url, PUBLISH_TOKEN, { item, fields: { v: `p${i}` } })));
        await waitUntil(() => clients.every((c) => c.values.at(-1) === `p${i}`), 10_000, () => `polls missed p${i}: ${clients.map((c) => c.values.join(',')).join(' | ')}`);
      }
      for (const c of clients) {
        expect(c.sessions).toHaveLength(1);
        expect(c.serverErrors).toEqual([]);
        expect(c.client.connectionDetails.getServerInstanceAddress()).toBe(`${edge.urlFor('localhost')}/s/${c.shard()}`);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('routing counters', () => {
  it('count S decisions, CR decisions by mode, and learned pins cost no failovers', async () => {
    await waitUntil(
      async () => {
        const res = await edge.admin('/_edge/api/status');
        const { counters } = (await res.json()) as { counters: Record<string, number> };
        return (counters['cr.pin'] ?? 0) > 0 && (counters['cr.path'] ?? 0) > 0;
      },
      5_000,
      () => 'counters never reported',
    );
    const { counters } = (await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> };
    for (const key of ['s.balance', 'cr.path', 'cr.session-id', 'cr.host', 'cr.cookie', 'cr.ip', 'cr.pin']) expect(counters[key], key).toBeGreaterThan(0);
    expect(counters.failovers ?? 0).toBe(0);
    expect(counters.stickinessViolations ?? 0).toBe(0);
  });
});
