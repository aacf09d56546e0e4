import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BusUnavailableError, type ItemEvent, type ItemSnapshot } from '../origin/bus/bus.ts';
import { createBus } from '../origin/bus/create-bus.ts';
import { ItemState } from '../origin/bus/item-state.ts';
import { RedisBus } from '../origin/bus/redis.ts';
import { busContract, until } from './support/bus-contract.ts';
import { spawnManaged } from './support/process.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';

let redis: RedisHandle;
let prefixCounter = 0;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

// Each test gets its own key prefix: one Redis, no interference.
busContract('redis', async (historySize) => {
  const bus = new RedisBus({ url: redis.url, historySize, prefix: `contract${++prefixCounter}:`, lockTtlMs: 600 });
  return bus;
});

/** A watcher that checks the bus contract as events arrive and folds them like a subscriber would. */
function follower(snapshot: ItemSnapshot, historySize = 1000) {
  const state = ItemState.fromSnapshot(snapshot, historySize);
  const seqs: number[] = [];
  return {
    state,
    seqs,
    onEvent(event: ItemEvent) {
      expect(event.seq).toBe(state.seq + 1);
      seqs.push(event.seq);
      state.apply(event);
    },
  };
}

async function watchWithFollower(bus: RedisBus, item: string) {
  let f: ReturnType<typeof follower> | null = null;
  const early: ItemEvent[] = [];
  const watch = await bus.watch(item, (e) => (f ? f.onEvent(e) : early.push(e)));
  f = follower(watch.snapshot);
  for (const e of early) f.onEvent(e);
  return { ...f, watch };
}

function comparable(s: ItemSnapshot) {
  return { merged: s.merged, rows: [...s.rows] };
}

