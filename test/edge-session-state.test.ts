import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, startOrigin, type OriginHandle } from './support/origin.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import { newSecrets, resolveLocalhostNames, type EdgeHandle } from './support/edge.ts';
import { connectClient, createClient, sendMessage, TRANSPORTS, watchSubscription, type MessageOutcome, type Transport, type Update, type WatchedClient, type WatchedSubscription } from './support/client.ts';
import { countedGaps, counterOf, openOnShard, placingOn, startCountedFeed, startSessionEdge } from './support/session-layer.ts';
import { waitUntil } from './support/wait.ts';

/**
 * Mode `session` on shards that share one feed (Redis): after the upstream of a session moves to
 * another shard, what the client holds is the shared state — MERGE values and COMMAND rows equal a
 * fresh subscriber's snapshot, DISTINCT events arrive once and in order — and it learns of the move
 * by nothing (no second subscription, no cleared snapshot, no snapshot again, no error). Messages in
 * flight when the shard hangs each get an outcome.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const SHARD_IDS = ['r1', 'r2', 'r3', 'r4'];
const origins: Record<string, OriginHandle> = {};
let redis: RedisHandle;
let edge: EdgeHandle;
const run = randomBytes(4).toString('hex');

resolveLocalhostNames();

beforeAll(async () => {
  redis = await startRedis();
  await Promise.all(
    SHARD_IDS.map(async (id) => {
      origins[id] = await startOrigin({ SHARD_ID: id, REDIS_URL: redis.url, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });
    }),
  );
  edge = await startSessionEdge(secrets, Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })));
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
  await redis?.stop();
});

const alive = () => Object.values(origins).filter((o) => o.child.exitCode === null && o.child.signalCode === null);
const survivorOf = (victim: string) => alive().find((o) => o.shardId !== victim)!;

const MERGE_FIELDS = ['a', 'b', 'c'];
const COMMAND_FIELDS = ['key', 'command', 'qty'];

/** The client's MERGE values: the last update carries every field's current value. */
const mergeValues = (sub: WatchedSubscription) => sub.updates.at(-1)?.values ?? null;

/** The client's COMMAND rows (key → qty), as an application applying every update holds them. */
function rowsOf(updates: readonly Update[]): Record<string, string | null> {
  const rows = new Map<string, string | null>();
  for (const u of updates) {
    if (u.values.command === 'DELETE') rows.delete(u.key!);
    else rows.set(u.key!, u.values.qty);
  }
  return Object.fromEntries([...rows].sort(([a], [b]) => a.localeCompare(b)));
}

/** A client direct to an origin, with MERGE and COMMAND snapshots: what a fresh subscriber sees. */
async function freshSubscriber(origin: OriginHandle, portfolio: string, mergeItem: string | null = null) {
  const client = await connectClient(origin.url, { transport: 'WS-STREAMING' });
  const merge = mergeItem === null ? null : watchSubscription(client.client, { mode: 'MERGE', items: [mergeItem], fields: MERGE_FIELDS, dataAdapter: 'FEED', snapshot: 'yes' });
  const command = watchSubscription(client.client, { mode: 'COMMAND', items: [portfolio], fields: COMMAND_FIELDS, dataAdapter: 'PORTFOLIO_ADAPTER', snapshot: 'yes' });
  await merge?.until((u) => u.length > 0, 'fresh MERGE snapshot');
  await command.until(() => command.endOfSnapshot.length > 0, 'fresh COMMAND snapshot');
  return { client, merge: merge && mergeValues(merge), rows: rowsOf(command.updates.filter((u) => u.snapshot)) };
}

interface StateClient {
  readonly transport: Transport;
  readonly watched: WatchedClient;
  readonly merge: WatchedSubscription;
  readonly command: WatchedSubscription;
  readonly distinct: WatchedSubscription;
  shard(): string | null;
  close(): void;
}

