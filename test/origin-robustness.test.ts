/**
 * What an origin does under pressure or in its other configurations: slow consumers stay bounded
 * (MERGE conflates, RAW reports lost updates), silent streams get keepalives, and the opaque
 * session-id style used by the edge's learned-pin mode.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { connectClient, createClient, watchSubscription } from './support/client.ts';
import { RawSocket, createPollingSession, tlcpPost } from './support/tlcp-raw.ts';

const TOKEN = 'robust-publish-token';
let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN: TOKEN });
});
afterAll(async () => {
  await origin?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${origin.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

describe('slow consumer', () => {
  it('a client that stops reading is conflated (MERGE) and told of losses (RAW), then catches up', async () => {
    const s = new RawSocket(origin.url);
    await s.create();
    s.send('control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=slow_merge&LS_schema=n%20pad');
    s.send('control\r\nLS_reqId=2&LS_op=add&LS_subId=2&LS_mode=RAW&LS_group=slow_raw&LS_schema=n&LS_requested_buffer_size=10');
    await s.line(/^REQOK,2$/);
    const conflatedBefore = await metric('edgepush_updates_conflated_total');
    const socket = (s.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    // Far more than the kernel buffers of a loopback connection (a few MB) can absorb.
    const pad = 'p'.repeat(8000);
    for (let batch = 0; batch < 120; batch++) {
      const updates = [];
      for (let i = 1; i <= 25; i++) {
        const n = String(batch * 25 + i);
        updates.push({ item: 'slow_merge', fields: { n, pad } }, { item: 'slow_raw', fields: { n } });
      }
      await publish(origin.url, TOKEN, updates);
    }
    await expect.poll(() => metric('edgepush_slow_consumers')).toBe(1);
    expect(await metric('edgepush_updates_conflated_total')).toBeGreaterThan(conflatedBefore + 1000);
    socket.resume();
    // The latest values always arrive: conflation drops intermediate states, never the last one.
    await s.line(/^U,1,1,3000\|/, 0, 15_000);
    await s.line(/^U,2,1,3000$/, 0, 15_000);
    const lost = s.lines.filter((l) => l.startsWith('OV,2,1,')).reduce((sum, l) => sum + Number(l.split(',')[3]), 0);
    const rawDelivered = s.lines.filter((l) => l.startsWith('U,2,1,')).length;
    expect(lost).toBeGreaterThan(0);
    expect(rawDelivered + lost).toBe(3000);
    expect(s.lines.filter((l) => l.startsWith('U,1,1,')).length).toBeLessThan(3000);
    await expect.poll(() => metric('edgepush_slow_consumers')).toBe(0);
    s.close();
  });
});

describe('requested max frequency', () => {
  it('MERGE updates above the frequency limit are conflated, and the latest value always arrives', async () => {
    const c = await connectClient(origin.url, { transport: 'WS-STREAMING' });
    const item = 'frequency_limited';
    const s = watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['n'], snapshot: 'no', maxFrequency: 2 });
    const real: Array<string | null> = [];
    s.sub.addListener({ onRealMaxFrequency: (f: string | null) => void real.push(f) });
    await s.subscribed();
    await expect.poll(() => real).toEqual(['2']);
    for (let n = 1; n <= 20; n++) {
      await publish(origin.url, TOKEN, { item, fields: { n: String(n) } });
      await new Promise((r) => setTimeout(r, 50));
    }
    await s.until((u) => u.at(-1)?.values.n === '20', 'latest value');
    // One second of updates at 2 per second: a few deliveries, not twenty.
    expect(s.updates.length).toBeLessThanOrEqual(5);
    await c.disconnect();
  });
});

describe('keepalive', () => {
  it('a silent stream gets PROBE within the keepalive it announced', async () => {
    const s = new RawSocket(origin.url);
    await s.create('LS_adapter_set=DEMO&LS_cid=raw&LS_keepalive_millis=1000');
    expect(s.lines.find((l) => l.startsWith('CONOK,'))?.split(',')[3]).toBe('1000');
    const from = s.lines.length;
    await s.line(/^PROBE$/, from, 1500);
    s.close();
  });

  it('a poll with nothing to say waits the idle time, then LOOPs with the polling delay', async () => {
    const id = await createPollingSession(origin.url);
    const started = Date.now();
    const poll = await tlcpPost(origin.url, 'bind_session', `LS_session=${id}&LS_polling=true&LS_polling_millis=250&LS_idle_millis=400\r\n`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(poll.lines[0]).toMatch(/^CONOK,[^,]+,50000,400,\*$/);
    expect(poll.lines.at(-1)).toBe('LOOP,250');
    expect(poll.lines).not.toContain('PROBE');
  });
});

describe('client inactivity (LS_inactivity_millis)', () => {
  it('a stream whose client stops sending requests is dropped, the session kept for recovery', async () => {
    const params = 'LS_adapter_set=DEMO&LS_cid=raw&LS_send_sync=false&LS_keepalive_millis=1000&LS_inactivity_millis=1000';
    const silent = new RawSocket(origin.url);
    const id = await silent.create(params);
    const beating = new RawSocket(origin.url);
    await beating.create(params);
    const heartbeats = setInterval(() => beating.send('heartbeat\r\n\r\n'), 500);
    try {
      // After the promised second, the grace for a late heartbeat and the registry's sweep.
      await silent.closed;
      expect(silent.lines.some((l) => l.startsWith('END'))).toBe(false);
      // The client that keeps its promise keeps its stream: two more keepalives reach it.
      const from = beating.lines.length;
      await expect.poll(() => beating.lines.slice(from).filter((l) => l === 'PROBE').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(beating.ws.readyState).toBe(beating.ws.OPEN);
      const recovered = await tlcpPost(origin.url, 'bind_session', `LS_session=${id}&LS_recovery_from=0&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0\r\n`);
      expect(recovered.lines[0]).toMatch(/^CONOK,/);
    } finally {
      clearInterval(heartbeats);
      beating.close();
    }
  });
});

describe('client reverse heartbeats', () => {
  it.each(['WS-STREAMING', 'HTTP-STREAMING'] as const)('%s: the official client keeps its promised heartbeats and its stream', async (transport) => {
    const c = createClient(origin.url, { transport });
    c.client.connectionOptions.setReverseHeartbeatInterval(1000);
    c.client.connect();
    await c.status(new RegExp(`^CONNECTED:${transport}$`));
    const from = c.statuses.length;
    await new Promise((r) => setTimeout(r, 5_000));
    expect(c.statuses.slice(from)).toEqual([]);
    await c.disconnect();
  });
});

describe('WS-POLLING sockets', () => {
  it('stay open through a pause between polls longer than the unbound-socket limit', async () => {
    const s = new RawSocket(origin.url);
    const id = await s.create('LS_adapter_set=DEMO&LS_cid=raw&LS_send_sync=false&LS_polling=true&LS_polling_millis=62000&LS_idle_millis=0');
    await s.line(/^LOOP,62000$/);
    await new Promise((r) => setTimeout(r, 61_000));
    expect(s.ws.readyState).toBe(s.ws.OPEN);
    const from = s.lines.length;
    s.send(`bind_session\r\nLS_session=${id}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0`);
    expect(await s.line(/^CON/, from)).toMatch(/^CONOK,/);
    s.close();
  }, 75_000);
});

describe('unbound sessions', () => {
  it('are kept at least 20 s for a returning client, then expire', async () => {
    const kept = await createPollingSession(origin.url);
    const expiring = await createPollingSession(origin.url);
    await new Promise((r) => setTimeout(r, 21_000));
    const back = await tlcpPost(origin.url, 'bind_session', `LS_session=${kept}&LS_polling=true&LS_idle_millis=0\r\n`);
    expect(back.lines[0]).toMatch(/^CONOK,/);
    await new Promise((r) => setTimeout(r, 10_500));
    const gone = await tlcpPost(origin.url, 'bind_session', `LS_session=${expiring}&LS_polling=true&LS_idle_millis=0\r\n`);
    expect(gone.lines[0]).toMatch(/^CONERR,20,/);
  }, 45_000);
});

describe('opaque session ids', () => {
  let opaque: OriginHandle;
  beforeAll(async () => {
    opaque = await startOrigin({ SESSION_ID_STYLE: 'opaque' });
  });
  afterAll(async () => {
    await opaque?.stop();
  });

  it('ids carry no shard, and sessions work all the same', async () => {
    const id = await createPollingSession(opaque.url);
    expect(id).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const poll = await tlcpPost(opaque.url, 'bind_session', `LS_session=${id}&LS_polling=true&LS_idle_millis=0\r\n`);
    expect(poll.lines[0]).toBe(`CONOK,${id},50000,0,*`);
    const unknown = await tlcpPost(opaque.url, 'bind_session', `LS_session=${'C'.repeat(32)}&LS_polling=true\r\n`);
    expect(unknown.lines[0]).toMatch(/^CONERR,20,/);
  });
});
