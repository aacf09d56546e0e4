/**
 * Session life with the official client against real origins: content-length rebinds, recovery
 * after a cut connection, control links, maximum session duration and destroy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/ports.ts';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { connectClient, watchSubscription } from './support/client.ts';
import { waitUntil } from './support/wait.ts';

const TOKEN = 'test-publish-token';
let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN: TOKEN, KEEPALIVE_MS: '2000' });
});
afterAll(async () => {
  await origin?.stop();
});

async function status(url: string): Promise<{ sessions: number; wrongInstance: number }> {
  return (await fetch(`${url}/api/status`)).json();
}

/** Publishes n=1…count to `item`, one every `everyMs`, calling `at(n)` after each. */
async function publishSequence(url: string, item: string, count: number, everyMs: number, at?: (n: number) => void): Promise<void> {
  for (let n = 1; n <= count; n++) {
    await publish(url, TOKEN, { item, fields: { n: String(n), pad: 'x'.repeat(40) } });
    at?.(n);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const sequenceOf = (updates: Array<{ values: Record<string, string | null> }>) => updates.map((u) => Number(u.values.n));
const range = (count: number) => Array.from({ length: count }, (_, i) => i + 1);

describe('content length', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay(origin.port);
  });
  afterAll(async () => {
    await relay?.close();
  });

  it('a small content length makes the stream LOOP and re-bind again and again, losing nothing', async () => {
    const c = await connectClient(`http://127.0.0.1:${relay.port}`, { transport: 'HTTP-STREAMING', contentLength: 1200 });
    const item = 'content_length_seq';
    const s = watchSubscription(c.client, { mode: 'DISTINCT', items: [item], fields: ['n', 'pad'], snapshot: 'no', bufferSize: 'unlimited' });
    await s.subscribed();
    await publishSequence(origin.url, item, 120, 2);
    await s.until((u) => u.length >= 120, '120 updates');
    expect(sequenceOf(s.updates)).toEqual(range(120));
    const binds = relay.upstream.filter((r) => r.includes('/bind_session.txt')).length;
    expect(binds).toBeGreaterThan(5);
    await c.disconnect();
  });
});

describe('recovery', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay(origin.port);
  });
  afterAll(async () => {
    await relay?.close();
  });

  for (const transport of ['WS-STREAMING', 'HTTP-STREAMING'] as const) {
    it(`${transport}: a cut connection is recovered in the same session with no gap and no duplicate`, async () => {
      const c = await connectClient(`http://127.0.0.1:${relay.port}`, { transport });
      const sessionId = c.client.connectionDetails.getSessionId();
      const item = `recovery_${transport}`;
      const s = watchSubscription(c.client, { mode: 'DISTINCT', items: [item], fields: ['n', 'pad'], snapshot: 'no', bufferSize: 'unlimited' });
      await s.subscribed();
      const from = relay.upstream.length;
      await publishSequence(origin.url, item, 150, 5, (n) => {
        if (n === 50) relay.cut();
      });
      await s.until((u) => u.length >= 150, '150 updates', 30_000);
      expect(sequenceOf(s.updates)).toEqual(range(150));
      expect(relay.upstream.slice(from).some((r) => /LS_recovery_from=\d+/.test(r))).toBe(true);
      expect(c.client.connectionDetails.getSessionId()).toBe(sessionId);
      expect(c.statuses).toContain('DISCONNECTED:TRYING-RECOVERY');
      await c.disconnect();
    });
  }
});

