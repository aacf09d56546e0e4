import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { waitUntil } from './support/wait.ts';
import { connectFeedClient, type FeedClient, type Transport } from './support/client.ts';

/**
 * The per-client create rate limit through the real edge, with real origins and the official
 * client: a burst within the allowance passes, creates beyond it wait their turn, only those that
 * would wait too long are refused (an answer the client retries with backoff), and one address's
 * excess costs no other address anything. A client is an IPv4 address or an IPv6 /64. Locally
 * workerd believes a client-sent CF-Connecting-IP, which lets each request play any address.
 */

const secrets = newSecrets();
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;

resolveLocalhostNames();

// Ids that name their shard: when a NAT's first re-create moves the shared IP association, its
// neighbours' recovery binds follow the association, and only the id says their session is elsewhere.
const originEnv = (id: string) => ({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, KEEPALIVE_MS: '1000' });

beforeAll(async () => {
  await Promise.all(['r1', 'r2'].map(async (id) => (origins[id] = await startOrigin(originEnv(id)))));
  edge = await startEdge({
    secrets,
    shards: Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })),
    domains: [
      // One create a second sustained, three at once: a fourth and fifth wait 1 and 2 s, a sixth is refused.
      { host: 'burst.localhost', modes: ['path'], createsPerMinute: 60, createBurst: 3 },
      // One create per 6 s: a second create right after the first is refused, and its retry 4 s later waits its turn.
      { host: 'strict.localhost', modes: ['path'], createsPerMinute: 10, createBurst: 1 },
      // One create per 2 s, two at once: three creates at once pass, the third after waiting up to 2 s.
      { host: 'nat.localhost', modes: ['ip'], createsPerMinute: 30, createBurst: 2 },
      { host: 'open.localhost', modes: ['path'], createsPerMinute: 0 },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly text: string;
}

/** A polling create through node:http, so it carries the domain's Host header and the address it plays. */
function create(host: string, ip: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { host: `${host}:${edge.port}`, 'content-type': 'text/plain; charset=utf-8', 'cf-connecting-ip': ip };
    const path = '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0';
    const req = http.request({ host: '127.0.0.1', port: edge.port, path, method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], text }));
    });
    req.on('error', reject);
    req.end('LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=limit&LS_send_sync=false\r\n');
  });
}

const created = (a: Answer) => a.status === 200 && /^CONOK,/m.test(a.text);

async function counters(): Promise<{ delayed: number; refused: number }> {
  const { counters: c } = (await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> };
  return { delayed: c.createsDelayed ?? 0, refused: c.createsRefused ?? 0 };
}

describe('a burst of creates from one client', () => {
  it('passes within the burst, waits beyond it, is refused with 429 past the longest wait, and costs other clients nothing', async () => {
    const before = await counters();
    // Twelve addresses of one /64: one client.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => create('burst.localhost', `2001:db8:bad:1::${i + 1}`)));
    const refused = answers.filter((a) => a.status === 429);
    console.log(`burst of 12 creates from one /64: ${answers.filter(created).length} created, ${refused.length} refused`);
    // Three at once and two after waiting their turn; more only if the burst took over a second to arrive.
    expect(answers.filter(created).length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(answers.filter(created).length + refused.length).toBe(12);
    for (const r of refused) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.text).toMatch(/too many new sessions/);
    }
    let after = before;
    await waitUntil(
      async () => {
        after = await counters();
        return after.delayed - before.delayed >= 2 && after.refused - before.refused === refused.length;
      },
      5_000,
      () => `counters ${JSON.stringify(after)}, before ${JSON.stringify(before)}, ${refused.length} refused`,
    );
    // The refused client's neighbours, in another /64 or on IPv4, and its own creates on a domain without a limit, pass.
    for (const [host, ip] of [['burst.localhost', '2001:db8:bad:2::1'], ['burst.localhost', '192.0.2.10'], ['open.localhost', '2001:db8:bad:1::1']]) {
      expect(created(await create(host, ip)), `${ip} on ${host}`).toBe(true);
    }
  });
});

describe('the official client, refused', () => {
  it.each<Transport>(['WS-STREAMING', 'HTTP-STREAMING'])('retries over %s after its retry delay and connects once its turn comes, without an error', async (transport) => {
    const ip = transport === 'WS-STREAMING' ? '192.0.2.20' : '192.0.2.21';
    expect(created(await create('strict.localhost', ip))).toBe(true);
    const client = await connectFeedClient(edge.urlFor('strict.localhost'), { transport, item: 'limit_retry', headers: { 'CF-Connecting-IP': ip } });
    try {
      expect(client.statuses).toContain('DISCONNECTED:WILL-RETRY');
      expect(client.statuses.indexOf('DISCONNECTED:WILL-RETRY')).toBeLessThan(client.statuses.indexOf(`CONNECTED:${transport}`));
      expect(client.serverErrors).toEqual([]);
      expect(client.sessions).toHaveLength(1);
    } finally {
      client.close();
    }
  });
});

describe('a NAT’s reconnect storm', () => {
  it('is shaped, not refused: its clients connect at once, and all re-create on the other shard when theirs dies', async () => {
    const before = await counters();
    const transports: Transport[] = ['WS-STREAMING', 'HTTP-STREAMING'];
    // Three hosts behind one /64: for the edge one client, with a burst of two.
    const clients: FeedClient[] = await Promise.all(
      Array.from({ length: 3 }, (_, i) =>
        connectFeedClient(edge.urlFor('nat.localhost'), { transport: transports[i % 2], item: 'limit_nat', headers: { 'CF-Connecting-IP': `2001:db8:ca7:1::${i + 1}` } }),
      ),
    );
    const connectedAt = Date.now();
    try {
      const shards = new Set(clients.map((c) => c.shard()));
      expect(shards.size).toBe(1);
      const [home] = shards as Set<string>;
      const other = home === 'r1' ? 'r2' : 'r1';
      for (const c of clients) expect(c.statuses.filter((s) => s.startsWith('DISCONNECTED'))).toEqual([]);
      await waitUntil(async () => (await counters()).delayed - before.delayed >= 1, 5_000, () => 'no create of the storm waited its turn');

      // Nothing to observe: the client's allowance is back once its three slots (6 s) have passed, so the storm below starts afresh.
      await new Promise((r) => setTimeout(r, Math.max(0, connectedAt + 6_000 - Date.now())));
      const killedAt = Date.now();
      await origins[home].kill();
      await waitUntil(
        () => clients.every((c) => c.shard() === other && c.statuses.at(-1)?.startsWith('CONNECTED:')),
        30_000,
        () => `not all back: ${clients.map((c) => `${c.shard()} ${c.statuses.slice(-3).join('>')} ${JSON.stringify(c.serverErrors)}`).join(' | ')}`,
      );
      const after = await counters();
      console.log(`NAT storm: ${clients.length} clients back on ${other} in ${Date.now() - killedAt} ms; ${after.delayed - before.delayed} creates waited, ${after.refused - before.refused} refused`);
      for (const c of clients) {
        expect(c.serverErrors).toEqual([]);
        expect(c.sessions.length).toBeGreaterThanOrEqual(2);
      }
      expect(after.refused).toBe(before.refused);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
