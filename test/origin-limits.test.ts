/**
 * Per-session and per-origin limits: subscriptions beyond MAX_SUBSCRIPTIONS_PER_SESSION are refused
 * with a subscription error (the session goes on), creates beyond MAX_SESSIONS get CONERR 5 (paced).
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
