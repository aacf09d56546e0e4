/**
 * Snapshots are written as the client takes them, a slice at a time: a subscription whose snapshot
 * is large (a COMMAND item of many rows, named by a group a thousand times) neither freezes the
 * origin nor piles up in its memory for a client that reads slowly, and still keeps the order
 * "snapshot, EOS, then live updates" item by item.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { RawSocket } from './support/tlcp-raw.ts';

const TOKEN = 'snapshot-publish-token';
const ROWS = 1000;
const COPIES = 1000;
let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN: TOKEN });
  await publish(
    origin.url,
    TOKEN,
    Array.from({ length: ROWS }, (_, i) => ({ item: 'book', fields: { key: `k${i + 1}`, command: 'ADD', qty: String(i + 1) } })),
  );
});
afterAll(async () => {
  await origin?.stop();
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${origin.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)![1]);
}

async function subscriptions(): Promise<number> {
  return ((await (await fetch(`${origin.url}/api/status`)).json()) as { subscriptions: number }).subscriptions;
}

/** What one subscribed item received, in order: rows before EOS, EOS, lines after it. */
interface Received {
  rows: number;
  eos: boolean;
  /** U lines after EOS (live updates). */
  live: string[];
  /** U lines carrying an UPDATE before EOS: live data ahead of the snapshot. */
  early: string[];
}

describe('a large snapshot', () => {
  it('is written as the client reads it, with live updates after each item\'s EOS', async () => {
    const s = new RawSocket(origin.url);
    await s.create();
    const received = new Map<number, Received>();
    let partial = '';
    s.ws.on('message', (data) => {
      const text = partial + data.toString();
      const lines = text.split('\r\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = /^(U|EOS),1,(\d+)(?:,(.*))?$/.exec(line);
        if (!m) continue;
        const item = Number(m[2]);
        const r = received.get(item) ?? { rows: 0, eos: false, live: [], early: [] };
        received.set(item, r);
        if (m[1] === 'EOS') r.eos = true;
        else if (r.eos) r.live.push(m[3]);
        else if (m[3].includes('|UPDATE|')) r.early.push(m[3]);
        else r.rows++;
      }
    });
    // From here on the client reads nothing.
    const socket = (s.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const heapBefore = await metric('nodejs_heap_size_used_bytes');
    const group = Array.from({ length: COPIES }, () => 'book').join('%20');
    s.send(`control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=COMMAND&LS_group=${group}&LS_schema=key%20command%20qty&LS_data_adapter=FEED&LS_snapshot=true`);
    await expect.poll(subscriptions, { timeout: 30_000 }).toBe(1);
    // A live update while the snapshot is (mostly) still to be written.
    await publish(origin.url, TOKEN, [{ item: 'book', fields: { key: 'k1', command: 'UPDATE', qty: 'live' } }]);

    // A million snapshot rows are due to this client; what the origin holds for it stays small,
    // and it keeps answering everyone else meanwhile.
    const held = (await metric('nodejs_heap_size_used_bytes')) - heapBefore;
    expect(held).toBeLessThan(32 * 1024 * 1024);
    expect((await fetch(`${origin.url}/lightstreamer/healthcheck`)).status).toBe(200);

    socket.resume();
    await expect
      .poll(() => [...received.values()].filter((r) => r.eos && r.live.length > 0).length, { timeout: 60_000, interval: 200 })
      .toBe(COPIES);
    for (let item = 1; item <= COPIES; item++) {
      expect(received.get(item)).toEqual({ rows: ROWS, eos: true, live: ['k1|UPDATE|live'], early: [] });
    }
    s.close();
  }, 120_000);
});
