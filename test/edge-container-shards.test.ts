import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { originStatus, publish, startOrigin, type OriginHandle } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { connectFeedClient, type FeedClient, type Transport } from './support/client.ts';
import { openOnShard } from './support/session-layer.ts';
import { ROOT } from './support/process.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Origin shards as Cloudflare Containers, in workerd: SHARDS names container instances only, and
 * ORIGIN_CONTAINER is bound to a stand-in Durable Object that forwards to a local origin process
 * (test/workerd/container-stand-in.ts). The edge knows no origin URL at all, so every request that
 * reaches an origin here — clients' creates, binds and control requests on every routing mode,
 * the registry's probes, drain, direct instance access, the session layer's upstreams — went
 * through the shard transport to a container.
 *
 * c1/c2 issue session ids that name their shard; o1/o2 opaque ids, so that cookie, ip and pin
 * modes route by their own stickiness rather than by the id.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;

resolveLocalhostNames();

const containerOf = (shard: string) => `origin-${shard}`;

beforeAll(async () => {
  const common = { EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN, KEEPALIVE_MS: '2000' };
  await Promise.all([
    ...['c1', 'c2'].map(async (id) => (origins[id] = await startOrigin({ ...common, SHARD_ID: id }))),
    ...['o1', 'o2'].map(async (id) => (origins[id] = await startOrigin({ ...common, SHARD_ID: id, SESSION_ID_STYLE: 'opaque' }))),
  ]);
  edge = await startEdge({
    secrets,
    shards: Object.keys(origins).map((id) => ({ id, container: containerOf(id) })),
    containerStandIn: Object.fromEntries(Object.values(origins).map((o) => [containerOf(o.shardId), { url: o.url, shard: o.shardId }])),
    domains: [
      { host: 'localhost', modes: ['path', 'session-id'], shards: ['c1', 'c2'], createsPerMinute: 0 },
      { host: 'sid.localhost', modes: ['session-id'], shards: ['c1', 'c2'], createsPerMinute: 0 },
      { host: '*.cookie.localhost', modes: ['cookie'], shards: ['o1', 'o2'], createsPerMinute: 0 },
      { host: 'ip.localhost', modes: ['ip'], shards: ['o1', 'o2'], createsPerMinute: 0 },
      { host: 'pin.localhost', modes: ['pin'], shards: ['o1', 'o2'], createsPerMinute: 0 },
      { host: 'session.localhost', modes: ['session'], shards: ['c1', 'c2'], createsPerMinute: 0 },
    ],
  });
  await waitUntil(
    async () => (await registryShards()).every((s) => s.healthy),
    15_000,
    () => 'the registry never saw every container shard healthy',
  );
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface RegistryShard {
  id: string;
  url: string;
  healthy: boolean;
  draining: boolean;
  origin: { serverName?: string } | null;
}

async function registryShards(): Promise<RegistryShard[]> {
  return ((await (await edge.admin('/_edge/api/status')).json()) as { shards: RegistryShard[] }).shards;
}

async function wrongInstanceCounts(): Promise<number[]> {
  return Promise.all(Object.values(origins).map(async (o) => (await originStatus(o.url)).wrongInstance));
}

interface ModeCase {
  readonly mode: string;
  readonly url: (n: number) => string;
  readonly shards: readonly string[];
  readonly ignoreControlLink?: boolean;
  readonly cookies?: boolean;
  readonly headers?: (n: number) => Record<string, string>;
}

const cases: ModeCase[] = [
  { mode: 'path', url: () => edge.urlFor('localhost'), shards: ['c1', 'c2'] },
  { mode: 'session-id', url: () => edge.urlFor('sid.localhost'), shards: ['c1', 'c2'], ignoreControlLink: true },
  { mode: 'cookie', url: (n) => edge.urlFor(`k${n}.cookie.localhost`), shards: ['o1', 'o2'], cookies: true },
  // Locally workerd takes CF-Connecting-IP from the request: each client plays its own address.
  { mode: 'ip', url: () => edge.urlFor('ip.localhost'), shards: ['o1', 'o2'], headers: (n) => ({ 'CF-Connecting-IP': `10.0.1.${n}` }) },
  { mode: 'pin', url: () => edge.urlFor('pin.localhost'), shards: ['o1', 'o2'] },
  { mode: 'session', url: () => edge.urlFor('session.localhost'), shards: ['c1', 'c2'] },
];

describe.each(cases)('container shards, mode $mode', (mc) => {
  it('streams to the official client over WebSocket and HTTP, every rebind and control request on its container', async () => {
    const wrongBefore = await wrongInstanceCounts();
    const item = `container_${mc.mode}`;
    const clients: FeedClient[] = [];
    try {
      let n = 0;
      for (const transport of ['WS-STREAMING', 'HTTP-STREAMING', 'WS-STREAMING', 'HTTP-STREAMING'] as Transport[]) {
        n++;
        clients.push(
          await connectFeedClient(mc.url(n), {
            transport,
            item,
            ignoreControlLink: mc.ignoreControlLink,
            cookies: mc.cookies,
            headers: mc.headers?.(n),
            // HTTP streams end and rebind every ~1.5 kB: the updates below force rebinds (CR).
            contentLength: transport === 'HTTP-STREAMING' ? 1_500 : undefined,
          }),
        );
      }
      const padding = 'x'.repeat(400);
      for (let i = 1; i <= 6; i++) {
        await Promise.all(mc.shards.map((s) => publish(origins[s].url, PUBLISH_TOKEN, { item, fields: { v: `${i}-${padding}` } })));
      }
      await waitUntil(() => clients.every((c) => c.values.at(-1) === `6-${padding}`), 15_000, () =>
        `not every client got the last update: ${clients.map((c) => `${c.shard()}:${c.values.length}`).join(' ')}`,
      );
      for (const c of clients) {
        expect(mc.shards).toContain(c.shard());
        expect(c.serverErrors).toEqual([]);
        expect(c.subscription.errors).toEqual([]);
        // One session for the whole run: no CR request ever met "session not found".
        expect(c.sessions).toHaveLength(1);
      }
      // No request of a session ever reached the other container's origin.
      expect(await wrongInstanceCounts()).toEqual(wrongBefore);
    } finally {
      for (const c of clients) c.close();
    }
  }, 60_000);
});

describe('container shards at the edge', () => {
  it('are probed by the registry through their containers', async () => {
    const shards = await registryShards();
    expect(shards.map((s) => [s.id, s.url, s.healthy, s.origin?.serverName])).toEqual(
      Object.keys(origins).map((id) => [id, `container ${containerOf(id)}`, true, `edgepush ${id}`]),
    );
  });

  it('answer direct instance access', async () => {
    const res = await edge.admin('/_edge/shards/o2/api/status');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { shard: string }).shard).toBe('o2');
  });

  it('drain: sessions leave a drained container for the other one', async () => {
    const clients: FeedClient[] = [];
    try {
      const onC1 = await openOnShard('c1', async () => {
        const c = await connectFeedClient(edge.urlFor('localhost'), { transport: 'WS-STREAMING', item: 'container_drain' });
        clients.push(c);
        return c;
      });
      expect((await edge.admin('/_edge/api/shards/c1/drain', { method: 'POST', body: '{}' })).status).toBe(200);
      await waitUntil(async () => (await originStatus(origins.c1.url)).sessions === 0, 15_000, () => 'c1 never drained');
      await waitUntil(() => onC1.shard() === 'c2' && onC1.statuses.at(-1) === 'CONNECTED:WS-STREAMING', 15_000, () => `moved client: ${onC1.shard()} ${onC1.statuses.join(' > ')}`);
      await publish(origins.c2.url, PUBLISH_TOKEN, { item: 'container_drain', fields: { v: 'after-drain' } });
      await waitUntil(() => onC1.values.at(-1) === 'after-drain', 10_000, () => `values after the move: ${onC1.values.join(',')}`);
      expect(onC1.sessions).toHaveLength(2);
    } finally {
      for (const c of clients) c.close();
      await edge.admin('/_edge/api/shards/c1/undrain', { method: 'POST', body: '{}' });
    }
  }, 60_000);
});

