import { afterEach, describe, expect, it, vi } from 'vitest';
import { AdapterError, type MessageRequest } from '../origin/adapters/adapter.ts';
import type { DemoAdapterSet } from '../origin/adapters/demo/catalogue-metadata.ts';
import { createDemoAdapterSet } from '../origin/adapters/demo/demo-adapter-set.ts';
import { QUOTE_FIELDS, runQuoteFeed } from '../origin/adapters/demo/quotes.ts';
import type { Bus, ItemEvent } from '../origin/bus/bus.ts';
import { EmbeddedBus } from '../origin/bus/embedded.ts';
import { RedisBus } from '../origin/bus/redis.ts';
import { until } from './support/bus-contract.ts';
import { startRedis } from './support/redis.ts';
import { waitUntil } from './support/wait.ts';

const ctx: Omit<MessageRequest, 'message'> = { sessionId: 's1.x', user: 'ann', clientIp: '203.0.113.7' };
const message = (set: DemoAdapterSet, text: string) => Promise.resolve(set.metadata.notifyUserMessage({ ...ctx, message: text }));
const itemsOf = (set: DemoAdapterSet, group: string, dataAdapter: string) => set.metadata.getItems({ user: null, sessionId: 's1.x', group, dataAdapter });
const fieldsOf = (set: DemoAdapterSet, schema: string, dataAdapter: string, items: string[]) =>
  set.metadata.getSchema({ user: null, sessionId: 's1.x', group: items.join(' '), dataAdapter, items, schema });

const running: Array<{ set: DemoAdapterSet; bus: Bus }> = [];
function startDemo(bus: Bus = new EmbeddedBus({ historySize: 100 })) {
  const set = createDemoAdapterSet();
  for (const adapter of set.dataAdapters.values()) adapter.start(bus);
  running.push({ set, bus });
  return { set, bus };
}
afterEach(async () => {
  for (const { set, bus } of running.splice(0)) {
    for (const adapter of set.dataAdapters.values()) adapter.stop();
    await bus.close();
  }
});

function refusal(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AdapterError);
    return (err as AdapterError).code;
  }
  throw new Error('not refused');
}

async function refusalOf(promise: Promise<unknown>): Promise<number> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AdapterError);
  return (err as AdapterError).code;
}

async function rowsOf(bus: Bus, item: string) {
  const watch = await bus.watch(item, () => {});
  watch.close();
  return Object.fromEntries([...watch.snapshot.rows].map(([k, row]) => [k, row.qty]));
}

describe('DEMO metadata', () => {
  it('resolves groups and schemas as space-separated lists, as the demo clients send them', () => {
    const { set } = startDemo();
    expect(set.name).toBe('DEMO');
    expect(set.defaultDataAdapter).toBe('FEED');
    expect(itemsOf(set, 'item1 item2 item30', 'QUOTE_ADAPTER')).toEqual(['item1', 'item2', 'item30']);
    expect(fieldsOf(set, QUOTE_FIELDS.join(' '), 'QUOTE_ADAPTER', ['item1'])).toEqual([...QUOTE_FIELDS]);
    expect(itemsOf(set, 'chat_room', 'CHAT_ROOM')).toEqual(['chat_room']);
    expect(fieldsOf(set, 'message raw_timestamp IP', 'CHAT_ROOM', ['chat_room'])).toHaveLength(3);
    expect(itemsOf(set, 'portfolio1', 'PORTFOLIO_ADAPTER')).toEqual(['portfolio1']);
    expect(fieldsOf(set, 'key command qty', 'PORTFOLIO_ADAPTER', ['portfolio1'])).toEqual(['key', 'command', 'qty']);
    // The generic feed takes any well-formed item and field, and is the default adapter.
    expect(itemsOf(set, 'sensors/42 temp.room-1', '')).toEqual(['sensors/42', 'temp.room-1']);
    expect(fieldsOf(set, 'celsius humidity', 'FEED', ['sensors/42'])).toEqual(['celsius', 'humidity']);
  });

  it('refuses what does not exist with the TLCP subscription codes', () => {
    const { set } = startDemo();
    expect(refusal(() => itemsOf(set, 'item1', 'NO_SUCH'))).toBe(17);
    expect(refusal(() => itemsOf(set, 'item31', 'QUOTE_ADAPTER'))).toBe(21);
    expect(refusal(() => itemsOf(set, '  ', 'QUOTE_ADAPTER'))).toBe(21);
    expect(refusal(() => itemsOf(set, 'bad,name', 'FEED'))).toBe(21);
    expect(refusal(() => fieldsOf(set, 'last_price volume', 'QUOTE_ADAPTER', ['item1']))).toBe(23);
    expect(refusal(() => fieldsOf(set, '', 'QUOTE_ADAPTER', ['item1']))).toBe(23);
    expect(refusal(() => fieldsOf(set, 'a|b', 'FEED', ['x']))).toBe(23);
  });

  it('allows each demo item only the modes its demo uses it in', () => {
    const { set } = startDemo();
    const allows = (adapter: string, item: string) =>
      (['MERGE', 'DISTINCT', 'COMMAND', 'RAW'] as const).filter((m) => set.dataAdapters.get(adapter)!.allowsMode(item, m));
    expect(allows('QUOTE_ADAPTER', 'item1')).toEqual(['MERGE', 'DISTINCT', 'RAW']);
    expect(allows('CHAT_ROOM', 'chat_room')).toEqual(['MERGE', 'DISTINCT', 'RAW']);
    expect(allows('PORTFOLIO_ADAPTER', 'portfolio1')).toEqual(['COMMAND']);
    expect(allows('FEED', 'anything')).toEqual(['MERGE', 'DISTINCT', 'COMMAND', 'RAW']);
  });

  it('refuses messages it does not understand', async () => {
    const { set } = startDemo();
    expect(await refusalOf(message(set, 'HELLO'))).toBe(-1);
  });
});

