/**
 * Delta delivery (TLCP 2.5.0 JSON Patch and TLCP-diff) against a real origin: fields a data adapter
 * allows deltas for (diffOrder) go out as `^P`/`^T` where smaller, and the official client decodes
 * them into the adapter's values, on every transport, whatever conflation or losses a small
 * bandwidth causes. The wire is checked with a hand-written client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORTS, createClient, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { RawSocket } from './support/tlcp-raw.ts';
import { waitUntil } from './support/wait.ts';
import ls from 'lightstreamer-client-node';

const TEXT = 'the quick brown fox jumps over the lazy dog, again and again, so that a value is long; ';

interface Received {
  readonly value: string | null;
  readonly patch: unknown;
}

describe('delta delivery', () => {
  let origin: OriginHandle;
  const clients: WatchedClient[] = [];
  const sockets: RawSocket[] = [];

  /** A client subscribed (MERGE, field `value`, no snapshot unless asked) to one TICKS item. */
  const subscribe = (transport: (typeof TRANSPORTS)[number], item: string, options: { bandwidth?: string; mode?: 'MERGE' | 'RAW'; unfiltered?: boolean } = {}) => {
    const c = createClient(origin.url, { adapterSet: 'PROTOCOL', transport });
    clients.push(c);
    c.client.connectionDetails.setUser('unlimited');
    const o = c.client.connectionOptions;
    if (transport.endsWith('POLLING')) {
      o.setIdleTimeout(0);
      o.setPollingInterval(100);
    }
    if (options.bandwidth) o.setRequestedMaxBandwidth(options.bandwidth as unknown as number);
    const sub = new ls.Subscription(options.mode ?? 'MERGE', [item], ['value']);
    sub.setDataAdapter('TICKS');
    if (options.mode !== 'RAW') sub.setRequestedSnapshot('no');
    if (options.unfiltered) sub.setRequestedMaxFrequency('unfiltered' as unknown as number);
    const received: Received[] = [];
    const lost: number[] = [];
    sub.addListener({
      onItemUpdate: (u) => void received.push({ value: u.getValue('value'), patch: u.getValueAsJSONPatchIfAvailable('value') ?? null }),
      onItemLostUpdates: (_item: string, _pos: number, n: number) => void lost.push(n),
    });
    c.client.subscribe(sub);
    c.client.connect();
    const until = (count: number) => waitUntil(() => received.length >= count, 15_000, () => `${received.length} updates of ${item}: ${JSON.stringify(received.slice(-2))}; ${c.statuses.join(' > ')}`);
    return { ...c, received, lost, until };
  };

  beforeAll(async () => {
    origin = await startOrigin({ ADAPTERS_CONF: 'test/support/protocol-adapters/adapters.xml' });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of sockets) s.close();
    await origin?.stop();
  });

  for (const transport of TRANSPORTS) {
    it(`JSON values arrive as JSON Patches the client applies (${transport})`, async () => {
      const c = subscribe(transport, 'json_50');
      await c.until(4);
      // The first value a client gets is whole.
      expect(c.received[0].patch).toBeNull();
      for (const [i, u] of c.received.entries()) {
        const value = JSON.parse(u.value!);
        expect(value.text).toBe(TEXT);
        if (i === 0) continue;
        expect(u.patch).toEqual([{ op: 'replace', path: '/value', value: value.value }]);
        // Polling clients get some updates conflated.
        expect(value.value).toBeGreaterThan(JSON.parse(c.received[i - 1].value!).value);
      }
      await c.disconnect();
    });

    it(`text values arrive as TLCP-diffs the client applies (${transport})`, async () => {
      const c = subscribe(transport, 'text_50');
      await c.until(4);
      const counts = c.received.map((u) => {
        expect(u.value).toMatch(/^the quick brown fox .*; value=\d+$/);
        expect(u.value!.startsWith(TEXT)).toBe(true);
        expect(u.patch).toBeNull();
        return Number(u.value!.slice(TEXT.length + 'value='.length));
      });
      expect(counts.every((n, i) => i === 0 || n > counts[i - 1])).toBe(true);
      await c.disconnect();
    });
  }

  it('deltas stay right under a small bandwidth: conflated MERGE and lossy unfiltered deliveries', async () => {
    const merge = subscribe('WS-STREAMING', 'text_10', { bandwidth: '4' });
    const raw = subscribe('HTTP-STREAMING', 'burst_100', { bandwidth: '10', mode: 'RAW' });
    const unfiltered = subscribe('WS-STREAMING', 'burst_100', { bandwidth: '10', unfiltered: true });
    await merge.until(15);
    await waitUntil(() => raw.lost.length > 0 && unfiltered.lost.length > 0, 15_000, () => `lost: raw ${raw.lost}, unfiltered ${unfiltered.lost}`);
    // Updates after the losses too: deltas resume only where the client holds their base.
    const after = [raw.received.length + 10, unfiltered.received.length + 10];
    await raw.until(after[0]);
    await unfiltered.until(after[1]);
    for (const u of merge.received) expect(u.value).toMatch(new RegExp(`^${TEXT}value=\\d+$`));
    for (const u of [...raw.received, ...unfiltered.received]) expect(u.value).toMatch(new RegExp(`^\\d+ ${TEXT}$`));
    for (const c of [merge, raw, unfiltered]) expect(c.statuses.at(-1)).toMatch(/^CONNECTED:/);
  });

  it('sends ^P and ^T on the wire only for fields that allow them, and none to a client that accepts none', async () => {
    const open = async (params: string) => {
      const s = new RawSocket(origin.url);
      sockets.push(s);
      await s.create(`LS_adapter_set=PROTOCOL&LS_cid=raw&LS_send_sync=false${params}`);
      let reqId = 0;
      for (const item of ['json_20', 'text_20', 'plain_20']) {
        const id = ++reqId;
        s.send(`control\r\nLS_reqId=${id}&LS_op=add&LS_subId=${id}&LS_mode=MERGE&LS_group=${item}&LS_schema=value&LS_data_adapter=TICKS&LS_snapshot=true`);
      }
      return s;
    };
    const all = await open('');
    const onlyDiff = await open('&LS_supported_diffs=T');
    const none = await open('&LS_supported_diffs=');
    const updates = (s: RawSocket, sub: number) => s.lines.filter((l) => l.startsWith(`U,${sub},1,`)).map((l) => l.slice(`U,${sub},1,`.length));
    await waitUntil(() => [all, onlyDiff, none].every((s) => [1, 2, 3].every((sub) => updates(s, sub).length >= 4)), 10_000, () => 'too few updates');
    for (const s of [all, onlyDiff, none]) {
      // Snapshots are whole, and so is the first live update after them.
      for (const sub of [1, 2, 3]) for (const v of updates(s, sub).slice(0, 2)) expect(v).not.toMatch(/^\^/);
      expect(updates(s, 3).some((v) => v.startsWith('^'))).toBe(false);
    }
    expect(updates(all, 1).slice(2).every((v) => /^\^P\[\{"op":"replace","path":"\/value","value":\d+\}\]$/.test(v))).toBe(true);
    expect(updates(all, 2).slice(2).every((v) => /^\^T[A-Za-z0-9]+$/.test(v))).toBe(true);
    // JSON Patch not accepted: the JSON field's next format, TLCP-diff.
    expect(updates(onlyDiff, 1).slice(2).every((v) => v.startsWith('^T'))).toBe(true);
    expect(updates(onlyDiff, 2).slice(2).every((v) => v.startsWith('^T'))).toBe(true);
    expect([1, 2].some((sub) => updates(none, sub).some((v) => v.startsWith('^')))).toBe(false);
  });
});
