/**
 * Per-session and per-origin limits: subscriptions beyond MAX_SUBSCRIPTIONS_PER_SESSION (items beyond
 * MAX_ITEMS_PER_SUBSCRIPTION and MAX_ITEMS_PER_SESSION) are refused with a subscription error (the
 * session goes on), creates beyond MAX_SESSIONS get CONERR 5 (paced), and every number a client
 * sends is brought into a range an origin can honour.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { connectClient, watchSubscription } from './support/client.ts';
import { RawSocket, createPollingSession, tlcpPost } from './support/tlcp-raw.ts';

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

  /** `count` msg lines of sequence `sequence`, progs from `from`, without acks: only errors come back. */
  const messages = (sequence: string, from: number, count: number, reqIdBase: number) =>
    Array.from({ length: count }, (_, i) => `LS_reqId=${reqIdBase + i}&LS_message=x&LS_sequence=${sequence}&LS_msg_prog=${from + i}&LS_ack=false&LS_outcome=false`);
  const sendLines = (s: RawSocket, lines: string[]) => {
    for (let i = 0; i < lines.length; i += 500) s.send(`msg\r\n${lines.slice(i, i + 500).join('\r\n')}`);
  };

  it('messages waiting for their predecessors are bounded per session, whatever the sequences', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    // Prog 1 of either sequence never comes: every message waits (no LS_max_wait: for good).
    sendLines(s, [...messages('A', 2, 600, 1), ...messages('B', 2, 400, 1001)]);
    sendLines(s, messages('B', 402, 1, 2001));
    expect(await s.line(/^REQERR,2001,/)).toBe('REQERR,2001,34,too many messages pending in this session');
    expect(s.lines.filter((l) => l.startsWith('REQERR'))).toHaveLength(1);
    s.close();
  });

  it('message sequences are bounded per session', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    sendLines(s, Array.from({ length: 101 }, (_, i) => `LS_reqId=${i + 1}&LS_message=x&LS_sequence=S${i}&LS_msg_prog=2&LS_ack=false&LS_outcome=false`));
    expect(await s.line(/^REQERR,/)).toBe('REQERR,101,34,too many message sequences in this session (at most 100)');
    s.close();
  });

  it('an LS_max_wait beyond what a timer holds still waits for the missing message', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    s.send('msg\r\nLS_reqId=1&LS_message=CHAT%7Cx&LS_sequence=W&LS_msg_prog=2&LS_max_wait=99999999999');
    await s.line(/^REQOK,1$/);
    // A few round trips: a timer that overflowed would have fired after 1 ms.
    for (let i = 2; i <= 6; i++) {
      s.send(`msg\r\nLS_reqId=${i}&LS_message=CHAT%7Cx`);
      await s.line(new RegExp(`^REQOK,${i}$`));
    }
    s.send('msg\r\nLS_reqId=7&LS_message=CHAT%7Cx&LS_sequence=W&LS_msg_prog=1');
    await s.line(/^MSGDONE,W,2,/);
    expect(s.lines.filter((l) => /^MSG(DONE|FAIL),W,/.test(l))).toEqual(['MSGDONE,W,1,', 'MSGDONE,W,2,']);
    s.close();
  });
});

describe('a client that reads nothing and keeps asking', () => {
  let own: OriginHandle;
  beforeAll(async () => {
    own = await startOrigin();
  });
  afterAll(async () => {
    await own?.stop();
  });

  async function status(): Promise<{ sessions: number; sessionsByTransport: Record<string, number> }> {
    return (await (await fetch(`${own.url}/api/status`)).json()) as { sessions: number; sessionsByTransport: Record<string, number> };
  }

  it('has its session ended once more than 10,000 notifications wait for it', async () => {
    // A polling session between polls: what it is sent waits for its next poll.
    const id = await createPollingSession(own.url);
    const control = (body: string) => tlcpPost(own.url, 'control', body, `LS_protocol=TLCP-2.5.0&LS_session=${id}`);
    expect((await control('LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=x&LS_schema=v&LS_data_adapter=FEED\r\n')).lines).toEqual(['REQOK,1']);
    // Each reconf is answered on the stream with a CONF.
    for (let batch = 0; batch < 4; batch++) {
      const lines = Array.from({ length: 2600 }, (_, i) => `LS_reqId=${batch * 10_000 + i + 2}&LS_op=reconf&LS_subId=1&LS_requested_max_frequency=1`);
      await control(`${lines.join('\r\n')}\r\n`);
    }
    expect((await control('LS_reqId=99999&LS_op=destroy\r\n')).lines).toEqual(['REQERR,99999,20,session not found']);
    expect((await status()).sessions).toBe(0);
  });

  it('over a WebSocket, has the socket dropped once megabytes of answers wait in it', async () => {
    const s = new RawSocket(own.url);
    await s.create();
    (s.ws as unknown as { _socket: Socket })._socket.pause();
    expect((await status()).sessionsByTransport['WS-STREAMING']).toBe(1);
    // Each answer echoes a 60 kB operation name; the kernel's buffers take the first few megabytes.
    const op = 'x'.repeat(60 * 1024);
    for (let i = 0; i < 300 && (await status()).sessionsByTransport['WS-STREAMING'] === 1; i++) s.send(`control\r\nLS_reqId=${i}&LS_op=${op}`);
    await expect.poll(async () => (await status()).sessionsByTransport['WS-STREAMING']).toBe(0);
    s.close();
  });
});