/** A session-mode client with a MERGE, a COMMAND and a DISTINCT subscription, each with its snapshot. */
async function stateClient(transport: Transport, mergeItem: string, portfolio: string, distinctItem: string): Promise<StateClient> {
  const watched = createClient(edge.urlFor('session.localhost'), { transport });
  const merge = watchSubscription(watched.client, { mode: 'MERGE', items: [mergeItem], fields: MERGE_FIELDS, dataAdapter: 'FEED', snapshot: 'yes' });
  const command = watchSubscription(watched.client, { mode: 'COMMAND', items: [portfolio], fields: COMMAND_FIELDS, dataAdapter: 'PORTFOLIO_ADAPTER', snapshot: 'yes' });
  const distinct = watchSubscription(watched.client, { mode: 'DISTINCT', items: [distinctItem], fields: ['n'], dataAdapter: 'FEED', snapshot: 'yes' });
  watched.client.connect();
  await watched.status(new RegExp(`^CONNECTED:${transport}$`));
  await merge.until((u) => u.length > 0, `${transport} MERGE snapshot`);
  await command.until(() => command.endOfSnapshot.length > 0, `${transport} COMMAND snapshot`);
  await distinct.subscribed();
  return { transport, watched, merge, command, distinct, shard: watched.shard, close: watched.close };
}

/** One client per transport, every one with its upstream on the same shard (the first one's). */
async function clientsOnOneShard(open: (transport: Transport) => Promise<StateClient>): Promise<{ victim: string; clients: StateClient[] }> {
  const first = await open(TRANSPORTS[0]);
  const victim = first.shard()!;
  const clients = [first];
  try {
    await placingOn(edge, victim, SHARD_IDS, async () => {
      for (const transport of TRANSPORTS.slice(1)) clients.push(await openOnShard(victim, () => open(transport)));
    });
  } catch (err) {
    for (const c of clients) c.close();
    throw err;
  }
  return { victim, clients };
}

/** Orders that ADD a row, UPDATE one and DELETE one of `rows`; resolves once each is processed. */
async function changeEveryRowKind(operator: WatchedClient, portfolio: string, rows: Record<string, string | null>): Promise<void> {
  const held = Object.keys(rows);
  const absent = Array.from({ length: 30 }, (_, i) => `item${i + 1}`).find((item) => !held.includes(item))!;
  const orders = [`BUY|${portfolio}|${absent}|7`, `BUY|${portfolio}|${held[0]}|3`, `SELL|${portfolio}|${held[1]}|${rows[held[1]]}`];
  const outcomes = await Promise.all(orders.map((order) => sendMessage(operator.client, order)));
  expect(outcomes, orders.join(' ')).toEqual(orders.map(() => ({ kind: 'processed', response: 'SUBMITTED' })));
}

