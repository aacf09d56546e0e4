import ls from 'lightstreamer-client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, createClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The public demos' adapter sets on a real origin, driven by the official Node client with the
 * adapter sets, data adapters, items, fields and messages the demos' front-ends use.
 */

const QUOTE_SCHEMA = ['last_price', 'time', 'pct_change', 'bid_quantity', 'bid', 'ask', 'ask_quantity', 'min', 'max', 'ref_price', 'open_price', 'stock_name', 'item_status'];
const CHAT_SCHEMA = ['message', 'raw_timestamp', 'timestamp', 'IP', 'nick'];

let origin: OriginHandle;
const clients: WatchedClient[] = [];

beforeAll(async () => {
  origin = await startOrigin({ SHARD_ID: 'demo1' });
});

afterAll(async () => {
  for (const c of clients) c.close();
  await origin?.stop();
});

async function connect(adapterSet: string, options: { userAgent?: string; transport?: 'WS-STREAMING' | 'HTTP-STREAMING' } = {}): Promise<WatchedClient> {
  const c = await connectClient(origin.url, {
    adapterSet,
    transport: options.transport ?? 'WS-STREAMING',
    ...(options.userAgent ? { headers: { 'User-Agent': options.userAgent } } : {}),
  });
  clients.push(c);
  return c;
}

describe('DEMO: the full StockList demo', () => {
  it('serves both halves of the stock list with item_status active', async () => {
    const { client } = await connect('DEMO');
    const halves = [1, 16].map((first) =>
      watchSubscription(client, {
        mode: 'MERGE',
        items: Array.from({ length: 15 }, (_, i) => `item${first + i}`),
        fields: QUOTE_SCHEMA,
        dataAdapter: 'QUOTE_ADAPTER',
        snapshot: 'yes',
        maxFrequency: 1,
      }),
    );
    for (const half of halves) {
      await half.subscribed();
      await half.until((u) => new Set(u.filter((x) => x.snapshot).map((x) => x.item)).size === 15, 'a snapshot of every item');
      for (const update of half.updates.filter((u) => u.snapshot)) {
        expect(update.values.item_status).toBe('active');
        expect(update.values.stock_name).toMatch(/\S/);
        expect(Number(update.values.last_price)).toBeGreaterThan(0);
      }
    }
  });
});