describe('redis bus', () => {
  const open: RedisBus[] = [];
  const bus = (options: { historySize?: number; prefix: string; lockTtlMs?: number; url?: string }) => {
    const b = new RedisBus({ url: options.url ?? redis.url, historySize: options.historySize ?? 100, ...options });
    open.push(b);
    return b;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  it('is what createBus gives with a Redis URL', async () => {
    const b = createBus({ redisUrl: redis.url });
    expect(b).toBeInstanceOf(RedisBus);
    await until(() => b.status().connected);
    expect(b.status()).toEqual({ kind: 'redis', connected: true });
    await b.close();
  });

  it('keeps delivering to the others when a watcher throws', async () => {
    const b = bus({ prefix: 'boom:' });
    const got: number[] = [];
    await b.watch('boom', () => {
      throw new Error('watcher bug');
    });
    await b.watch('boom', (e) => got.push(e.seq));
    await b.publish('boom', { a: '1' });
    await b.publish('boom', { a: '2' });
    await until(() => got.length === 2);
    expect(got).toEqual([1, 2]);
  });

  it('gives every shard one order, exactly once, under concurrent publishers', async () => {
    const shards = [bus({ prefix: 'conc:' }), bus({ prefix: 'conc:' }), bus({ prefix: 'conc:' })];
    const watchers = await Promise.all(shards.slice(0, 2).map((s) => watchWithFollower(s, 'hot')));
    const published = await Promise.all(
      shards.map((s, n) =>
        Promise.all(Array.from({ length: 300 }, (_, i) => s.publish('hot', { by: `s${n}`, n: String(i) }))),
      ),
    );
    expect(new Set(published.flat()).size).toBe(900);
    await until(() => watchers.every((w) => w.seqs.length === 900));
    expect(watchers[0].seqs).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
    expect(watchers[0].state.snapshot().history).toEqual(watchers[1].state.snapshot().history);
    // Each publisher's own updates arrive in the order it sent them.
    for (const n of [0, 1, 2]) {
      const mine = watchers[0].state.snapshot().history.filter((e) => e.fields.by === `s${n}`).map((e) => Number(e.fields.n));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });

  it('serves a late shard the same snapshot in every mode', async () => {
    const a = bus({ prefix: 'late:', historySize: 4 });
    for (let i = 1; i <= 6; i++) await a.publish('chat', { message: `m${i}` });
    await a.publish('quote', { last_price: '1.00', time: 't1' });
    await a.publish('quote', { last_price: '1.10' });
    await a.publish('pf', { key: 'item1', command: 'ADD', qty: '5' });
    await a.publish('pf', { key: 'item2', command: 'ADD', qty: '7' });
    await a.publish('pf', { key: 'item1', command: 'DELETE', qty: null });
    const late = bus({ prefix: 'late:', historySize: 4 });
    const chat = (await late.watch('chat', () => {})).snapshot;
    expect(chat.history.map((e) => [e.seq, e.fields.message])).toEqual([
      [3, 'm3'],
      [4, 'm4'],
      [5, 'm5'],
      [6, 'm6'],
    ]);
    expect((await late.watch('quote', () => {})).snapshot.merged).toEqual({ last_price: '1.10', time: 't1' });
    const pf = (await late.watch('pf', () => {})).snapshot;
    expect(pf.seq).toBe(3);
    expect([...pf.rows]).toEqual([['item2', { key: 'item2', command: 'ADD', qty: '7' }]]);
  });

  it('repairs a gap from the shared history, and beyond it converges to the shared state', async () => {
    const prefix = 'gap:';
    const b = bus({ prefix, historySize: 3 });
    const w = await watchWithFollower(b, 'g');
    await b.publish('g', { key: 'r1', command: 'ADD', v: '1' });
    await until(() => w.seqs.length === 1);

    // Updates whose messages never reach the shard (published on a channel nobody listens to).
    const raw = new Redis(redis.url);
    const lua = readFileSync(new URL('../origin/bus/redis-publish.lua', import.meta.url), 'utf8');
    const keys = ['meta', 'merged', 'history', 'rows', 'order'].map((k) => `${prefix}{g}:${k}`);
    const silent = (fields: object) => raw.eval(lua, 5, ...keys, 'g', JSON.stringify(fields), 3, 'x', '', 'nowhere');
    await silent({ v: '2' });
    await silent({ key: 'r2', command: 'ADD', v: '3' });
    await b.publish('g', { v: '4' });
    await until(() => w.seqs.length === 4);
    expect(w.seqs).toEqual([1, 2, 3, 4]);
    expect(w.state.snapshot().history.map((e) => e.fields.v)).toEqual(['1', '2', '3', '4']);

    // Now more are lost than the history holds: no exact replay, but the copy must converge.
    await silent({ key: 'r1', command: 'DELETE', v: null });
    for (let i = 5; i <= 9; i++) await silent({ key: `k${i}`, command: 'ADD', v: String(i) });
    await b.publish('g', { v: '10' });
    await until(() => w.state.merged?.v === '10');
    const fresh = (await bus({ prefix, historySize: 3 }).watch('g', () => {})).snapshot;
    expect(comparable(w.state.snapshot())).toEqual(comparable(fresh));
    // What a new watcher on the same shard sees matches too.
    expect(comparable((await b.watch('g', () => {})).snapshot)).toEqual(comparable(fresh));
    raw.disconnect();
  });

  it('passes on a clear it missed as a clear, then converges to the shared state', async () => {
    const prefix = 'gapclear:';
    const b = bus({ prefix, historySize: 3 });
    const cleared: number[] = [];
    const w = await watchWithFollower(b, 'c');
    await b.watch('c', (e) => void (e.clear && cleared.push(e.seq)));
    await b.publish('c', { key: 'r1', command: 'ADD', v: '1' });
    await until(() => w.seqs.length === 1);
    const raw = new Redis(redis.url);
    const lua = readFileSync(new URL('../origin/bus/redis-publish.lua', import.meta.url), 'utf8');
    const keys = ['meta', 'merged', 'history', 'rows', 'order'].map((k) => `${prefix}{c}:${k}`);
    const silent = (fields: object, ...clear: string[]) => raw.eval(lua, 5, ...keys, 'c', JSON.stringify(fields), 3, 'x', '', 'nowhere', ...clear);
    // The shard misses an update, the clear and a row added after it: no exact replay is possible.
    await silent({ v: '2' });
    await silent({}, 'clear');
    await silent({ key: 'r3', command: 'ADD', v: '3' });
    await b.publish('c', { v: '4' });
    await until(() => w.state.merged?.v === '4');
    expect(cleared).toHaveLength(1);
    expect([...w.state.rows.keys()]).toEqual(['r3']);
    const fresh = (await bus({ prefix, historySize: 3 }).watch('c', () => {})).snapshot;
    expect(comparable(w.state.snapshot())).toEqual(comparable(fresh));
    raw.disconnect();
  });

  it('survives Redis being killed and restarted mid-stream', async () => {
    const own = await startRedis();
    try {
      const prefix = 'crash:';
      const publisher = bus({ url: own.url, prefix });
      const shard = bus({ url: own.url, prefix });
      const quotes = await watchWithFollower(shard, 'q');
      const rows = await watchWithFollower(shard, 'rows');
      for (const k of ['a', 'b', 'c']) await publisher.publish('rows', { key: k, command: 'ADD', qty: '1' });

      let n = 0;
      let failures = 0;
      let running = true;
      const feed = (async () => {
        while (running) {
          try {
            await publisher.publish('q', { n: String(++n) });
          } catch (err) {
            expect(err).toBeInstanceOf(BusUnavailableError);
            failures++;
            n--;
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      await until(() => quotes.seqs.length > 50);

      await own.kill();
      await until(() => !shard.status().connected);
      expect(shard.status().detail).toMatch(/redis/);
      // Still serving what it holds.
      expect((await shard.watch('rows', () => {})).snapshot.rows.size).toBe(3);

      const back = await startRedis(own.port);
      try {
        await until(() => shard.status().connected && publisher.status().connected, 20_000);
        const before = quotes.seqs.length;
        await until(() => quotes.seqs.length > before + 50, 20_000);
        running = false;
        await feed;
        expect(failures).toBeGreaterThan(0);
        await publisher.publish('rows', { key: 'd', command: 'ADD', qty: '2' });
        await until(() => rows.state.rows.has('d'));

        // Every update the feed saw succeed arrived once and in order: n counts up without holes.
        const values = quotes.state.snapshot().history.map((e) => Number(e.fields.n));
        expect(values).toEqual(values.map((_, i) => values[0] + i));
        expect(quotes.state.merged?.n).toBe(String(n));
        // The shard restored what Redis lost: rows and sequence numbers carry on.
        expect([...rows.state.rows.keys()]).toEqual(['a', 'b', 'c', 'd']);
        const late = bus({ url: back.url, prefix });
        expect(comparable((await late.watch('rows', () => {})).snapshot)).toEqual(comparable(rows.state.snapshot()));
        expect((await late.watch('q', () => {})).snapshot.merged).toEqual({ n: String(n) });
      } finally {
        await back.stop();
      }
    } finally {
      await own.stop();
    }
  });

  it('refuses to publish while Redis is unreachable', async () => {
    const own = await startRedis();
    const b = bus({ url: own.url, prefix: 'down:' });
    await b.publish('x', { a: '1' });
    // A bad update is the caller's fault, not an outage.
    const bad = await b.publish('x', { a: 1 } as never).catch((e: unknown) => e);
    expect(bad).not.toBeInstanceOf(BusUnavailableError);
    expect(String(bad)).toMatch(/strings or null/);
    await own.kill();
    await until(() => !b.status().connected);
    await expect(b.publish('x', { a: '2' })).rejects.toBeInstanceOf(BusUnavailableError);
  });

  it('takes updates from an external producer that runs the documented script', async () => {
    const b = bus({ prefix: 'edgepush:' });
    const got: ItemEvent[] = [];
    await b.watch('ext/1', (e) => got.push(e));
    const raw = new Redis(redis.url);
    try {
      const lua = readFileSync(new URL('../origin/bus/redis-publish.lua', import.meta.url), 'utf8');
      const keys = ['meta', 'merged', 'history', 'rows', 'order'].map((k) => `edgepush:{ext/1}:${k}`);
      const run = (fields: string, ...clear: string[]) =>
        raw.eval(lua, 5, ...keys, 'ext/1', fields, 100, 'producer-epoch', '', 'edgepush:{ext/1}:events', ...clear);
      expect(await run('{"price":"9.50","note":null}')).toBe(1);
      await expect(run('["not","an","object"]')).rejects.toThrow(/JSON object/);
      await expect(run('{"price":9.5}')).rejects.toThrow(/strings or null/);
      await until(() => got.length === 1);
      // Its position in the feed, the same on every shard: the epoch the producer gave the item and Redis's seq.
      expect(got[0]).toEqual({ item: 'ext/1', seq: 1, fields: { price: '9.50', note: null }, clear: false, position: 'producer-epoch:1' });
      await expect(run('{"price":"1"}', 'clear')).rejects.toThrow(/no fields/);
      expect(await run('{}', 'clear')).toBe(2);
      await until(() => got.length === 2);
      expect(got[1]).toEqual({ item: 'ext/1', seq: 2, fields: {}, clear: true });
      expect(await raw.exists(keys[1], keys[3], keys[4])).toBe(0);
    } finally {
      raw.disconnect();
    }
  });

  it('stops an exclusive task that can no longer renew its lock', async () => {
    const own = await startRedis();
    try {
      const b = bus({ url: own.url, prefix: 'renew:', lockTtlMs: 600 });
      let signal: AbortSignal | null = null;
      b.runExclusive('feed', (s) => (signal = s));
      await until(() => signal !== null);
      await own.kill();
      const killedAt = Date.now();
      await until(() => signal!.aborted, 5_000);
      // Before the lock could expire and let another holder start.
      expect(Date.now() - killedAt).toBeLessThan(600);
    } finally {
      await own.stop();
    }
  });

  it('hands an exclusive task over when its holder dies without releasing it', async () => {
    const ttl = 1_000;
    // One process (node --import tsx), not the tsx launcher: SIGKILL must hit the lock holder itself.
    const holder = spawnManaged(process.execPath, ['--import', 'tsx', 'test/support/exclusive-holder.ts', redis.url, String(ttl), 'failover'], {});
    try {
      await until(() => holder.output().includes('ACQUIRED'), 20_000);
      const b = bus({ prefix: 'edgepush:', lockTtlMs: ttl });
      let started = 0;
      b.runExclusive('failover', () => void started++);
      await new Promise((r) => setTimeout(r, ttl * 2));
      expect(started).toBe(0);
      const killedAt = Date.now();
      await holder.kill();
      await until(() => started === 1, 10_000);
      expect(Date.now() - killedAt).toBeLessThan(ttl * 3);
    } finally {
      await holder.kill();
    }
  });
});