describe('QUOTE_ADAPTER feed', () => {
  it('ticks every stock several times a second with a coherent quote', async () => {
    const { bus } = startDemo();
    const ticks = new Map<string, ItemEvent[]>();
    for (let i = 1; i <= 30; i++) {
      const item = `item${i}`;
      const watch = await bus.watch(item, (e) => ticks.get(item)!.push(e));
      ticks.set(item, watch.snapshot.merged ? [{ item, seq: watch.snapshot.seq, fields: watch.snapshot.merged, clear: false }] : []);
    }
    await new Promise((r) => setTimeout(r, 3_000));
    // Ticks are random (about 3/s per item): the whole market must average several per second,
    // and no stock may stay silent.
    const total = [...ticks.values()].reduce((n, events) => n + events.length, 0);
    expect(total / 30 / 3).toBeGreaterThan(2);
    for (const [item, events] of ticks) {
      expect(events.length, item).toBeGreaterThan(0);
      // A tick carries what changed; folded, the quote always has every field and makes sense.
      const quote: Record<string, string | null> = {};
      for (const event of events) {
        Object.assign(quote, event.fields);
        const fields = quote;
        expect(Object.keys(fields).sort()).toEqual([...QUOTE_FIELDS].sort());
        const [last, bid, ask, min, max] = ['last_price', 'bid', 'ask', 'min', 'max'].map((f) => Number(fields[f]));
        expect(bid).toBeLessThanOrEqual(ask);
        expect(min).toBeLessThanOrEqual(last);
        expect(last).toBeLessThanOrEqual(max);
        expect(fields.time).toMatch(/^\d\d:\d\d:\d\d$/);
      }
    }
  });

  it('publishes nothing for a tick that changed nothing', async () => {
    // A clock that stays within one second, and randomness that leaves the price where it is and draws the same lots and
    // spread every time: after the first tick no field changes any more.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(new Date('2026-01-01T12:00:00.000Z'));
    vi.spyOn(Math, 'random').mockReturnValue(0.25);
    const bus = new EmbeddedBus({ historySize: 100 });
    const feed = new AbortController();
    try {
      const events: ItemEvent[] = [];
      await bus.watch('item1', (e) => events.push(e));
      await runQuoteFeed(bus, feed.signal);
      // About ten ticks of item1 (one every ~86 ms with this randomness), all in the same second.
      await vi.advanceTimersByTimeAsync(900);
      expect(events.map((e) => e.seq)).toEqual([1]);
      expect(Object.keys(events[0].fields).sort()).toEqual([...QUOTE_FIELDS].sort());
    } finally {
      feed.abort();
      vi.restoreAllMocks();
      vi.useRealTimers();
      await bus.close();
    }
  });

  it('runs once for all origins sharing a bus, and another takes over when it stops', async () => {
    const shared = new EmbeddedBus({ historySize: 10 });
    let feeds = 0;
    // The shared bus, counting the exclusive tasks that are running at any time.
    const bus: Bus = {
      historySize: shared.historySize,
      publish: (item, fields) => shared.publish(item, fields),
      clear: (item) => shared.clear(item),
      publishIf: (item, seq, fields) => shared.publishIf(item, seq, fields),
      watch: (item, onEvent) => shared.watch(item, onEvent),
      status: () => shared.status(),
      close: () => shared.close(),
      runExclusive: (name, task) =>
        shared.runExclusive(name, (signal) => {
          feeds++;
          signal.addEventListener('abort', () => feeds--);
          task(signal);
        }),
    };
    const first = startDemo(bus);
    startDemo(bus);
    expect(feeds).toBe(1);
    const seqs: number[] = [];
    await bus.watch('item1', (e) => seqs.push(e.seq));
    await until(() => seqs.length > 2);
    first.set.dataAdapters.get('QUOTE_ADAPTER')!.stop();
    expect(feeds).toBe(1);
    const before = seqs.length;
    await until(() => seqs.length > before + 3);
  });
});