describe('control link', () => {
  let linked: OriginHandle;
  let entry: Relay;
  let link: Relay;

  beforeAll(async () => {
    const port = await freePort();
    entry = await startRelay(port);
    link = await startRelay(port);
    linked = await startOrigin({ PORT: String(port), PUBLISH_TOKEN: TOKEN, CONTROL_LINK: `127.0.0.1:${link.port}/pfx` });
  });
  afterAll(async () => {
    await Promise.all([entry?.close(), link?.close(), linked?.stop()]);
  });

  it('HTTP: every request after CONOK (bind, control, msg) goes to the control link, path prefix included', async () => {
    const c = await connectClient(`http://127.0.0.1:${entry.port}`, { transport: 'HTTP-STREAMING' });
    const s = watchSubscription(c.client, { mode: 'MERGE', items: ['control_link_item'], fields: ['v'] });
    await s.subscribed();
    await publish(linked.url, TOKEN, { item: 'control_link_item', fields: { v: 'through the link' } });
    await s.until((u) => u.some((x) => x.values.v === 'through the link'), 'update');
    c.client.sendMessage('CHAT|over the link');
    await waitUntil(() => link.upstream.some((r) => r.includes('/msg.txt')), 5000, () => 'no msg request on the link');
    await c.disconnect();

    expect(entry.upstream.join('')).toMatch(/POST \/lightstreamer\/create_session\.txt/);
    expect(entry.upstream.join('')).not.toMatch(/bind_session|control\.txt|msg\.txt/);
    const onLink = link.upstream.join('');
    expect(onLink).toMatch(/POST \/pfx\/lightstreamer\/bind_session\.txt/);
    expect(onLink).toMatch(/POST \/pfx\/lightstreamer\/control\.txt/);
    expect(onLink).toMatch(/POST \/pfx\/lightstreamer\/msg\.txt/);
  });

  it('WebSocket: after a cut, recovery and the next socket go to the control link', async () => {
    const c = await connectClient(`http://127.0.0.1:${entry.port}`, { transport: 'WS-STREAMING' });
    const s = watchSubscription(c.client, { mode: 'MERGE', items: ['control_link_ws'], fields: ['v'], snapshot: 'yes' });
    await s.subscribed();
    // Created on the entry's socket, the session then lives there until that socket dies.
    expect(entry.upstream.join('')).toMatch(/GET \/lightstreamer HTTP/i);
    const before = link.upstream.length;
    entry.cut();
    await publish(linked.url, TOKEN, { item: 'control_link_ws', fields: { v: 'after the cut' } });
    await s.until((u) => u.some((x) => x.values.v === 'after the cut'), 'update after the cut');
    await waitUntil(() => link.upstream.slice(before).join('').includes('GET /pfx/lightstreamer HTTP'), 10_000, () => 'no socket on the link');
    const onLink = link.upstream.slice(before).join('');
    expect(onLink).toMatch(/POST \/pfx\/lightstreamer\/bind_session\.txt[^]*LS_recovery_from=\d+/);
    expect(onLink).toMatch(/sec-websocket-protocol: TLCP-2\.5\.0\.lightstreamer\.com/i);
    await c.disconnect();
  });
});

describe('maximum session duration', () => {
  let short: OriginHandle;
  beforeAll(async () => {
    // 0.05 minutes: sessions end with END 48 after three seconds.
    short = await startOrigin({ PUBLISH_TOKEN: TOKEN, MAX_SESSION_DURATION_MINUTES: '0.05' });
  });
  afterAll(async () => {
    await short?.stop();
  });

  for (const transport of ['WS-STREAMING', 'HTTP-STREAMING'] as const) {
    it(`${transport}: END 48, then the client opens a new session by itself and resubscribes`, async () => {
      const c = await connectClient(short.url, { transport });
      const first = c.client.connectionDetails.getSessionId();
      const item = `duration_${transport}`;
      const s = watchSubscription(c.client, { mode: 'MERGE', items: [item], fields: ['v'], snapshot: 'yes' });
      await s.subscribed();
      await waitUntil(() => c.client.connectionDetails.getSessionId() !== first, 10_000, () => `no new session: ${c.statuses.join(' > ')}`);
      await c.status(new RegExp(`^CONNECTED:${transport}$`), c.statuses.length - 1);
      expect(c.serverErrors).toEqual([]);
      await publish(short.url, TOKEN, { item, fields: { v: 'after END 48' } });
      await s.until((u) => u.some((x) => x.values.v === 'after END 48'), 'update on the new session');
      await c.disconnect();
    });
  }
});