describe('CHAT', () => {
  it('signs each line with the sender’s User-Agent and address, in DISTINCT with a 30-line snapshot', async () => {
    const alice = await connect('CHAT', { userAgent: 'AliceBrowser/1.0' });
    // Over HTTP the Node client's XMLHttpRequest puts its own name before the one it is given.
    const bob = await connect('CHAT', { userAgent: 'BobBrowser/2.0', transport: 'HTTP-STREAMING' });
    const chatOf = (c: WatchedClient) => watchSubscription(c.client, { mode: 'DISTINCT', items: ['chat_room'], fields: CHAT_SCHEMA, dataAdapter: 'CHAT_ROOM', snapshot: 30 });
    const [seenByAlice, seenByBob] = [chatOf(alice), chatOf(bob)];
    await Promise.all([seenByAlice.subscribed(), seenByBob.subscribed()]);

    const text = `hi from alice ${Date.now()}`;
    expect(await sendMessage(alice.client, `CHAT|${text}`)).toEqual({ kind: 'processed', response: '' });
    expect(await sendMessage(bob.client, 'CHAT|hi | alice')).toEqual({ kind: 'processed', response: '' });
    for (const seen of [seenByAlice, seenByBob]) {
      await seen.until((u) => u.some((x) => x.values.message === 'hi | alice'), 'both lines');
      const line = seen.updates.find((x) => x.values.message === text)!;
      expect(line.values).toMatchObject({ nick: 'AliceBrowser/1.0', IP: '127.0.0.1' });
      expect(Number(line.values.raw_timestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(line.values.timestamp).toMatch(/^\d\d:\d\d:\d\d$/);
      expect(seen.updates.find((x) => x.values.message === 'hi | alice')!.values.nick).toBe('node-XMLHttpRequest, BobBrowser/2.0');
    }

    // A second session from the same address and browser is told apart, as the demo's adapter does.
    const alice2 = await connect('CHAT', { userAgent: 'AliceBrowser/1.0' });
    expect(await sendMessage(alice2.client, 'CHAT|me again')).toEqual({ kind: 'processed', response: '' });
    await seenByBob.until((u) => u.some((x) => x.values.message === 'me again'), 'the second session’s line');
    expect(seenByBob.updates.find((x) => x.values.message === 'me again')!.values.nick).toBe('AliceBrowser/1.0 [1]');

    // A later subscriber gets the lines as its snapshot.
    const late = watchSubscription(bob.client, { mode: 'DISTINCT', items: ['chat_room'], fields: CHAT_SCHEMA, dataAdapter: 'CHAT_ROOM', snapshot: 30 });
    await late.until((u) => u.filter((x) => x.snapshot).length >= 3, 'the snapshot');
  });

  it('refuses what the Chat demo’s adapters.xml does not allow, and messages it does not understand', async () => {
    const { client } = await connect('CHAT');
    const merge = watchSubscription(client, { mode: 'MERGE', items: ['chat_room'], fields: CHAT_SCHEMA, dataAdapter: 'CHAT_ROOM' });
    expect((await merge.error()).code).toBe(24);
    const quotes = watchSubscription(client, { mode: 'MERGE', items: ['item1'], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER' });
    expect((await quotes.error()).code).toBe(17);
    expect(await sendMessage(client, 'BUY|portfolio1|item1|10')).toMatchObject({ kind: 'deny', code: -1 });
    expect(await sendMessage(client, 'CHAT|')).toMatchObject({ kind: 'deny', code: -1 });
  });
});

describe('PORTFOLIODEMO and FULLPORTFOLIODEMO', () => {
  it('PORTFOLIODEMO: a COMMAND portfolio with a snapshot, changed by orders answered SUBMITTED', async () => {
    const { client } = await connect('PORTFOLIODEMO');
    const portfolio = watchSubscription(client, { mode: 'COMMAND', items: ['portfolio3'], fields: ['key', 'command', 'qty'], dataAdapter: 'PORTFOLIO_ADAPTER', snapshot: 'yes' });
    await portfolio.subscribed();
    await portfolio.until(() => portfolio.endOfSnapshot.length > 0, 'the end of the snapshot');
    const snapshotRows = portfolio.updates.filter((u) => u.snapshot);
    expect(snapshotRows.length).toBeGreaterThanOrEqual(6);
    expect(snapshotRows.every((u) => u.values.command === 'ADD' && /^item\d+$/.test(u.key!) && Number(u.values.qty) > 0)).toBe(true);

    const held = new Set(snapshotRows.map((u) => u.key));
    const fresh = Array.from({ length: 30 }, (_, i) => `item${i + 1}`).find((item) => !held.has(item))!;
    expect(await sendMessage(client, `BUY|portfolio3|${fresh}|700`, 'Orders')).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await portfolio.until((u) => u.some((x) => x.key === fresh && x.values.command === 'ADD' && x.values.qty === '700'), 'the bought row');
    expect(await sendMessage(client, `SELL|portfolio3|${fresh}|700`, 'Orders')).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await portfolio.until((u) => u.some((x) => x.key === fresh && x.values.command === 'DELETE'), 'the sold row');
    expect(await sendMessage(client, 'BUY|portfolio3|item99|1', 'Orders')).toMatchObject({ kind: 'deny' });
  });

  it('FULLPORTFOLIODEMO: each row carries its stock’s quote through QUOTE_ADAPTER as the second level', async () => {
    const { client } = await connect('FULLPORTFOLIODEMO', { transport: 'HTTP-STREAMING' });
    // As the full Portfolio demo's page subscribes: the second level is set before subscribing.
    const portfolio = new ls.Subscription('COMMAND', ['portfolio4'], ['key', 'command', 'qty']);
    portfolio.setDataAdapter('PORTFOLIO_ADAPTER');
    portfolio.setRequestedSnapshot('yes');
    portfolio.setCommandSecondLevelDataAdapter('QUOTE_ADAPTER');
    portfolio.setCommandSecondLevelFields(['stock_name', 'last_price', 'time']);
    const quoted = new Map<string, string>();
    const snapshotKeys = new Set<string>();
    let endOfSnapshot = false;
    portfolio.addListener({
      onItemUpdate: (u: { getValue(f: string): string | null; isSnapshot(): boolean }) => {
        if (u.isSnapshot()) snapshotKeys.add(u.getValue('key')!);
        const name = u.getValue('stock_name');
        if (name) quoted.set(u.getValue('key')!, name);
      },
      onEndOfSnapshot: () => void (endOfSnapshot = true),
    });
    client.subscribe(portfolio);
    await waitUntil(() => endOfSnapshot, 15_000, () => 'no end of snapshot');
    expect(snapshotKeys.size).toBeGreaterThanOrEqual(6);
    await waitUntil(() => [...snapshotKeys].every((k) => quoted.has(k)), 15_000, () => `quotes on ${[...quoted.keys()]} of ${[...snapshotKeys]}`);

    expect(await sendMessage(client, 'BUY|portfolio4|item30|100', 'Orders', 30_000)).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await waitUntil(() => quoted.has('item30'), 15_000, () => 'no quote on the new row');
    // The quotes come in the modes the demo's adapters.xml allows: MERGE only.
    const distinct = watchSubscription(client, { mode: 'DISTINCT', items: ['item1'], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER' });
    expect((await distinct.error()).code).toBe(24);
  });
});

describe('JSONPORTFOLIODEMO', () => {
  it('PORTFOLIO_JSON_ADAPTER: the whole portfolio as a JSON document, updated on every order', async () => {
    const { client } = await connect('JSONPORTFOLIODEMO');
    const portfolio = watchSubscription(client, { mode: 'MERGE', items: ['portfolio5'], fields: ['json'], dataAdapter: 'PORTFOLIO_JSON_ADAPTER', snapshot: 'yes' });
    await portfolio.subscribed();
    await portfolio.until((u) => u.some((x) => x.snapshot), 'the snapshot');
    const parse = (json: string | null) => JSON.parse(json!) as { portfolio5: Array<{ symbol: string; quantity: number }> };
    const first = parse(portfolio.updates[0].values.json).portfolio5;
    expect(first.length).toBeGreaterThanOrEqual(6);
    const symbols = first.map((h) => h.symbol);
    expect(symbols).toEqual([...symbols].sort());

    const before = first.find((h) => h.symbol === symbols[0])!.quantity;
    expect(await sendMessage(client, `BUY|portfolio5|${symbols[0]}|100`, 'Orders')).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await portfolio.until((u) => parse(u.at(-1)!.values.json).portfolio5.find((h) => h.symbol === symbols[0])?.quantity === before + 100, 'the new quantity');
    expect(portfolio.updates.at(-1)!.snapshot).toBe(false);
  });
});

describe('ROUNDTRIPDEMO', () => {
  it('RT|<n>|<text> comes back on roundtrip<n> with the sender’s address', async () => {
    const { client } = await connect('ROUNDTRIPDEMO');
    const items = [0, 1, 2, 3, 4].map((n) => `roundtrip${n}`);
    const rt = watchSubscription(client, { mode: 'MERGE', items, fields: ['message', 'timestamp', 'IP', 'date'], dataAdapter: 'ROUNDTRIP_ADAPTER', snapshot: 'yes' });
    await rt.subscribed();
    await rt.until((u) => new Set(u.filter((x) => x.snapshot).map((x) => x.item)).size === 5, 'five snapshots');
    const text = `there and back ${Date.now()}`;
    expect(await sendMessage(client, `RT|2|${text}`)).toEqual({ kind: 'processed', response: '' });
    await rt.until((u) => u.some((x) => x.item === 'roundtrip2' && x.values.message === text), 'the message back');
    const back = rt.updates.find((x) => x.values.message === text)!;
    expect(back.values).toMatchObject({ IP: '127.0.0.1' });
    expect(back.values.date).toMatch(/^\d{4}\.\d\d\.\d\d$/);
    expect(await sendMessage(client, 'RT|7|nowhere')).toMatchObject({ kind: 'deny', code: -1 });
    expect(await sendMessage(client, `RT|1|${'x'.repeat(501)}`)).toMatchObject({ kind: 'deny', code: -2 });
  });
});

describe('HELLOWORLD', () => {
  it('greetings alternate Hello and World on the default data adapter', async () => {
    const { client } = await connect('HELLOWORLD');
    const greetings = watchSubscription(client, { mode: 'MERGE', items: ['greetings'], fields: ['message', 'timestamp'] });
    await greetings.subscribed();
    await greetings.until((u) => u.length >= 2, 'two greetings', 15_000);
    expect(new Set(greetings.updates.slice(0, 2).map((u) => u.values.message))).toEqual(new Set(['Hello', 'World']));
    expect(greetings.updates[0].values.timestamp).toMatch(/\S/);
  });
});

describe('adapter set names', () => {
  it('an adapter set no demo has is refused with 2', async () => {
    const watched = createClient(origin.url, { adapterSet: 'XXX' });
    clients.push(watched);
    watched.client.connect();
    await watched.status(/DISCONNECTED/, 1);
    expect(watched.serverErrors[0]?.code).toBe(2);
  });
});
