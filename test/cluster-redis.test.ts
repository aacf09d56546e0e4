/**
 * Several real origins on one real Redis, driven by the official client: one feed, every shard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import { sendMessage } from './support/client.ts';
import { connect, subscribe, type RecordedUpdate } from './support/ls-recorder.ts';

const TOKEN = 'cluster-test-publish-token';
type Client = Awaited<ReturnType<typeof connect>>;

async function publish(origin: OriginHandle, body: unknown): Promise<Response> {
  return fetch(`${origin.url}/api/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function publishOk(origin: OriginHandle, body: unknown): Promise<void> {
  const res = await publish(origin, body);
  expect(res.status, await res.clone().text()).toBe(200);
}

const values = (updates: RecordedUpdate[]) => updates.map((u) => u.values);

describe('origins sharing one Redis', () => {
  let redis: RedisHandle;
  let a: OriginHandle;
  let b: OriginHandle;
  const clients: Client[] = [];
  const client = async (origin: OriginHandle) => {
    const c = await connect(origin.url);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, PUBLISH_TOKEN: TOKEN };
    [a, b] = await Promise.all([startOrigin({ ...env, SHARD_ID: 'a' }), startOrigin({ ...env, SHARD_ID: 'b' })]);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('reports the Redis bus on the status endpoint', async () => {
    const status = await (await fetch(`${a.url}/api/status`)).json();
    expect(status.bus).toMatchObject({ kind: 'redis', connected: true });
  });

  it('shows clients on different shards identical snapshots and updates in every mode', async () => {
    // History first, so every mode has a snapshot to serve.
    for (let i = 1; i <= 3; i++) {
      await publishOk(i % 2 ? a : b, [
        { item: 'm1', fields: { price: `p${i}`, ...(i === 1 ? { name: 'first' } : {}) } },
        { item: 'd1', fields: { line: `l${i}` } },
        { item: 'c1', fields: { key: `k${i}`, command: 'ADD', qty: String(i) } },
      ]);
    }
    const [ca, cb] = [await client(a), await client(b)];
    const subs = (c: Client) => ({
      merge: subscribe(c, { mode: 'MERGE', items: ['m1'], fields: ['price', 'name'], dataAdapter: 'FEED' }),
      distinct: subscribe(c, { mode: 'DISTINCT', items: ['d1'], fields: ['line'], dataAdapter: 'FEED' }),
      command: subscribe(c, { mode: 'COMMAND', items: ['c1'], fields: ['key', 'command', 'qty'], dataAdapter: 'FEED' }),
      raw: subscribe(c, { mode: 'RAW', items: ['m1'], fields: ['price'], dataAdapter: 'FEED' }),
    });
    const [sa, sb] = [subs(ca), subs(cb)];
    for (const s of [sa, sb]) {
      await s.merge.until((u) => u.length >= 1);
      await s.distinct.until(() => s.distinct.endOfSnapshot.has('d1'));
      await s.command.until(() => s.command.endOfSnapshot.has('c1'));
    }
    expect(values(sa.merge.updates)).toEqual([{ price: 'p3', name: 'first' }]);
    expect(values(sa.distinct.updates)).toEqual([{ line: 'l1' }, { line: 'l2' }, { line: 'l3' }]);
    expect(values(sa.command.updates).map((v) => v.key)).toEqual(['k1', 'k2', 'k3']);
    await new Promise((r) => setTimeout(r, 200)); // RAW has no snapshot: let both subscriptions settle.

    for (let i = 4; i <= 40; i++) {
      await publishOk(i % 2 ? a : b, [
        { item: 'm1', fields: { price: `p${i}` } },
        { item: 'd1', fields: { line: `l${i}` } },
        {
          item: 'c1',
          fields: i % 5 === 0 ? { key: `k${i - 3}`, command: 'DELETE', qty: null } : { key: `k${i}`, command: 'ADD', qty: String(i) },
        },
      ]);
    }
    for (const s of [sa, sb]) {
      await s.merge.until((u) => u.at(-1)?.values.price === 'p40');
      await s.distinct.until((u) => u.at(-1)?.values.line === 'l40');
      await s.command.until((u) => u.at(-1)?.values.key === 'k37' && u.at(-1)?.values.command === 'DELETE');
      await s.raw.until((u) => u.at(-1)?.values.price === 'p40');
    }
    for (const mode of ['merge', 'distinct', 'command', 'raw'] as const) {
      expect(values(sb[mode].updates), mode).toEqual(values(sa[mode].updates));
    }
    expect(values(sa.merge.updates)).toHaveLength(38);
    expect(values(sa.distinct.updates).map((v) => v.line)).toEqual(Array.from({ length: 40 }, (_, i) => `l${i + 1}`));
  });

  it('gives every DISTINCT event its position in the shared feed, the same on every shard and never a publisher\'s', async () => {
    for (let i = 1; i <= 3; i++) await publishOk(i % 2 ? a : b, [{ item: 'pos', fields: { line: `l${i}`, 'edgepush.position': 'forged:1' } }]);
    const read = (c: Client) => subscribe(c, { mode: 'DISTINCT', items: ['pos'], fields: ['line', 'edgepush.position'], dataAdapter: 'FEED' });
    const [sa, sb] = [read(await client(a)), read(await client(b))];
    for (const s of [sa, sb]) await s.until(() => s.endOfSnapshot.has('pos'));
    await publishOk(b, [{ item: 'pos', fields: { line: 'l4' } }]);
    for (const s of [sa, sb]) await s.until((u) => u.at(-1)?.values.line === 'l4');
    const positions = values(sa.updates).map((v) => v['edgepush.position']);
    expect(positions).toHaveLength(4);
    expect(positions.map((p) => /^.+:(\d+)$/.exec(p ?? '')?.[1])).toEqual(['1', '2', '3', '4']);
    expect(new Set(positions.map((p) => p!.replace(/:\d+$/, ''))).size).toBe(1);
    expect(values(sb.updates)).toEqual(values(sa.updates));
  });

  it('serves the right snapshot from a shard started after the updates', async () => {
    for (let i = 1; i <= 5; i++) {
      await publishOk(a, [
        { item: 'late-m', fields: { v: `v${i}` } },
        { item: 'late-c', fields: { key: `r${i}`, command: i === 3 ? 'DELETE' : 'ADD', qty: String(i) } },
      ]);
    }
    const c = await startOrigin({ REDIS_URL: redis.url, PUBLISH_TOKEN: TOKEN, SHARD_ID: 'c' });
    try {
      const [onA, onC] = [await client(a), await client(c)];
      const read = async (cl: Client) => {
        const m = subscribe(cl, { mode: 'MERGE', items: ['late-m'], fields: ['v'], dataAdapter: 'FEED' });
        const r = subscribe(cl, { mode: 'COMMAND', items: ['late-c'], fields: ['key', 'command', 'qty'], dataAdapter: 'FEED' });
        await m.until((u) => u.length === 1);
        await r.until(() => r.endOfSnapshot.has('late-c'));
        return { merge: values(m.updates), rows: values(r.updates) };
      };
      const [fromA, fromC] = [await read(onA), await read(onC)];
      expect(fromC).toEqual(fromA);
      expect(fromC.merge).toEqual([{ v: 'v5' }]);
      expect(fromC.rows.map((r) => r.key)).toEqual(['r1', 'r2', 'r4', 'r5']);
    } finally {
      await c.stop();
    }
  });

  it('carries a chat line sent to shard A to a client on shard B', async () => {
    const [ca, cb] = [await client(a), await client(b)];
    const room = subscribe(cb, { mode: 'DISTINCT', items: ['chat_room'], fields: ['message', 'raw_timestamp', 'IP'], dataAdapter: 'CHAT_ROOM' });
    await room.until(() => room.endOfSnapshot.has('chat_room'));
    expect(await sendMessage(ca, 'CHAT|hello from A')).toEqual({ kind: 'processed', response: '' });
    await room.until((u) => u.some((x) => x.values.message === 'hello from A' && !x.snapshot));
    expect(room.updates.find((x) => x.values.message === 'hello from A')?.values.IP).toBe('127.0.0.1');
  });

  it('shows a portfolio order sent to shard B on shard A', async () => {
    const [ca, cb] = [await client(a), await client(b)];
    const pf = subscribe(ca, { mode: 'COMMAND', items: ['portfolio1'], fields: ['key', 'command', 'qty'], dataAdapter: 'PORTFOLIO_ADAPTER' });
    await pf.until(() => pf.endOfSnapshot.has('portfolio1'));
    const held = Number(pf.updates.filter((u) => u.values.key === 'item11').at(-1)?.values.qty ?? 0);
    expect(await sendMessage(cb, 'BUY|portfolio1|item11|25')).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await pf.until((u) => u.some((x) => !x.snapshot && x.values.key === 'item11' && x.values.qty === String(held + 25)));
  });

  it('serves live quotes from one feed for the whole cluster', async () => {
    const [ca, cb] = [await client(a), await client(b)];
    const fields = ['stock_name', 'last_price', 'time'];
    const qa = subscribe(ca, { mode: 'MERGE', items: ['item1', 'item2'], fields, dataAdapter: 'QUOTE_ADAPTER' });
    const qb = subscribe(cb, { mode: 'MERGE', items: ['item1', 'item2'], fields, dataAdapter: 'QUOTE_ADAPTER' });
    await qa.until((u) => u.length > 10);
    await qb.until((u) => u.length > 10);
    // The same ticks on both shards: the last price of item1 seen on A also appears on B.
    const last = qa.updates.filter((u) => u.item === 'item1').at(-1)!.values;
    await qb.until((u) => u.some((x) => x.item === 'item1' && x.values.time === last.time && x.values.last_price === last.last_price));
  });
});

describe('Redis restarted under a live cluster', () => {
  it('loses, duplicates and reorders nothing a client sees, and snapshots agree afterwards', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, PUBLISH_TOKEN: TOKEN };
    const [a, b] = await Promise.all([startOrigin({ ...env, SHARD_ID: 'ra' }), startOrigin({ ...env, SHARD_ID: 'rb' })]);
    let back: RedisHandle | null = null;
    const clients: Client[] = [];
    try {
      await publishOk(a, { item: 'tape', fields: { n: '0' } });
      for (const o of [a, b]) clients.push(await connect(o.url));
      const tapes = clients.map((c) => subscribe(c, { mode: 'DISTINCT', items: ['tape'], fields: ['n'], dataAdapter: 'FEED' }));
      for (const t of tapes) await t.until(() => t.endOfSnapshot.has('tape'));

      let n = 0;
      let refused = 0;
      let running = true;
      const feed = (async () => {
        while (running) {
          const res = await publish(n % 2 ? a : b, { item: 'tape', fields: { n: String(n + 1) } });
          if (res.status === 200) n++;
          else refused++;
          await res.arrayBuffer();
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await tapes[1].until((u) => u.length > 30);
      await redis.kill();
      await new Promise((r) => setTimeout(r, 500));
      const status = await (await fetch(`${a.url}/api/status`)).json();
      expect(status.bus).toMatchObject({ kind: 'redis', connected: false });
      back = await startRedis(redis.port);
      const resumed = n;
      await tapes[0].until((u) => Number(u.at(-1)?.values.n) > resumed + 30, 30_000);
      running = false;
      await feed;
      expect(refused).toBeGreaterThan(0);
      for (const t of tapes) await t.until((u) => u.at(-1)?.values.n === String(n));

      for (const t of tapes) {
        const seen = t.updates.map((u) => Number(u.values.n));
        // Strictly increasing (no duplicate, no reordering) and nothing published went missing.
        expect(seen).toEqual(seen.map((_, i) => seen[0] + i));
      }
      // A fresh subscription on either shard gets the same history.
      const fresh = clients.map((c) => subscribe(c, { mode: 'DISTINCT', items: ['tape'], fields: ['n'], dataAdapter: 'FEED' }));
      for (const f of fresh) await f.until(() => f.endOfSnapshot.has('tape'));
      expect(values(fresh[1].updates)).toEqual(values(fresh[0].updates));
      expect(fresh[0].updates.at(-1)?.values.n).toBe(String(n));
    } finally {
      for (const c of clients) c.disconnect();
      await Promise.all([a.stop(), b.stop()]);
      await back?.stop();
      await redis.stop();
    }
  });
});

describe('embedded bus', () => {
  it('serves quotes and the publish API with no Redis at all', async () => {
    const origin = await startOrigin({ PUBLISH_TOKEN: TOKEN });
    const c = await connect(origin.url);
    try {
      const status = await (await fetch(`${origin.url}/api/status`)).json();
      expect(status.bus).toMatchObject({ kind: 'embedded', connected: true });
      const quotes = subscribe(c, { mode: 'MERGE', items: ['item1'], fields: ['stock_name', 'last_price'], dataAdapter: 'QUOTE_ADAPTER' });
      await quotes.until((u) => u.length > 3);
      const feed = subscribe(c, { mode: 'MERGE', items: ['solo'], fields: ['v'] });
      await publishOk(origin, { item: 'solo', fields: { v: 'here' } });
      await feed.until((u) => u.at(-1)?.values.v === 'here');
    } finally {
      c.disconnect();
      await origin.stop();
    }
  });
});
