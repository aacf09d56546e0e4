/**
 * The official Node client against a real origin over each of its four transports: every
 * subscription mode with snapshots and live updates, and messages with each outcome.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { TRANSPORTS, connectClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';

const TOKEN = 'test-publish-token';
let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN: TOKEN });
});
afterAll(async () => {
  await origin?.stop();
});

describe.each(TRANSPORTS)('%s', (transport) => {
  let c: WatchedClient;
  // Item names unique to this transport, so the suites do not see each other's updates.
  const tag = transport.toLowerCase().replace('-', '_');

  beforeAll(async () => {
    c = await connectClient(origin.url, { transport });
  });
  afterAll(async () => {
    await c?.disconnect();
  });

  it('MERGE: snapshot, then deltas with null, empty, unchanged and escaped values', async () => {
    const item = `merge_${tag}`;
    await publish(origin.url, TOKEN, { item, fields: { a: '1', b: 'x', c: 'y', d: 'z', e: 'w' } });
    const s = watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['a', 'b', 'c', 'd', 'e'], snapshot: 'yes' });
    await s.until((u) => u.length === 1, 'snapshot');
    expect(s.updates[0]).toMatchObject({ snapshot: true, values: { a: '1', b: 'x', c: 'y', d: 'z', e: 'w' } });
    await publish(origin.url, TOKEN, { item, fields: { a: null, b: '', c: 'v|2%,#', e: '$^' } });
    await publish(origin.url, TOKEN, { item, fields: { e: 'last' } });
    await s.until((u) => u.length === 3, 'two live updates');
    expect(s.updates[1]).toMatchObject({ snapshot: false, values: { a: null, b: '', c: 'v|2%,#', d: 'z', e: '$^' } });
    expect(s.updates[1].changed.sort()).toEqual(['a', 'b', 'c', 'e']);
    expect(s.updates[2].values).toEqual({ a: null, b: '', c: 'v|2%,#', d: 'z', e: 'last' });
    expect(s.updates[2].changed).toEqual(['e']);
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('MERGE on a QUOTE_ADAPTER item streams live quotes', async () => {
    const s = watchSubscription(c.client, {
      mode: 'MERGE',
      items: ['item1', 'item2'],
      fields: ['stock_name', 'last_price', 'time'],
      dataAdapter: 'QUOTE_ADAPTER',
      snapshot: 'yes',
    });
    await s.until((u) => u.filter((x) => !x.snapshot).length >= 2, 'live quotes');
    expect(s.updates[0].snapshot).toBe(true);
    expect(s.updates[0].values.stock_name).toBeTruthy();
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('DISTINCT: snapshot of recent events, end of snapshot, then every event', async () => {
    const item = `distinct_${tag}`;
    for (let i = 1; i <= 3; i++) await publish(origin.url, TOKEN, { item, fields: { n: String(i), text: `t${i}` } });
    const s = watchSubscription(c.client, { mode: 'DISTINCT', items: [item], fields: ['n', 'text'], snapshot: 2 });
    await s.until((u) => u.length === 2, 'snapshot');
    await s.subscribed();
    expect(s.updates.map((u) => [u.values.n, u.snapshot])).toEqual([
      ['2', true],
      ['3', true],
    ]);
    await expect.poll(() => s.endOfSnapshot).toEqual([item]);
    for (let i = 4; i <= 6; i++) await publish(origin.url, TOKEN, { item, fields: { n: String(i), text: `t${i}` } });
    await s.until((u) => u.length === 5, 'live events');
    expect(s.updates.slice(2).map((u) => [u.values.n, u.values.text, u.snapshot])).toEqual([
      ['4', 't4', false],
      ['5', 't5', false],
      ['6', 't6', false],
    ]);
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('COMMAND: rows as ADD in the snapshot, then ADD, UPDATE and DELETE', async () => {
    const item = `command_${tag}`;
    await publish(origin.url, TOKEN, [
      { item, fields: { key: 'k1', command: 'ADD', qty: '10' } },
      { item, fields: { key: 'k2', command: 'ADD', qty: '20' } },
    ]);
    const s = watchSubscription(c.client, { mode: 'COMMAND', items: [item], fields: ['key', 'command', 'qty'], snapshot: 'yes' });
    await s.until((u) => u.length === 2, 'snapshot rows');
    await expect.poll(() => s.endOfSnapshot).toEqual([item]);
    expect(s.updates.map((u) => [u.key, u.values.command, u.values.qty, u.snapshot])).toEqual([
      ['k1', 'ADD', '10', true],
      ['k2', 'ADD', '20', true],
    ]);
    await publish(origin.url, TOKEN, [
      { item, fields: { key: 'k1', command: 'UPDATE', qty: '11' } },
      { item, fields: { key: 'k3', command: 'ADD', qty: '30' } },
      { item, fields: { key: 'k2', command: 'DELETE' } },
    ]);
    await s.until((u) => u.length === 5, 'live row commands');
    expect(s.updates.slice(2).map((u) => [u.key, u.values.command, u.values.qty])).toEqual([
      ['k1', 'UPDATE', '11'],
      ['k3', 'ADD', '30'],
      ['k2', 'DELETE', null],
    ]);
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('clear snapshot: CS for DISTINCT and COMMAND, nulls for MERGE, empty snapshots afterwards', async () => {
    const item = `clear_${tag}`;
    await publish(origin.url, TOKEN, [
      { item, fields: { key: 'k1', command: 'ADD', qty: '10' } },
      { item, fields: { key: 'k2', command: 'ADD', qty: '20' } },
    ]);
    const fields = ['key', 'command', 'qty'];
    const command = watchSubscription(c.client, { mode: 'COMMAND', items: [item], fields, snapshot: 'yes' });
    const distinct = watchSubscription(c.client, { mode: 'DISTINCT', items: [item], fields, snapshot: 'yes' });
    const merge = watchSubscription(c.client, { mode: 'MERGE', items: [item], fields, snapshot: 'yes' });
    for (const s of [command, distinct]) await s.until((u) => u.length === 2, 'snapshot');
    await merge.until((u) => u.length === 1, 'MERGE snapshot');
    await publish(origin.url, TOKEN, { item, clearSnapshot: true });
    await expect.poll(() => [command.clearSnapshot, distinct.clearSnapshot]).toEqual([[item], [item]]);
    await merge.until((u) => u.length === 2, 'MERGE cleared');
    expect(merge.updates[1].values).toEqual({ key: null, command: null, qty: null });
    await publish(origin.url, TOKEN, { item, fields: { key: 'k3', command: 'ADD', qty: '30' } });
    await command.until((u) => u.length === 3, 'row after the clear');
    expect(command.updates[2]).toMatchObject({ key: 'k3', snapshot: false, values: { command: 'ADD', qty: '30' } });
    await distinct.until((u) => u.length === 3, 'event after the clear');

    const late = watchSubscription(c.client, { mode: 'COMMAND', items: [item], fields, snapshot: 'yes' });
    const lateDistinct = watchSubscription(c.client, { mode: 'DISTINCT', items: [item], fields, snapshot: 'yes' });
    await expect.poll(() => [late.endOfSnapshot, lateDistinct.endOfSnapshot]).toEqual([[item], [item]]);
    expect(late.updates.map((u) => [u.key, u.snapshot])).toEqual([['k3', true]]);
    expect(lateDistinct.updates.map((u) => [u.values.key, u.snapshot])).toEqual([['k3', true]]);
    await publish(origin.url, TOKEN, { item, clearSnapshot: true });
    await expect.poll(() => late.clearSnapshot).toEqual([item]);
    const empty = watchSubscription(c.client, { mode: 'COMMAND', items: [item], fields, snapshot: 'yes' });
    await expect.poll(() => empty.endOfSnapshot).toEqual([item]);
    expect(empty.updates).toEqual([]);
    for (const s of [command, distinct, merge, late, lateDistinct, empty]) {
      c.client.unsubscribe(s.sub);
      await s.unsubscribed();
    }
  });

  it('COMMAND on PORTFOLIO_ADAPTER follows BUY orders sent as messages', async () => {
    const s = watchSubscription(c.client, {
      mode: 'COMMAND',
      items: ['portfolio2'],
      fields: ['key', 'command', 'qty'],
      dataAdapter: 'PORTFOLIO_ADAPTER',
      snapshot: 'yes',
    });
    await expect.poll(() => s.endOfSnapshot, { timeout: 10_000 }).toEqual(['portfolio2']);
    const before = s.updates.length;
    const stock = `item${3 + TRANSPORTS.indexOf(transport)}`;
    expect(await sendMessage(c.client, `BUY|portfolio2|${stock}|5`)).toEqual({ kind: 'processed', response: 'SUBMITTED' });
    await s.until((u) => u.slice(before).some((x) => x.key === stock), 'row for the order');
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('RAW: no snapshot, every event', async () => {
    const item = `raw_${tag}`;
    await publish(origin.url, TOKEN, { item, fields: { v: 'before' } });
    const s = watchSubscription(c.client, { mode: 'RAW', items: [item], fields: ['v'] });
    await s.subscribed();
    await publish(origin.url, TOKEN, [
      { item, fields: { v: 'a' } },
      { item, fields: { v: 'a' } },
      { item, fields: { v: 'b' } },
    ]);
    await s.until((u) => u.length === 3, 'raw events');
    expect(s.updates.map((u) => u.values.v)).toEqual(['a', 'a', 'b']);
    c.client.unsubscribe(s.sub);
    await s.unsubscribed();
  });

  it('refuses unknown adapters, items and fields with the protocol codes', async () => {
    const badAdapter = watchSubscription(c.client, { mode: 'MERGE', items: ['item1'], fields: ['last_price'], dataAdapter: 'NOPE' });
    expect((await badAdapter.error()).code).toBe(17);
    const badItem = watchSubscription(c.client, { mode: 'MERGE', items: ['item99'], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER' });
    expect((await badItem.error()).code).toBe(21);
    const badField = watchSubscription(c.client, { mode: 'MERGE', items: ['item1'], fields: ['nope'], dataAdapter: 'QUOTE_ADAPTER' });
    expect((await badField.error()).code).toBe(23);
    const badMode = watchSubscription(c.client, { mode: 'MERGE', items: ['portfolio1'], fields: ['key', 'command', 'qty'], dataAdapter: 'PORTFOLIO_ADAPTER' });
    expect((await badMode.error()).code).toBe(24);
    // The session survives all of it.
    expect(c.client.getStatus()).toBe(`CONNECTED:${transport}`);
  });

  it('messages: processed with a response, denied by the adapter, and fire-and-forget', async () => {
    const chat = watchSubscription(c.client, { mode: 'DISTINCT', items: ['chat_room'], fields: ['message', 'IP'], dataAdapter: 'CHAT_ROOM', snapshot: 'no' });
    await chat.subscribed();
    expect(await sendMessage(c.client, `CHAT|hello, ${tag}`, 'chat_seq')).toEqual({ kind: 'processed', response: '' });
    await chat.until((u) => u.some((x) => x.values.message === `hello, ${tag}`), 'chat line');
    expect(chat.updates.find((x) => x.values.message === `hello, ${tag}`)?.values.IP).toBe('127.0.0.1');

    const denied = await sendMessage(c.client, 'what?');
    expect(denied).toMatchObject({ kind: 'deny', code: -1 });

    // No listener: LS_outcome=false; the message still takes effect.
    c.client.sendMessage(`CHAT|quiet ${tag}`);
    await chat.until((u) => u.some((x) => x.values.message === `quiet ${tag}`), 'fire-and-forget chat line');
    c.client.unsubscribe(chat.sub);
    await chat.unsubscribed();
  });
});