describe('operator end of a stream that must LOOP first', () => {
  // Updates wait a second before they are written, so the END finds them still pending.
  let delayed: OriginHandle;
  beforeAll(async () => {
    delayed = await startOrigin({ PUBLISH_TOKEN: TOKEN, ADMIN_TOKEN: 'delayed-admin-token', WRITE_DELAY_MS: '1000' });
  });
  afterAll(async () => {
    await delayed?.stop();
  });

  const tlcp = async (name: string, body: string) =>
    fetch(`${delayed.url}/lightstreamer/${name}.txt?LS_protocol=TLCP-2.5.0`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });

  it('pending data beyond the content length: LOOP, and the rebind gets the END code as CONERR', async () => {
    const created = await (await tlcp('create_session', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=x&LS_send_sync=false&LS_cause=api')).text();
    const id = /^CONOK,([^,]+),/.exec(created)![1];
    const added = await (await tlcp('control', `LS_session=${id}&LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=ended&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false`)).text();
    expect(added).toBe('REQOK,1\r\n');
    const stream = await tlcp('bind_session', `LS_session=${id}&LS_content_length=2000&LS_send_sync=false&LS_cause=api`);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('SUBOK,1,')) text += (await reader.read()).value ?? '';
    await publish(delayed.url, TOKEN, { item: 'ended', fields: { v: 'x'.repeat(4000) } });
    const ended = await fetch(`${delayed.url}/api/sessions/end`, { method: 'POST', headers: { authorization: 'Bearer delayed-admin-token' }, body: '{"all":true}' });
    expect(await ended.json()).toMatchObject({ ended: 1 });
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += chunk.value;
    expect(text).toMatch(/LOOP,0\r\n$/);
    const rebind = await (await tlcp('bind_session', `LS_session=${id}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0`)).text();
    expect(rebind).toMatch(/^CONERR,48,/);
  });
});

describe('origin restart', () => {
  it('a recovery to a restarted origin gets "session not found" (20); the client re-creates and resubscribes', async () => {
    const port = await freePort();
    let restartable = await startOrigin({ PORT: String(port), PUBLISH_TOKEN: TOKEN });
    try {
      const c = await connectClient(restartable.url, { transport: 'WS-STREAMING' });
      const first = c.client.connectionDetails.getSessionId();
      const s = watchSubscription(c.client, { mode: 'MERGE', items: ['restart_item'], fields: ['v'], snapshot: 'yes' });
      await s.subscribed();
      await restartable.kill();
      restartable = await startOrigin({ PORT: String(port), PUBLISH_TOKEN: TOKEN });
      await waitUntil(() => c.client.connectionDetails.getSessionId() !== first, 20_000, () => `no new session: ${c.statuses.join(' > ')}`);
      await c.status(/^CONNECTED:WS-STREAMING$/, c.statuses.length - 1, 20_000);
      const data = await (await fetch(`${restartable.url}/dashboard/data`)).json();
      expect(data.errors.map((e: { code: number }) => e.code)).toContain(20);
      await publish(restartable.url, TOKEN, { item: 'restart_item', fields: { v: 'after the restart' } });
      await s.until((u) => u.some((x) => x.values.v === 'after the restart'), 'update on the new session');
      expect(c.serverErrors).toEqual([]);
      await c.disconnect();
    } finally {
      await restartable.stop();
    }
  });
});

describe('destroy', () => {
  it('disconnecting over WebSocket destroys the session on the origin', async () => {
    const c = await connectClient(origin.url, { transport: 'WS-STREAMING' });
    const id = c.client.connectionDetails.getSessionId();
    expect(id.startsWith(`${origin.shardId}.`)).toBe(true);
    const before = (await status(origin.url)).sessions;
    await c.disconnect();
    await expect.poll(async () => (await status(origin.url)).sessions).toBe(before - 1);
  });
});