describe('shared state after a failover (shards on one Redis feed)', () => {
  it('every transport: MERGE values and COMMAND rows equal a fresh subscriber, DISTINCT events arrive once and in order, and the client sees nothing of the move', async () => {
    const mergeItem = `m-${run}`;
    const distinctItem = `d-${run}`;
    const portfolio = 'portfolio1';
    await publish(alive()[0].url, PUBLISH_TOKEN, { item: mergeItem, fields: { a: 'a0', b: 'b0', c: 'c0' } });
    const { victim, clients } = await clientsOnOneShard((transport) => stateClient(transport, mergeItem, portfolio, distinctItem));
    const source = survivorOf(victim);
    const operator = await connectClient(source.url, { transport: 'WS-STREAMING' });
    const operatorRows = watchSubscription(operator.client, { mode: 'COMMAND', items: [portfolio], fields: COMMAND_FIELDS, dataAdapter: 'PORTFOLIO_ADAPTER', snapshot: 'yes' });
    const distinctFeed = startCountedFeed(source.url, PUBLISH_TOKEN, distinctItem);
    let fresh: Awaited<ReturnType<typeof freshSubscriber>> | null = null;
    try {
      await operatorRows.until(() => operatorRows.endOfSnapshot.length > 0, 'operator COMMAND snapshot');
      if (Object.keys(rowsOf(operatorRows.updates)).length < 2) await sendMessage(operator.client, `BUY|${portfolio}|item1|1`);
      await waitUntil(() => clients.every((c) => c.distinct.updates.length >= 5), 15_000, () => 'DISTINCT feed not flowing');
      const before = clients.map((c) => ({
        statuses: c.watched.statuses.length,
        snapshots: [c.merge, c.command, c.distinct].map((s) => s.updates.filter((u) => u.snapshot).length),
        merge: c.merge.updates.length,
      }));
      expect(clients.map((c) => rowsOf(c.command.updates))).toEqual(clients.map(() => rowsOf(operatorRows.updates)));
      const movesBefore = await counterOf(edge, 'upstreamMoves');

      // The shard hangs first, so what changes now reaches the clients only through the move.
      origins[victim].child.kill('SIGSTOP');
      await publish(source.url, PUBLISH_TOKEN, { item: mergeItem, fields: { a: 'a1', b: 'b1' } });
      await changeEveryRowKind(operator, portfolio, rowsOf(operatorRows.updates));
      const lastBeforeKill = distinctFeed.last + 3;
      await waitUntil(() => distinctFeed.last >= lastBeforeKill, 5_000, () => 'DISTINCT feed stalled');
      await origins[victim].kill();

      fresh = await freshSubscriber(survivorOf(source.shardId), portfolio, mergeItem);
      expect(fresh.merge).toEqual({ a: 'a1', b: 'b1', c: 'c0' });
      const expectedRows = fresh.rows;
      const describeClients = () =>
        clients.map((c) => `${c.transport}: ${JSON.stringify(mergeValues(c.merge))} ${JSON.stringify(rowsOf(c.command.updates))} ${c.watched.statuses.slice(-2).join('>')}`).join(' | ');
      await waitUntil(
        () => clients.every((c) => JSON.stringify(mergeValues(c.merge)) === JSON.stringify(fresh!.merge) && JSON.stringify(rowsOf(c.command.updates)) === JSON.stringify(expectedRows)),
        20_000,
        () => `clients not reconciled with ${JSON.stringify(fresh!.merge)} ${JSON.stringify(expectedRows)}: ${describeClients()}`,
      );

      // DISTINCT: events keep coming after the move; then every one published must have arrived once.
      const afterMove = distinctFeed.last + 10;
      await waitUntil(() => clients.every((c) => c.distinct.updates.length >= afterMove), 20_000, () => 'DISTINCT not flowing after the move');
      await distinctFeed.stop();
      expect(distinctFeed.failures).toEqual([]);
      await waitUntil(
        () => clients.every((c) => c.distinct.updates.length >= distinctFeed.last),
        10_000,
        () => `DISTINCT incomplete: ${clients.map((c) => `${c.transport} ${countedGaps(c.distinct.updates.map((u) => u.values.n), distinctFeed.last)}`).join(' | ')}`,
      );

      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 10_000, () => 'upstream moves not counted');
      clients.forEach((c, i) => {
        const what = c.transport;
        expect(countedGaps(c.distinct.updates.map((u) => u.values.n), distinctFeed.last), what).toBeNull();
        expect(c.watched.sessions, what).toHaveLength(1);
        expect(c.watched.serverErrors, what).toEqual([]);
        expect(c.watched.statuses.slice(before[i].statuses), `${what}: status changes`).toEqual([]);
        for (const sub of [c.merge, c.command, c.distinct]) {
          expect(sub.calls, what).toEqual({ subscribed: 1, unsubscribed: 0 });
          expect(sub.errors, what).toEqual([]);
          expect(sub.clearSnapshot, what).toEqual([]);
        }
        expect(c.command.endOfSnapshot, what).toHaveLength(1);
        expect(c.distinct.endOfSnapshot, what).toHaveLength(1);
        expect([c.merge, c.command, c.distinct].map((s) => s.updates.filter((u) => u.snapshot).length), `${what}: snapshot again`).toEqual(before[i].snapshots);
        // Only the fields that differ come with the move: c never changed.
        expect(c.merge.updates.slice(before[i].merge).flatMap((u) => u.changed), what).not.toContain('c');
      });
    } finally {
      await distinctFeed.stop();
      fresh?.client.close();
      operator.close();
      for (const c of clients) c.close();
    }
  });
});

