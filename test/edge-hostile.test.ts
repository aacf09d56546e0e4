import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { SUBPROTOCOL } from './support/tlcp-raw.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { httpRequest } from './support/http.ts';
import { waitUntil } from './support/wait.ts';
import { connectFeedClient, type FeedClient } from './support/client.ts';

/**
 * What one anonymous client can send the edge, and what it must never cost anyone else: oversized
 * headers and cookies (which an origin refuses), bodies too large to hold, a socket that stops
 * reading. Every one gets its own clear answer; the shards stay in rotation and other clients'
 * sessions carry on untouched.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

beforeAll(async () => {
  await Promise.all(
    ['h1', 'h2'].map(async (id) => {
      // Smaller than Node's default 16 KiB, as some origins (and Lightstreamer Server) are: a request
      // the edge lets through can still be one the origin refuses with 431.
      origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN, NODE_OPTIONS: '--max-http-header-size=8192' });
    }),
  );
  edge = await startEdge({
    secrets,
    shards: Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })),
    domains: [
      { host: 'localhost', modes: ['path', 'session-id'] },
      { host: 'pin.localhost', modes: ['pin'] },
      { host: 'session.localhost', modes: ['session'], createsPerMinute: 0 },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface Status {
  shards: { id: string; healthy: boolean; lastProbeAt: number | null }[];
  counters: Record<string, number>;
}

async function status(): Promise<Status> {
  return (await (await edge.admin('/_edge/api/status')).json()) as Status;
}

interface Answer {
  status: number;
  text: string;
}

const request = async (path: string, options: { host?: string; headers?: Record<string, string | number>; body?: string | Buffer }) => {
  const { status, text } = await httpRequest(edge.port, path, { host: 'localhost', ...options });
  return { status, text };
};

/** A WebSocket through the edge; resolves with the HTTP status of a refused upgrade, or the open socket. */
function upgrade(host: string, headers: Record<string, string>): Promise<{ refused: number } | { socket: WebSocket; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/lightstreamer`, SUBPROTOCOL, { headers: { host: `${host}:${edge.port}`, ...headers }, perMessageDeflate: false });
    const lines: string[] = [];
    ws.on('message', (data) => lines.push(...data.toString().split('\r\n').filter(Boolean)));
    ws.once('unexpected-response', (_req, res) => resolve({ refused: res.statusCode ?? 0 }));
    ws.once('open', () => resolve({ socket: ws, lines }));
    ws.once('error', reject);
  });
}

const isLive = (c: FeedClient) => feed.isLive(c.values);

describe('oversized headers', () => {
  it('cost other clients nothing: bystanders keep their sessions while upgrades with huge cookies and headers come and go', async () => {
    const bystanders: FeedClient[] = [];
    try {
      for (const [i, host] of ['localhost', 'pin.localhost'].flatMap((h) => [h, h, h]).entries()) {
        bystanders.push(await connectFeedClient(edge.urlFor(host), { transport: i % 2 ? 'HTTP-STREAMING' : 'WS-STREAMING', item: 'feed', contentLength: 2_000 }));
      }
      await waitUntil(() => bystanders.every(isLive), 10_000, () => 'bystanders not live');
      const failoversBefore = (await status()).counters.failovers ?? 0;

      const attacks = await Promise.all(
        ['localhost', 'pin.localhost'].flatMap((host) => [
          // A 20 KB cookie: the edge drops it (no browser keeps one that large); the socket works.
          upgrade(host, { cookie: `junk=${'x'.repeat(20_000)}` }),
          upgrade(host, { cookie: `junk=${'x'.repeat(20_000)}` }),
          // 10 KB of other headers: within the edge's bound, beyond this origin's (8 KiB): the origin refuses it.
          upgrade(host, { 'x-junk': 'x'.repeat(10_000) }),
          upgrade(host, { 'x-junk': 'x'.repeat(10_000) }),
        ]),
      );
      for (const [i, attack] of attacks.entries()) {
        if (i % 4 < 2) {
          if (!('socket' in attack)) throw new Error(`a socket with a big cookie was refused: ${attack.refused}`);
          attack.socket.send('wsok');
          attack.socket.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false');
          await waitUntil(() => attack.lines.some((l) => l.startsWith('CONOK,')), 5_000, () => `no CONOK: ${attack.lines.join(' ')}`);
          attack.socket.close();
        } else {
          // The edge has already accepted the socket when it meets the origin's refusal: it closes it with the reason.
          if (!('socket' in attack)) throw new Error(`refused by the edge: ${attack.refused}`);
          attack.socket.send('wsok');
          attack.socket.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false');
          const [code, reason] = await new Promise<[number, string]>((r) => attack.socket.once('close', (c, why) => r([c, why.toString()])));
          expect([code, reason]).toEqual([1008, 'origin refused the socket: HTTP 431']);
        }
      }

      // Nothing the attackers did made a shard look unreachable (a registry probe round after the
      // attacks still finds both healthy): every bystander's session goes on.
      const attackedAt = Date.now();
      await waitUntil(async () => (await status()).shards.every((s) => (s.lastProbeAt ?? 0) > attackedAt), 10_000, () => 'no probe round');
      expect((await status()).shards.every((s) => s.healthy)).toBe(true);
      await waitUntil(() => bystanders.every(isLive), 10_000, () => 'bystanders stopped receiving');
      for (const c of bystanders) {
        expect(c.sessions).toHaveLength(1);
        expect(c.serverErrors).toEqual([]);
        expect(c.statuses.at(-1)).toMatch(/^CONNECTED:/);
      }
      expect((await status()).counters.failovers ?? 0).toBe(failoversBefore);
    } finally {
      for (const c of bystanders) c.close();
    }
  });

  it('beyond what any origin accepts are refused by the edge itself: 431 with the sizes', async () => {
    const headers = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`x-junk-${i}`, 'y'.repeat(1_000)]));
    const answer = await request('/lightstreamer/create_session.txt', { headers, body: 'LS_polling=true&LS_cid=x\r\n' });
    expect(answer.status).toBe(431);
    expect(answer.text).toMatch(/^request headers too large: \d+ bytes, at most 12288\n$/);
    expect(await upgrade('localhost', headers)).toEqual({ refused: 431 });
  });
});

describe('oversized bodies', () => {
  it('are refused with 413 by what they declare, before a byte is read', async () => {
    // The body is never sent: the answer comes from the declared length alone.
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: edge.port, path: '/lightstreamer/control.txt?LS_session=x', method: 'POST', headers: { host: `localhost:${edge.port}`, 'content-length': 64 * 1024 * 1024 } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer).toEqual({ status: 413, text: 'request body larger than 262144 bytes\n' });
  });

  it('without a declared length are counted as they arrive: 413 once past the limit, the rest never read', async () => {
    const refusedBefore = (await status()).counters.bodiesTooLarge ?? 0;
    let sent = 0;
    let answered = false;
    // The edge answers while the client still sends; workerd then closes the connection, and a reset
    // that overtakes the answer can take it with it (no lingering close). Either way, the edge refused.
    const answer = await new Promise<Answer | 'reset'>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: edge.port, path: '/lightstreamer/control.txt?LS_session=x', method: 'POST', headers: { host: `localhost:${edge.port}`, 'transfer-encoding': 'chunked' } },
        (res) => {
          answered = true;
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, text });
            req.destroy();
          });
        },
      );
      req.on('error', () => resolve('reset'));
      // 64 KB at a time, up to 64 MB, only as fast as the edge reads: it answers long before the end.
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const more = () => {
        while (sent < 64 * 1024 * 1024 && !answered && !req.destroyed) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', more);
        }
      };
      req.on('socket', (s: Socket) => s.once('connect', more));
      setTimeout(() => reject(new Error('no answer')), 30_000);
    });
    if (answer !== 'reset') expect(answer).toEqual({ status: 413, text: 'request body larger than 262144 bytes\n' });
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await waitUntil(async () => ((await status()).counters.bodiesTooLarge ?? 0) > refusedBefore, 10_000, () => 'the refusal was not counted');
  });
});

describe('a WebSocket client that stops reading', () => {
  it('is disconnected with a reason once the edge holds 1 MiB for it, instead of being buffered without bound', async () => {
    const opened = await upgrade('localhost', {});
    if (!('socket' in opened)) throw new Error('refused');
    const { socket, lines } = opened;
    socket.send('wsok');
    socket.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=slow&LS_send_sync=false');
    await waitUntil(() => lines.some((l) => l.startsWith('CONOK,')), 5_000, () => lines.join(' '));
    socket.send('control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=big&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false');
    await waitUntil(() => lines.some((l) => l.startsWith('SUBOK,1')), 5_000, () => lines.join(' '));
    const closed = new Promise<[number, string]>((r) => socket.once('close', (code, why) => r([code, why.toString()])));
    (socket as unknown as { _socket: Socket })._socket.pause();

    // 40 MB of RAW updates (kept whole by the origin: nothing conflates RAW), far more than the
    // kernel's socket buffers hold.
    const value = 'z'.repeat(200_000);
    const closedBefore = (await status()).counters.slowClientsClosed ?? 0;
    for (let i = 0; i < 200 && ((await status()).counters.slowClientsClosed ?? 0) === closedBefore; i++) {
      await Promise.all(Object.values(origins).map((o) => publish(o.url, PUBLISH_TOKEN, { item: 'big', fields: { v: value } })));
    }
    await waitUntil(async () => ((await status()).counters.slowClientsClosed ?? 0) > closedBefore, 10_000, () => 'the slow client was never closed');
    (socket as unknown as { _socket: Socket })._socket.resume();
    expect(await closed).toEqual([1008, 'client is not reading: over 1048576 bytes queued']);
  });
});

describe('a session-layer client that stops reading', () => {
  it('ends with END 32 once its host holds 256 K characters unread for it, while a bystander on the same host streams on', async () => {
    const bystander = await connectFeedClient(edge.urlFor('session.localhost'), { transport: 'WS-STREAMING', item: 'feed' });
    try {
      await waitUntil(() => isLive(bystander), 10_000, () => 'bystander not live');
      const opened = await upgrade('session.localhost', {});
      if (!('socket' in opened)) throw new Error('refused');
      const { socket, lines } = opened;
      socket.send('wsok');
      socket.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=slow&LS_send_sync=false');
      await waitUntil(() => lines.some((l) => l.startsWith('CONOK,')), 5_000, () => lines.join(' '));
      // One host holds both sessions: the session id names the object (E<object id>.<key>).
      expect(lines.find((l) => l.startsWith('CONOK,'))!.split(',')[1].split('.')[0]).toBe(bystander.sessions.at(-1)!.split('.')[0]);
      socket.send('control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=big&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false');
      await waitUntil(() => lines.some((l) => l.startsWith('SUBOK,1')), 5_000, () => lines.join(' '));
      const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
      (socket as unknown as { _socket: Socket })._socket.pause();

      // Up to 40 MB of 100 KB RAW updates (kept whole: nothing conflates RAW; each differs from the
      // last, so none is sent as "unchanged"), far more than the kernel's socket buffers hold:
      // without a bound the object would queue them all.
      const value = (n: number) => `${n}`.padEnd(100_000, 'z');
      const endedBefore = (await status()).counters.unreadSessionsEnded ?? 0;
      let published = 0;
      for (; published < 400 && ((await status()).counters.unreadSessionsEnded ?? 0) === endedBefore; published += 2) {
        await Promise.all(Object.values(origins).map((o) => publish(o.url, PUBLISH_TOKEN, Array.from({ length: 2 }, (_, i) => ({ item: 'big', fields: { v: value(published + i) } })))));
      }
      await waitUntil(async () => ((await status()).counters.unreadSessionsEnded ?? 0) > endedBefore, 10_000, () => 'the slow session never ended');
      expect(isLive(bystander)).toBe(true);
      const heard = bystander.values.length;
      await waitUntil(() => bystander.values.length > heard, 10_000, () => 'the bystander stopped streaming');

      (socket as unknown as { _socket: Socket })._socket.resume();
      await closed;
      expect(lines.at(-1)).toBe('END,32,too many notifications left unread');
      // What reached the socket before the end is what its stream queue and the unread bound held, not the 400 published.
      const received = lines.filter((l) => l.startsWith('U,1,1,')).length;
      expect(received).toBeLessThan(published);
    } finally {
      bystander.close();
    }
  });
});

describe('values the edge echoes', () => {
  it('never carry a line or a field a client slipped in: a bad LS_reqId gets ERROR 65 instead of an echo', async () => {
    // A session nobody has: the edge answers for it itself, one answer per request line.
    const body = 'LS_reqId=1%0D%0AEND%2C48%2Cinjected&LS_op=destroy\r\nLS_reqId=2&LS_op=destroy\r\n';
    const answer = await request('/lightstreamer/control.txt?LS_session=nobody', { headers: { 'content-type': 'text/plain' }, body });
    expect(answer.text).toBe('ERROR,65,missing or bad LS_reqId\r\nREQERR,2,20,Session not found\r\n');
  });
});
