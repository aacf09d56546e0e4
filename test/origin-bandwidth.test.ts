/**
 * Bandwidth management per session (TLCP's LS_requested_max_bandwidth, CONS, constrain) against a
 * real origin with the official client: what is granted — the client's request within the user's
 * cap from the metadata adapter — and what a small bandwidth does to updates: MERGE conflated, and
 * unfiltered or RAW deliveries that cannot be conflated reported lost (OV).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORTS, createClient, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { waitUntil } from './support/wait.ts';

describe('bandwidth per session', () => {
  let origin: OriginHandle;
  const clients: WatchedClient[] = [];

  /** A client of the PROTOCOL set whose every realMaxBandwidth change is recorded. */
  const client = (transport: (typeof TRANSPORTS)[number], user: string, requested?: string) => {
    const c = createClient(origin.url, { adapterSet: 'PROTOCOL', transport });
    clients.push(c);
    c.client.connectionDetails.setUser(user);
    const o = c.client.connectionOptions;
    if (transport.endsWith('POLLING')) {
      o.setIdleTimeout(0);
      o.setPollingInterval(100);
    }
    // The client takes a decimal text or `unlimited`, as TLCP does (its typings say number).
    const request = (kbps: string) => o.setRequestedMaxBandwidth(kbps as unknown as number);
    if (requested !== undefined) request(requested);
    const granted: string[] = [];
    c.client.addListener({
      onPropertyChange: (p: string) => {
        if (p === 'realMaxBandwidth') granted.push(String(o.getRealMaxBandwidth()));
      },
    });
    const grantedNow = async (value: string) =>
      waitUntil(() => granted.at(-1) === value, 10_000, () => `realMaxBandwidth ${value} not reached: ${granted.join(', ')}; ${c.statuses.join(' > ')}`);
    return { ...c, granted, grantedNow, request };
  };

  beforeAll(async () => {
    origin = await startOrigin({ ADAPTERS_CONF: 'test/support/protocol-adapters/adapters.xml' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await origin?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`grants the request within the user's cap, on create and on each constrain (${transport})`, async () => {
      const c = client(transport, 'capped');
      c.client.connect();
      // No request: the cap.
      await c.grantedNow('40');
      c.request('20.1');
      await c.grantedNow('20.1');
      c.request('70.1');
      await c.grantedNow('40');
      c.request('39');
      await c.grantedNow('39');
      c.request('unlimited');
      await c.grantedNow('40');
      expect(c.granted).toEqual(['40', '20.1', '40', '39', '40']);
      await c.disconnect();
    });
  }

  it('grants a user without a cap what it asks for, unlimited included', async () => {
    const c = client('WS-STREAMING', 'unlimited', '12.5');
    c.client.connect();
    await c.grantedNow('12.5');
    c.request('unlimited');
    await c.grantedNow('unlimited');
    await c.disconnect();
  });

  it('conflates MERGE updates a small bandwidth cannot carry, without reporting them lost', async () => {
    // 100 updates a second of about 110 bytes (about 90 kbps) into 8 kbps.
    const c = client('WS-STREAMING', 'capped', '8');
    const s = watchSubscription(c.client, { mode: 'MERGE', items: ['plain_10'], fields: ['value'], dataAdapter: 'TICKS', snapshot: 'yes' });
    c.client.connect();
    // The first second's worth goes out at once (the bucket starts full); the rest at 8 kbps.
    await s.until((u) => u.length >= 30, '30 updates');
    const counts = s.updates.map((u) => Number(/value=(\d+)$/.exec(u.values.value ?? '')?.[1]));
    expect(counts.every((n, i) => i === 0 || n > counts[i - 1])).toBe(true);
    // Most updates never reached the client: each it got carries the latest value.
    const tail = counts.slice(-10);
    expect(tail.at(-1)! - tail[0]).toBeGreaterThan(2 * (tail.length - 1));
    expect(s.lost).toEqual([]);
    await c.disconnect();
  });

  for (const [mode, maxFrequency] of [
    ['MERGE', 'unfiltered'],
    ['RAW', undefined],
  ] as const) {
    it(`reports the updates a small bandwidth loses where they cannot be conflated (${mode}${maxFrequency ? ' unfiltered' : ''})`, async () => {
      // Bursts of 50 updates of about 100 bytes, ten a second, into 10 kbps.
      const c = client('HTTP-STREAMING', 'capped', '10');
      const s = watchSubscription(c.client, { mode, items: ['burst_100'], fields: ['value'], dataAdapter: 'TICKS', maxFrequency });
      c.client.connect();
      await waitUntil(() => s.lost.length > 0, 15_000, () => `no lost updates after ${s.updates.length} updates`);
      expect(s.lost[0].item).toBe('burst_100');
      expect(s.lost[0].lost).toBeGreaterThan(0);
      await c.disconnect();
    });
  }
});