describe('DISTINCT events across a failover, by their position in the shared feed', () => {
  it('reach the client once each even when they are identical, where their content alone cannot tell them apart', async () => {
    const item = `same-${run}`;
    const open = async (transport: Transport) => {
      const watched = createClient(edge.urlFor('session.localhost'), { transport });
      const events = watchSubscription(watched.client, { mode: 'DISTINCT', items: [item], fields: ['v'], dataAdapter: 'FEED', snapshot: 'no' });
      watched.client.connect();
      await watched.status(new RegExp(`^CONNECTED:${transport}$`));
      await events.subscribed();
      return { transport, watched, events, shard: watched.shard, close: watched.close };
    };
    const first = await open('WS-STREAMING');
    const victim = first.shard()!;
    const clients = [first];
    try {
      await placingOn(edge, victim, SHARD_IDS, async () => {
        clients.push(await openOnShard(victim, () => open('HTTP-STREAMING')));
      });
      const source = survivorOf(victim);
      const same = (count: number) => publish(source.url, PUBLISH_TOKEN, Array.from({ length: count }, () => ({ item, fields: { v: 'tick' } })));
      await same(5);
      await waitUntil(() => clients.every((c) => c.events.updates.length === 5), 10_000, () => 'first events not received');
      const movesBefore = await counterOf(edge, 'upstreamMoves');

      // Twenty more, the same as the five the clients hold, while their shard hangs: only the move
      // brings them, from the new upstream's history.
      origins[victim].child.kill('SIGSTOP');
      await same(20);
      await origins[victim].kill();
      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 15_000, () => 'upstreams not moved');
      await same(3);
      await waitUntil(() => clients.every((c) => c.events.updates.length >= 28), 10_000, () => `events missing: ${clients.map((c) => `${c.transport} ${c.events.updates.length}`).join(', ')}`);
      // A duplicate would show as more than 28, given the time to arrive.
      await publish(source.url, PUBLISH_TOKEN, { item, fields: { v: 'last' } });
      await waitUntil(() => clients.every((c) => c.events.updates.at(-1)?.values.v === 'last'), 10_000, () => 'last event missing');
      for (const c of clients) {
        expect(c.events.updates.map((u) => u.values.v), c.transport).toEqual([...Array(28).fill('tick'), 'last']);
        expect(c.watched.sessions, c.transport).toHaveLength(1);
        expect(c.watched.serverErrors, c.transport).toEqual([]);
        expect(c.events.calls, c.transport).toEqual({ subscribed: 1, unsubscribed: 0 });
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});

describe('messages in flight during a failover', () => {
  it('every message sent to a hung shard ends in an outcome, none is processed twice, and messages after the move are processed', async () => {
    const portfolio = 'portfolio2';
    const order = `BUY|${portfolio}|item3|1`;
    const open = async (transport: Transport) => {
      const watched = await connectClient(edge.urlFor('session.localhost'), { transport });
      return { transport, watched, shard: watched.shard, close: watched.close };
    };
    const first = await open(TRANSPORTS[0]);
    const victim = first.shard()!;
    const clients = [first];
    const held = async () => {
      const fresh = await freshSubscriber(survivorOf(victim), portfolio);
      fresh.client.close();
      return Number(fresh.rows.item3 ?? 0);
    };
    try {
      await placingOn(edge, victim, SHARD_IDS, async () => {
        for (const transport of TRANSPORTS.slice(1)) clients.push(await openOnShard(victim, () => open(transport)));
      });
      const qtyBefore = await held();
      const movesBefore = await counterOf(edge, 'upstreamMoves');

      origins[victim].child.kill('SIGSTOP');
      // Two in a sequence and one unordered per client, sent at once to the hung shard.
      const inFlight = clients.flatMap((c) => [sendMessage(c.watched.client, order, 'orders'), sendMessage(c.watched.client, order, 'orders'), sendMessage(c.watched.client, order)]);
      const outcomes: MessageOutcome[] = [];
      inFlight.forEach((p, i) => void p.then((o) => (outcomes[i] = o)));
      await waitUntil(
        () => outcomes.filter(Boolean).length === inFlight.length,
        30_000,
        () => `messages without an outcome: ${inFlight.length - outcomes.filter(Boolean).length} of ${inFlight.length}`,
      );
      console.log(`in flight: ${JSON.stringify(outcomes.map((o) => o.kind))}`);
      for (const o of outcomes) expect(['processed', 'deny', 'discarded', 'error']).toContain(o.kind);
      await waitUntil(async () => (await counterOf(edge, 'upstreamMoves')) >= movesBefore + clients.length, 10_000, () => 'upstreams not moved');

      const after = await Promise.all(clients.flatMap((c) => [sendMessage(c.watched.client, order, 'orders'), sendMessage(c.watched.client, order)]));
      expect(after).toEqual(after.map(() => ({ kind: 'processed', response: 'SUBMITTED' })));

      // The hung shard never comes back: what it had not processed stays unprocessed.
      await origins[victim].kill();
      const processed = outcomes.filter((o) => o.kind === 'processed').length + after.length;
      const unknown = outcomes.filter((o) => o.kind === 'error').length;
      const delta = (await held()) - qtyBefore;
      expect(delta).toBeGreaterThanOrEqual(processed);
      expect(delta).toBeLessThanOrEqual(processed + unknown);
      for (const c of clients) {
        expect(c.watched.sessions, c.transport).toHaveLength(1);
        expect(c.watched.serverErrors, c.transport).toEqual([]);
      }
    } finally {
      origins[victim].child.kill('SIGCONT');
      for (const c of clients) c.close();
    }
  });
});
