/**
 * Remote adapters written with the official Node adapter SDK (lightstreamer-adapter 1.5.3, unmodified)
 * behind a real origin, configured by an adapters.xml as Lightstreamer would be, driven by the
 * official Node client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import {
  REMOTE_PASSWORD,
  freeAdapterPorts,
  remoteAdaptersXml,
  startRemoteAdapter,
  writeAdaptersXml,
  type AdapterPorts,
  type RemoteAdapterHandle,
} from './support/remote-adapter.ts';
import { waitUntil } from './support/wait.ts';

describe('remote adapters (official Node SDK) behind an origin', () => {
  let ports: AdapterPorts;
  let origin: OriginHandle;
  let remote: RemoteAdapterHandle;
  const clients: WatchedClient[] = [];
  const client = async (user?: string, headers?: Record<string, string>) => {
    const c = createClient(origin.url, { adapterSet: 'REMOTE', transport: 'WS-STREAMING', headers });
    if (user) c.client.connectionDetails.setUser(user);
    clients.push(c);
    c.client.connect();
    await c.status(/^CONNECTED:WS-STREAMING$/);
    return c;
  };

  beforeAll(async () => {
    ports = await freeAdapterPorts();
    const conf = writeAdaptersXml(remoteAdaptersXml(ports));
    origin = await startOrigin({ ADAPTERS_CONF: conf, REMOTE_ADAPTER_SECRET: REMOTE_PASSWORD, LOG_LEVEL: 'warn' });
    remote = await startRemoteAdapter(ports, {}, origin.url);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await remote?.stop();
    await origin?.stop();
  });

  it('streams MERGE, DISTINCT, COMMAND and RAW items with their snapshots and EOS', async () => {
    const c = await client();
    const merge = watchSubscription(c.client, { mode: 'MERGE', items: ['merge_item'], fields: ['price', 'name'], dataAdapter: 'STOCKS', snapshot: 'yes' });
    const distinct = watchSubscription(c.client, { mode: 'DISTINCT', items: ['distinct_item'], fields: ['line'], dataAdapter: 'STOCKS', snapshot: 'yes' });
    const command = watchSubscription(c.client, { mode: 'COMMAND', items: ['command_item'], fields: ['key', 'command', 'qty'], dataAdapter: 'STOCKS', snapshot: 'yes' });
    const raw = watchSubscription(c.client, { mode: 'RAW', items: ['raw_item'], fields: ['v'], dataAdapter: 'STOCKS' });
    for (const s of [merge, distinct, command, raw]) await s.subscribed();

    await merge.until((u) => u.length >= 1, 'MERGE snapshot');
    expect(merge.updates[0]).toMatchObject({ snapshot: true, values: { price: 'p0', name: 'first' } });
    await distinct.until(() => distinct.endOfSnapshot.length === 1, 'DISTINCT EOS');
    expect(distinct.updates.map((u) => [u.values.line, u.snapshot])).toEqual([['l1', true], ['l2', true], ['l3', true]]);
    await command.until(() => command.endOfSnapshot.length === 1, 'COMMAND EOS');
    expect(command.updates.map((u) => [u.key, u.values.command, u.values.qty, u.snapshot])).toEqual([['k1', 'ADD', '1', true], ['k2', 'ADD', '2', true]]);

    await remote.update('merge_item', { price: 'p1' });
    await remote.update('distinct_item', { line: 'l4' });
    await remote.update('command_item', { key: 'k1', command: 'UPDATE', qty: '10' });
    await remote.update('command_item', { key: 'k2', command: 'DELETE', qty: null });
    await remote.update('raw_item', { v: 'a b|c%' });
    await remote.update('raw_item', { v: null });
    await merge.until((u) => u.length === 2, 'MERGE update');
    expect(merge.updates[1]).toMatchObject({ snapshot: false, values: { price: 'p1', name: 'first' }, changed: ['price'] });
    await distinct.until((u) => u.length === 4, 'DISTINCT update');
    expect(distinct.updates[3]).toMatchObject({ snapshot: false, values: { line: 'l4' } });
    await command.until((u) => u.length === 4, 'COMMAND updates');
    expect(command.updates.slice(2).map((u) => [u.key, u.values.command, u.values.qty])).toEqual([['k1', 'UPDATE', '10'], ['k2', 'DELETE', null]]);
    await raw.until((u) => u.length === 2, 'RAW updates');
    expect(raw.updates.map((u) => u.values.v)).toEqual(['a b|c%', null]);

    // A clear snapshot reaches DISTINCT and COMMAND clients as such.
    await remote.clear('command_item');
    await command.until(() => command.clearSnapshot.length === 1, 'COMMAND clear');
  });

  it('subscribes an item upstream once however many sessions want it, and unsubscribes it after the last', async () => {
    const before = await remote.count('SUB tick_shared');
    const subs = [];
    for (let i = 0; i < 3; i++) {
      const c = await client();
      subs.push({ c, s: watchSubscription(c.client, { mode: 'MERGE', items: ['tick_shared'], fields: ['n'], dataAdapter: 'STOCKS' }) });
    }
    for (const { s } of subs) await s.subscribed();
    await remote.update('tick_shared', { n: '1' });
    for (const { s } of subs) await s.until((u) => u.some((x) => x.values.n === '1'), 'update on every session');
    expect((await remote.count('SUB tick_shared')) - before).toBe(1);
    for (const { c, s } of subs) {
      c.client.unsubscribe(s.sub);
      await s.unsubscribed();
    }
    await waitUntil(async () => (await remote.count('USB tick_shared')) >= 1, 10_000, () => 'no USB after the last session left');
    expect((await remote.state()).subscribed).not.toContain('tick_shared');
  });

  it('refuses users as the remote metadata adapter says: the client gets its code and message', async () => {
    const eve = createClient(origin.url, { adapterSet: 'REMOTE' });
    eve.client.connectionDetails.setUser('eve');
    eve.client.connectionDetails.setPassword('nope');
    clients.push(eve);
    eve.client.connect();
    await waitUntil(() => eve.serverErrors.length > 0, 15_000, () => `eve: ${eve.statuses.join(' > ')}`);
    expect(eve.serverErrors[0]).toEqual({ code: 1, message: 'bad password for eve' });

    const mallory = createClient(origin.url, { adapterSet: 'REMOTE' });
    mallory.client.connectionDetails.setUser('mallory');
    clients.push(mallory);
    mallory.client.connect();
    await waitUntil(() => mallory.serverErrors.length > 0, 15_000, () => `mallory: ${mallory.statuses.join(' > ')}`);
    expect(mallory.serverErrors[0]).toEqual({ code: -5, message: 'mallory is banned' });

    // The client's HTTP headers reach notifyUser.
    const bare = createClient(origin.url, { adapterSet: 'REMOTE' });
    bare.client.connectionDetails.setUser('headers');
    clients.push(bare);
    bare.client.connect();
    await waitUntil(() => bare.serverErrors.length > 0, 15_000, () => `headers: ${bare.statuses.join(' > ')}`);
    expect(bare.serverErrors[0].code).toBe(1);
    await client('headers', { 'x-team': 'blue' });
  });

  it('applies the user\'s item limits, refuses what notifyNewTables refuses, answers and denies messages', async () => {
    const c = await client('limited');
    const merge = watchSubscription(c.client, { mode: 'MERGE', items: ['merge_item'], fields: ['price'], dataAdapter: 'STOCKS', maxFrequency: 'unlimited' });
    const frequencies: string[] = [];
    merge.sub.addListener({ onRealMaxFrequency: (f: string | null) => void frequencies.push(String(f)) });
    await merge.subscribed();
    await waitUntil(() => frequencies.length > 0, 5_000, () => 'no CONF');
    expect(frequencies.at(-1)).toBe('2');

    const distinct = watchSubscription(c.client, { mode: 'DISTINCT', items: ['distinct_item'], fields: ['line'], dataAdapter: 'STOCKS' });
    expect((await distinct.error()).code).toBe(24);
    const secret = watchSubscription(c.client, { mode: 'MERGE', items: ['secret_item'], fields: ['price'], dataAdapter: 'STOCKS' });
    expect(await secret.error()).toEqual({ code: -7, message: 'secret_item is not for you' });

    expect(await sendMessage(c.client, 'hello', 'chat')).toEqual({ kind: 'processed', response: '' });
    expect(await sendMessage(c.client, 'forbidden', 'chat')).toEqual({ kind: 'deny', code: -3, message: 'forbidden, sorry' });
    const log = (await remote.state()).log;
    expect(log).toContain('NUM limited hello');
    expect(log.some((l) => l.startsWith('NNT limited secret_item'))).toBe(true);
  });

  it('tells the remote metadata adapter of sessions opening and closing', async () => {
    const c = await client('ann');
    const id = c.sessions.at(-1)!;
    await waitUntil(async () => (await remote.state()).sessions.includes(id), 5_000, () => `no NNS for ${id}`);
    expect((await remote.state()).log).toContain(`NNS ann ${id} 127.0.0.1`);
    await c.disconnect();
    await waitUntil(async () => (await remote.state()).log.includes(`NSC ${id}`), 5_000, () => `no NSC for ${id}`);
  });

  it('keeps sessions when the remote adapter is killed and resumes their subscriptions when it comes back', async () => {
    const c = await client();
    const sessionsBefore = c.sessions.length;
    const ticks = watchSubscription(c.client, { mode: 'MERGE', items: ['tick_restart'], fields: ['n'], dataAdapter: 'STOCKS' });
    const status = watchSubscription(c.client, { mode: 'MERGE', items: ['remote_status'], fields: ['status'], dataAdapter: 'STOCKS', snapshot: 'yes' });
    await ticks.subscribed();
    await status.until((u) => u.at(-1)?.values.status === 'connected', 'status connected');
    await remote.update('tick_restart', { n: 'before' });
    await ticks.until((u) => u.at(-1)?.values.n === 'before', 'update before the kill');

    await remote.kill();
    await status.until((u) => u.at(-1)?.values.status === 'reconnecting', 'status reconnecting');
    remote = await startRemoteAdapter(ports, {}, origin.url);
    await status.until((u) => u.at(-1)?.values.status === 'connected', 'status connected again');
    await waitUntil(async () => (await remote.state()).subscribed.includes('tick_restart'), 10_000, () => 'tick_restart not subscribed again');
    await remote.update('tick_restart', { n: 'after' });
    await ticks.until((u) => u.at(-1)?.values.n === 'after', 'update after the restart');
    // Same session throughout: no new session, no error.
    expect(c.sessions.length).toBe(sessionsBefore);
    expect(c.serverErrors).toEqual([]);
    expect(ticks.errors).toEqual([]);
  });
});