describe('a container shard without the container binding', () => {
  it('stops the edge with an error naming the shard and the binding', async () => {
    // The repository's wrangler.toml without [[containers]] and the ORIGIN_CONTAINER binding.
    const toml = (await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8'))
      .replace(/\[\[durable_objects\.bindings\]\]\nname = "ORIGIN_CONTAINER"\n[^\n]*\n/, '')
      .replace(/\[\[containers\]\]\n(?:[^[\n][^\n]*\n|#[^\n]*\n)*/, '')
      .replace('main = "worker/index.ts"', `main = ${JSON.stringify(path.join(ROOT, 'worker/index.ts'))}`);
    expect(toml).not.toContain('ORIGIN_CONTAINER');
    expect(toml).not.toContain('[[containers]]');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edgepush-no-containers-'));
    await writeFile(path.join(dir, 'wrangler.toml'), toml);
    const bare = await startEdge({ shards: [{ id: 'c1', container: 'c1' }], domains: [{ host: '*', modes: ['path'] }], wranglerConfig: path.join(dir, 'wrangler.toml') });
    try {
      const res = await fetch(`${bare.url}/lightstreamer/healthcheck`);
      expect(res.status).toBe(500);
      expect(await res.text()).toMatch(/^edge configuration error: SHARDS\[0\] \(c1\) is a container shard but the Worker has no ORIGIN_CONTAINER binding/);
    } finally {
      await bare.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
