/**
 * Per-session and per-origin limits: subscriptions beyond MAX_SUBSCRIPTIONS_PER_SESSION (items beyond
 * MAX_ITEMS_PER_SUBSCRIPTION and MAX_ITEMS_PER_SESSION) are refused with a subscription error (the
 * session goes on), creates beyond MAX_SESSIONS get CONERR 5 (paced), and every number a client
 * sends is brought into a range an origin can honour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { connectClient, watchSubscription } from './support/client.ts';
import { RawSocket } from './support/tlcp-raw.ts';

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ MAX_SUBSCRIPTIONS_PER_SESSION: '2', MAX_SESSIONS: '2' });
});
afterAll(async () => {
  await origin?.stop();
});

describe('limits', () => {
  it('refuses a subscription beyond the per-session limit, and takes one again once there is room', async () => {
    const c = await connectClient(origin.url, { transport: 'WS-STREAMING' });
    const watch = (item: string) => watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['v'] });
    const [first, second] = [watch('lim1'), watch('lim2')];
    await first.subscribed();
    await second.subscribed();
    const third = watch('lim3');
    expect(await third.error()).toEqual({ code: 0, message: 'too many subscriptions in this session' });
    c.client.unsubscribe(first.sub);
    await first.unsubscribed();
    await watch('lim4').subscribed();
    expect(c.client.getStatus()).toBe('CONNECTED:WS-STREAMING');
    await c.disconnect();
  });

  it('answers CONERR 5 to a create beyond the session limit', async () => {
    const sockets = [new RawSocket(origin.url), new RawSocket(origin.url)];
    for (const s of sockets) await s.create();
    const refused = new RawSocket(origin.url);
    await refused.opened;
    refused.send('wsok');
    const asked = Date.now();
    refused.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=raw&LS_send_sync=false');
    expect(await refused.line(/^CON/)).toBe('CONERR,5,server at its session capacity');
    // Paced: the client retries a 5 at once, so the answer itself sets the pace of its retries.
    expect(Date.now() - asked).toBeGreaterThanOrEqual(900);
    sockets[0].send('control\r\nLS_reqId=1&LS_op=destroy');
    await sockets[0].line(/^END,31/);
    const again = new RawSocket(origin.url);
    await again.create();
    for (const s of [...sockets, refused, again]) s.close();
  });
});

/**
 * Issue 8's reproduction: one WebSocket session subscribing MERGE to 3,000 copies of `item1` at
 * LS_requested_max_frequency=0.0000001 held an origin at ~94 % CPU for as long as it stayed (the
 * pause 1000/f ms overflowed Node's timer limit, so every item's timer fired after 1 ms, forever).
 */
describe('the subscription of issue 8', () => {
  const group = Array.from({ length: 3000 }, () => 'item1').join('%20');
  const add = (reqId: number, subId: number) =>
    `control\r\nLS_reqId=${reqId}&LS_op=add&LS_subId=${subId}&LS_mode=MERGE&LS_group=${group}&LS_schema=last_price` +
    `&LS_data_adapter=QUOTE_ADAPTER&LS_snapshot=true&LS_requested_max_frequency=0.0000001`;

  interface Sample {
    readonly at: number;
    readonly cpuPercent: number;
  }
  async function samples(target: OriginHandle): Promise<Sample[]> {
    return ((await (await fetch(`${target.url}/dashboard/data`)).json()) as { samples: Sample[] }).samples;
  }

  it('is refused under the default items-per-subscription limit, and the session goes on', async () => {
    const own = await startOrigin();
    try {
      const s = new RawSocket(own.url);
      await s.create();
      s.send(add(1, 1));
      expect(await s.line(/^(REQERR|SUBOK),/)).toBe('REQERR,1,0,too many items in one subscription (at most 1000)');
      s.send('control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=item1&LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER&LS_snapshot=true');
      await s.line(/^U,2,1,/);
      s.close();
    } finally {
      await own.stop();
    }
  });

  it('let through by a raised limit, gets the lowest rate an origin grants, and leaves the origin idle and serving others', async () => {
    const own = await startOrigin({ MAX_ITEMS_PER_SUBSCRIPTION: '3000' });
    try {
      const hostile = new RawSocket(own.url);
      await hostile.create();
      hostile.send(add(1, 1));
      expect(await hostile.line(/^(REQERR|SUBOK),/)).toBe('SUBOK,1,3000,1');
      // CONF tells the client the rate it is granted: one update per 100 s, a pause a timer holds.
      expect(await hostile.line(/^CONF,1,/)).toBe('CONF,1,0.01,filtered');
      await hostile.line(/^U,1,3000,/);
      const subscribedAt = Date.now();

      // Another client's requests are answered and its updates flow.
      const other = await connectClient(own.url, { transport: 'WS-STREAMING' });
      const quotes = watchSubscription(other.client, { mode: 'MERGE', items: ['item2'], fields: ['last_price'], dataAdapter: 'QUOTE_ADAPTER' });
      await quotes.until((u) => u.length >= 3, 'three item2 updates');

      // The origin's own CPU figures over whole seconds after the subscription: an origin re-arming
      // 3,000 timers every millisecond spends a whole core; an idle one a few percent.
      const whole = async () => (await samples(own)).filter((s) => s.at > subscribedAt + 1000);
      await expect.poll(async () => (await whole()).length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
      const after = await whole();
      expect(Math.max(...after.map((s) => s.cpuPercent))).toBeLessThan(50);
      expect(hostile.lines.filter((l) => l.startsWith('END'))).toEqual([]);
      hostile.close();
      await other.disconnect();
    } finally {
      await own.stop();
    }
  });
});

describe('what one session may ask for', () => {
  let own: OriginHandle;
  beforeAll(async () => {
    own = await startOrigin({ MAX_ITEMS_PER_SESSION: '5' });
  });
  afterAll(async () => {
    await own?.stop();
  });

  const add = (reqId: number, subId: number, group: string) =>
    `control\r\nLS_reqId=${reqId}&LS_op=add&LS_subId=${subId}&LS_mode=MERGE&LS_group=${group}&LS_schema=v&LS_data_adapter=FEED`;

  it('items across subscriptions beyond MAX_ITEMS_PER_SESSION are refused, and fit again once others go', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    s.send(add(1, 1, 'a%20b%20c'));
    await s.line(/^SUBOK,1,3,1$/);
    s.send(add(2, 2, 'd%20e%20f'));
    expect(await s.line(/^(REQERR|SUBOK),2/)).toBe('REQERR,2,0,too many subscribed items in this session');
    s.send('control\r\nLS_reqId=3&LS_op=delete&LS_subId=1');
    await s.line(/^UNSUB,1$/);
    s.send(add(4, 2, 'd%20e%20f'));
    await s.line(/^SUBOK,2,3,1$/);
    s.close();
  });

  it('a schema of more fields than an origin encodes per update, or a subscription id past 2^31, is refused', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    const fields = Array.from({ length: 1001 }, (_, i) => `f${i}`).join('%20');
    s.send(`control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=x&LS_schema=${fields}&LS_data_adapter=FEED`);
    expect(await s.line(/^(REQERR|SUBOK),1/)).toBe('REQERR,1,0,too many fields in one subscription (at most 1000)');
    s.send(add(2, 2 ** 31, 'x'));
    expect(await s.line(/^(REQERR|SUBOK),2/)).toBe('REQERR,2,65,LS_subId must be at most 2147483647');
    s.close();
  });
});