describe('QUOTE_ADAPTER item_status', () => {
  const statusOf = async (bus: Bus, item: string) => {
    const watch = await bus.watch(item, () => {});
    watch.close();
    return watch.snapshot.merged?.item_status;
  };
  const statuses = (bus: Bus) => Promise.all(Array.from({ length: 30 }, (_, i) => statusOf(bus, `item${i + 1}`)));

  it('is active while the feed runs, inactive once it stops, active again when another feed takes over', async () => {
    const bus = new EmbeddedBus({ historySize: 10 });
    const first = startDemo(bus);
    const second = startDemo(bus);
    await waitUntil(async () => (await statuses(bus)).every((s) => s === 'active'), 5_000, () => 'not all active');
    await first.set.dataAdapters.get('QUOTE_ADAPTER')!.stop();
    // The origin that took over says active again; an origin that was not feeding says nothing.
    await waitUntil(async () => (await statuses(bus)).every((s) => s === 'active'), 5_000, () => 'not active after the takeover');
    await second.set.dataAdapters.get('QUOTE_ADAPTER')!.stop();
    expect(await statuses(bus)).toEqual(Array(30).fill('inactive'));
  });
});

describe('CHAT_ROOM', () => {
  it('publishes CHAT|<text> with the sender address, answering an empty MSGDONE', async () => {
    const { set, bus } = startDemo();
    expect(await message(set, 'CHAT|hello | world')).toBe('');
    const { snapshot } = await bus.watch('chat_room', () => {});
    expect(snapshot.history).toHaveLength(1);
    expect(snapshot.history[0].fields).toMatchObject({ message: 'hello | world', IP: '203.0.113.7', nick: 'ann' });
    expect(Number(snapshot.history[0].fields.raw_timestamp)).toBeGreaterThan(Date.now() - 5_000);
  });
});

describe('PORTFOLIO_ADAPTER', () => {
  it('starts from a seeded portfolio and applies BUY and SELL as COMMAND rows', async () => {
    const { set, bus } = startDemo();
    while (Object.keys(await rowsOf(bus, 'portfolio2')).length < 2) await new Promise((r) => setTimeout(r, 10));
    expect(await rowsOf(bus, 'portfolio2')).toEqual({ item5: '800', item21: '150' });
    const events: ItemEvent[] = [];
    await bus.watch('portfolio2', (e) => events.push(e));
    expect(await message(set, 'BUY|portfolio2|item3|100')).toBe('SUBMITTED');
    await message(set, 'BUY|portfolio2|item3|50');
    await message(set, 'SELL|portfolio2|item5|300');
    await message(set, 'SELL|portfolio2|item21|1000');
    expect(events.map((e) => [e.fields.key, e.fields.command, e.fields.qty])).toEqual([
      ['item3', 'ADD', '100'],
      ['item3', 'UPDATE', '150'],
      ['item5', 'UPDATE', '500'],
      ['item21', 'DELETE', null],
    ]);
    expect(await rowsOf(bus, 'portfolio2')).toEqual({ item5: '500', item3: '150' });
  });

  it('refuses malformed orders, unknown portfolios and stocks, and selling what is not held', async () => {
    const { set } = startDemo();
    const order = (m: string) => refusalOf(message(set, m));
    expect(await order('BUY|portfolio1|item3')).toBe(-1);
    expect(await order('BUY|portfolio1|item3|-5')).toBe(-1);
    expect(await order('BUY|portfolio1|item3|1.5')).toBe(-1);
    expect(await order('BUY|portfolio11|item3|5')).toBe(-2);
    expect(await order('BUY|portfolio1|item99|5')).toBe(-3);
    expect(await order('SELL|portfolio1|item30|5')).toBe(-4);
  });

  it('stays exact when orders for one portfolio reach different shards at once (Redis)', async () => {
    const redis = await startRedis();
    try {
      const shards = [0, 1, 2].map(() => startDemo(new RedisBus({ url: redis.url, historySize: 100 })));
      await new Promise((r) => setTimeout(r, 300));
      const orders = shards.flatMap(({ set }) =>
        Array.from({ length: 20 }, () => message(set, 'BUY|portfolio1|item9|10')),
      );
      await Promise.all(orders);
      const late = new RedisBus({ url: redis.url, historySize: 100 });
      const rows = await rowsOf(late, 'portfolio1');
      await late.close();
      expect(rows.item9).toBe('600');
      // Seeded once for the cluster, not once per shard.
      expect(rows.item7).toBe('1200');
    } finally {
      for (const r of running.splice(0)) {
        for (const adapter of r.set.dataAdapters.values()) adapter.stop();
        await r.bus.close();
      }
      await redis.stop();
    }
  });
});
