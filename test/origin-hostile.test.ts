// Hostile input against a real origin, over raw HTTP, raw TCP and `ws`: what the official client
// would never send. Each case gets the protocol's error (or HTTP 4xx for what is not TLCP at all),
// and the origin keeps serving everyone else.
import ls from 'lightstreamer-client-node';
import fs from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startOrigin, type OriginHandle } from './support/origin.ts';

const { LightstreamerClient, Subscription } = ls;
const PUBLISH_TOKEN = 'hostile-publish-token';
const WS_PROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
const CREATE = 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false&LS_cause=api';

let origin: OriginHandle;

beforeAll(async () => {
  origin = await startOrigin({ PUBLISH_TOKEN });
});

afterAll(async () => {
  await origin?.stop();
});

async function post(path: string, body: string | Buffer, target: OriginHandle = origin): Promise<{ status: number; text: string }> {
  const res = await fetch(`${target.url}${path}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : Uint8Array.from(body),
    headers: { 'content-type': 'text/plain' },
  });
  return { status: res.status, text: await res.text() };
}

/** Writes `bytes` on a raw connection and returns all that comes back until the origin closes it. */
async function raw(bytes: string | Buffer): Promise<string> {
  const socket = net.connect(origin.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  // The origin may reset a connection it refuses; what it answered first is what matters.
  socket.on('error', () => {});
  const closed = new Promise((resolve) => socket.on('close', resolve));
  socket.write(bytes);
  await closed;
  return Buffer.concat(chunks).toString('latin1');
}

async function stillServing(): Promise<void> {
  const created = await post('/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', CREATE);
  expect(created.text).toMatch(/^CONOK,/);
}

async function wrongInstanceCount(): Promise<number> {
  const res = await fetch(`${origin.url}/api/status`);
  return ((await res.json()) as { wrongInstance: number }).wrongInstance;
}

describe('HTTP requests that are not TLCP', () => {
  it('oversized headers: 431 with the limit, and the connection is closed', async () => {
    const answer = await raw(`POST /lightstreamer/create_session.txt HTTP/1.1\r\nhost: x\r\nx-junk: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request head larger than 16384 bytes\r\n/);
    await stillServing();
  });

  it('an oversized body declared beyond what the origin reads: 413 at once, and the connection closed', async () => {
    const declared = await raw(`POST /lightstreamer/control.txt HTTP/1.1\r\nhost: x\r\ncontent-length: ${64 * 1024 * 1024}\r\n\r\nLS_reqId=1`);
    expect(declared).toMatch(/^HTTP\/1\.1 413 [^]*\r\nconnection: close\r\n[^]*\r\nbody over \d+ bytes\n/i);
    await stillServing();
  });

  // Answering and closing while the client still sends makes its kernel reset the connection, and
  // the client loses the answer ("fetch failed", EPIPE: the flake of issue 8). A body of a few
  // megabytes is read to its end (and dropped) before the 413, on a connection that stays usable.
  it('an oversized body of a few megabytes, declared or chunked: 413 once it is all read, never buffered', async () => {
    const body = Buffer.alloc(2 * 1024 * 1024, 'LS_reqId=1&');
    const refused = { status: 413, text: expect.stringMatching(/^body over \d+ bytes\n$/) };
    expect(await post('/lightstreamer/control.txt', body)).toEqual(refused);
    // A stream has no length to declare: fetch sends it chunked.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let sent = 0; sent < body.length; sent += 64 * 1024) controller.enqueue(Uint8Array.from(body.subarray(sent, sent + 64 * 1024)));
        controller.close();
      },
    });
    const chunked = await fetch(`${origin.url}/lightstreamer/control.txt`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect({ status: chunked.status, text: await chunked.text() }).toEqual(refused);
    const publish = await fetch(`${origin.url}/api/publish`, { method: 'POST', body: Uint8Array.from(body), headers: { authorization: `Bearer ${PUBLISH_TOKEN}` } });
    expect(publish.status).toBe(413);

    // The connection carries on: the next request on it is answered.
    const oversized = Buffer.alloc(300 * 1024, 'x');
    const both = await raw(
      Buffer.concat([
        Buffer.from(`POST /lightstreamer/control.txt HTTP/1.1\r\nhost: x\r\ncontent-length: ${oversized.length}\r\n\r\n`),
        oversized,
        Buffer.from('GET /lightstreamer/healthcheck HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      ]),
    );
    expect(both).toMatch(/^HTTP\/1\.1 413 [^]*\r\nbody over \d+ bytes\n[^]*HTTP\/1\.1 200 OK\r\n[^]*\r\nOK\r\n/);
  });

  it.each([
    ['an unknown request name', 'POST', '/lightstreamer/steal_session.txt', 'LS_session=x', 'not a TLCP request: POST steal_session.txt\n'],
    ['another method', 'GET', '/lightstreamer/create_session.txt', undefined, 'not a TLCP request: GET create_session.txt\n'],
    ['a binary body', 'POST', '/lightstreamer/control.txt', Buffer.from([0x00, 0x01, 0x02, 0x41]), 'body is not TLCP text\n'],
    ['a body that is not UTF-8', 'POST', '/lightstreamer/control.txt', Buffer.from('LS_reqId=1&LS_op=\xff\xfe', 'latin1'), 'body is not UTF-8 text\n'],
  ])('%s: 400 with a message', async (_what, method, path, body, message) => {
    const res = await fetch(`${origin.url}${path}`, { method, body: body === undefined ? undefined : Uint8Array.from(Buffer.from(body)) });
    expect(res.status).toBe(400);
    expect(await res.text()).toBe(message);
  });

  it('bytes that are not HTTP at all: 400 with what the HTTP parser refused, connection closed', async () => {
    expect(await raw(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]))).toMatch(/^HTTP\/1\.1 400 Not an HTTP request this server understands \(HPE_\w+\)\r\n/);
    expect(await raw('HELLO\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Not an HTTP request this server understands \(HPE_\w+\)\r\n/);
    await stillServing();
  });
});

describe('TLCP requests that are wrong', () => {
  it('bad percent-encoding gets CONERR 65 on create, REQERR 65 on control lines', async () => {
    const created = await post('/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', `${CREATE}&LS_user=%E0%A4%A`);
    expect(created).toEqual({ status: 200, text: expect.stringMatching(/^CONERR,65,/) });
    const control = await post('/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0', 'LS_reqId=7&LS_op=add&LS_group=%ZZ');
    expect(control.text).toMatch(/^REQERR,7,65,/);
  });

  it('an LS_reqId that would inject a line or a field into the answer is refused, never echoed', async () => {
    const injected = 'LS_reqId=1%0D%0AEND%2C48%2Cinjected&LS_op=destroy';
    // For a session not held here (the answer echoes the id) …
    const unknown = `${origin.shardId}.${'F'.repeat(32)}`;
    const http = await post(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${unknown}`, injected);
    expect(http.text).toBe('ERROR,65,missing or bad LS_reqId\r\n');
    // … and over a WebSocket with no session yet.
    const ws = new WebSocket(`ws://127.0.0.1:${origin.port}/lightstreamer`, WS_PROTOCOL);
    const messages: string[] = [];
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    await once(ws, 'open');
    ws.send(`control\r\n${injected}`);
    ws.send(`msg\r\nLS_reqId=2%2C0&LS_message=x`);
    await expect.poll(() => messages.length).toBe(2);
    expect(messages).toEqual(['ERROR,65,missing or bad LS_reqId\r\n', 'ERROR,65,missing or bad LS_reqId\r\n']);
    ws.close();
  });

  it('a session this origin does not hold: code 20 on bind and control', async () => {
    const unknown = `${origin.shardId}.${'A'.repeat(32)}`;
    const before = await wrongInstanceCount();
    const bind = await post('/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0', `LS_session=${unknown}&LS_polling=true&LS_polling_millis=0`);
    expect(bind).toEqual({ status: 200, text: 'CONERR,20,session not found\r\n' });
    const control = await post(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${unknown}`, 'LS_reqId=3&LS_op=destroy');
    expect(control.text).toBe('REQERR,3,20,session not found\r\n');
    expect(await wrongInstanceCount()).toBe(before);
  });

  it('a session id naming another shard: 21 on bind (11 on control lines), counted as wrongInstance', async () => {
    const elsewhere = `not-${origin.shardId}.${'B'.repeat(32)}`;
    const before = await wrongInstanceCount();
    const bind = await post('/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0', `LS_session=${elsewhere}&LS_polling=true&LS_polling_millis=0`);
    expect(bind.text).toBe('CONERR,21,session belongs to another instance\r\n');
    const control = await post(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${elsewhere}`, 'LS_reqId=4&LS_op=destroy');
    expect(control.text).toBe('REQERR,4,11,session belongs to another instance\r\n');
    expect(await wrongInstanceCount()).toBe(before + 2);
  });
});

describe('WebSocket abuse', () => {
  async function tlcpSocket(): Promise<{ ws: WebSocket; messages: string[]; closed: Promise<number> }> {
    const ws = new WebSocket(`ws://127.0.0.1:${origin.port}/lightstreamer`, WS_PROTOCOL);
    const messages: string[] = [];
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    const closed = once(ws, 'close').then(([code]) => code as number);
    await once(ws, 'open');
    return { ws, messages, closed };
  }

  it('an upgrade without the TLCP subprotocol: 400 with a message', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${origin.port}/lightstreamer`);
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(400);
    let text = '';
    for await (const chunk of res) text += String(chunk);
    expect(text).toMatch(/^not a TLCP WebSocket/);
  });

  it('a frame that is no TLCP request: ERROR 65, then close 1002', async () => {
    const { ws, messages, closed } = await tlcpSocket();
    ws.send('GET / HTTP/1.1');
    expect(await closed).toBe(1002);
    expect(messages.join('')).toMatch(/^ERROR,65,/);
  });

  it('a binary frame: close 1003; an oversized frame: close 1009', async () => {
    const binary = await tlcpSocket();
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect(await binary.closed).toBe(1003);
    const big = await tlcpSocket();
    big.ws.send(`control\r\nLS_reqId=1&LS_op=add&LS_group=${'x'.repeat(200 * 1024)}`);
    expect(await big.closed).toBe(1009);
  });

  it('control frames with bad encoding or another shard\'s session get REQERR, and the session goes on', async () => {
    const { ws, messages } = await tlcpSocket();
    const received = () => messages.join('');
    ws.send('wsok');
    ws.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false&LS_cause=api');
    await expect.poll(received).toMatch(/CONOK,/);
    ws.send('control\r\nLS_reqId=5&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=%ZZ&LS_schema=last_price');
    await expect.poll(received).toMatch(/\r\nREQERR,5,65,bad percent-encoding[^\r]*\r\n/);
    ws.send(`control\r\nLS_reqId=6&LS_session=elsewhere.${'E'.repeat(32)}&LS_op=destroy`);
    await expect.poll(received).toContain('\r\nREQERR,6,11,session belongs to another instance\r\n');
    ws.send('control\r\nLS_reqId=7&LS_op=add&LS_subId=2&LS_mode=MERGE&LS_group=item1&LS_schema=last_price&LS_data_adapter=QUOTE_ADAPTER&LS_snapshot=true');
    await expect.poll(received).toMatch(/SUBOK,2,1,1\r\n[^]*U,2,1,/);
    ws.close();
  });

  it('a bind for an unknown session gets CONERR 20, another shard\'s CONERR 21', async () => {
    for (const [id, expected] of [
      [`${origin.shardId}.${'C'.repeat(32)}`, 'CONERR,20,session not found\r\n'],
      [`elsewhere.${'D'.repeat(32)}`, 'CONERR,21,session belongs to another instance\r\n'],
    ]) {
      const { ws, messages, closed } = await tlcpSocket();
      ws.send('wsok');
      ws.send(`bind_session\r\nLS_session=${id}&LS_keepalive_millis=5000&LS_send_sync=false&LS_cause=api`);
      await closed;
      expect(messages).toEqual(['WSOK\r\n', expected]);
    }
  });
});

describe('two sessions on one socket', () => {
  // An origin of its own: its status counts only this test's sessions.
  let own: OriginHandle;
  beforeAll(async () => {
    own = await startOrigin();
  });
  afterAll(async () => {
    await own?.stop();
  });

  it('a second create_session on a socket unbinds the first session, which can then be recovered', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${own.port}/lightstreamer`, WS_PROTOCOL);
    const messages: string[] = [];
    ws.on('message', (m: Buffer) => messages.push(m.toString()));
    await once(ws, 'open');
    const received = () => messages.join('');
    ws.send('wsok');
    ws.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false&LS_cause=api');
    await expect.poll(received).toMatch(/CONOK,/);
    const first = /CONOK,([^,]+),/.exec(received())![1];
    ws.send('create_session\r\nLS_adapter_set=DEMO&LS_cid=hostile&LS_send_sync=false&LS_cause=api');
    await expect.poll(() => received().match(/CONOK,/g)?.length).toBe(2);
    const status = async () => (await (await fetch(`${own.url}/api/status`)).json()) as { sessions: number; sessionsByTransport: Record<string, number> };
    expect(await status()).toMatchObject({ sessions: 2, sessionsByTransport: { 'WS-STREAMING': 1 } });
    const bind = await post('/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0', `LS_session=${first}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_recovery_from=0`, own);
    expect(bind.text).toMatch(new RegExp(`^CONOK,${first},`));
    ws.close();
  });
});

describe('a consumer that never reads', () => {
  // An origin of its own with a small heap: an unbounded queue would not merely grow, it would
  // take the process down.
  let flooded: OriginHandle;
  beforeAll(async () => {
    flooded = await startOrigin({ PUBLISH_TOKEN, NODE_OPTIONS: '--max-old-space-size=192' });
  });
  afterAll(async () => {
    await flooded?.stop();
  });

  /** RSS of the origin process and any children it has. */
  function originRssBytes(): number {
    let total = 0;
    const visit = (pid: number) => {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      const children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      for (const child of children ? children.split(' ') : []) visit(Number(child));
    };
    visit(flooded.child.pid!);
    return total;
  }

  interface Stalled {
    readonly socket: net.Socket;
    /** Reads again until what arrived matches `expected`, and returns it. */
    resume(expected: RegExp): Promise<string>;
  }

  /** Waits until `expected` arrived on `socket`, then stops reading it for good. */
  async function stallAfter(socket: net.Socket, expected: string): Promise<Stalled> {
    let received = '';
    const onData = (c: Buffer) => (received += c.toString('latin1'));
    socket.on('data', onData);
    const deadline = Date.now() + 10_000;
    while (!received.includes(expected)) {
      if (Date.now() > deadline) throw new Error(`no ${expected} for the stalled subscriber: ${JSON.stringify(received.slice(0, 800))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    socket.pause();
    socket.off('data', onData);
    return {
      socket,
      async resume(expected) {
        let rest = '';
        socket.on('data', (c: Buffer) => (rest += c.toString('latin1')));
        socket.resume();
        await expect.poll(() => expected.test(rest), { timeout: 15_000 }).toBe(true);
        return rest;
      },
    };
  }

  const ADD_RAW = (item: string) => `LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=${item}&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false`;

  /** A WebSocket client written by hand over TCP, so it can stop reading. */
  async function stalledWebSocket(item: string): Promise<Stalled> {
    const socket = net.connect(flooded.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `GET /lightstreamer HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
        `sec-websocket-key: ${Buffer.alloc(16, 7).toString('base64')}\r\nsec-websocket-version: 13\r\n` +
        `sec-websocket-protocol: ${WS_PROTOCOL}\r\n\r\n`,
    );
    const frame = (text: string) => {
      const payload = Buffer.from(text);
      const header = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
      // A zero mask leaves the payload as is; the server unmasks all the same.
      return Buffer.concat([header, Buffer.alloc(4), payload]);
    };
    socket.write(frame('wsok'));
    socket.write(frame(`create_session\r\nLS_adapter_set=DEMO&LS_cid=slow&LS_send_sync=false&LS_cause=api`));
    socket.write(frame(`control\r\n${ADD_RAW(item)}`));
    return stallAfter(socket, 'SUBOK,1,1,1');
  }

  /** An HTTP-STREAMING bind on a raw socket, so it can stop reading. */
  async function stalledHttpStream(item: string): Promise<Stalled> {
    const created = await post('/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', CREATE, flooded);
    const session = /^CONOK,([^,]+),/.exec(created.text)![1];
    const socket = net.connect(flooded.port, '127.0.0.1');
    await once(socket, 'connect');
    const body = `LS_session=${session}&LS_content_length=4000000000&LS_send_sync=false&LS_cause=api`;
    socket.write(`POST /lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0 HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    const added = await post(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${session}`, ADD_RAW(item), flooded);
    expect(added.text).toBe('REQOK,1\r\n');
    return stallAfter(socket, 'SUBOK,1,1,1');
  }

  async function slowConsumers(): Promise<number> {
    const text = await (await fetch(`${flooded.url}/metrics`)).text();
    return Number(/^edgepush_slow_consumers(?:\{[^}]*\})? (\d+)$/m.exec(text)![1]);
  }

  it('a slow consumer whose connection closes while congested stops counting as slow', async () => {
    const stalled = await stalledWebSocket('jam');
    const batch = JSON.stringify(Array.from({ length: 10 }, () => ({ item: 'jam', fields: { v: 'x'.repeat(20 * 1024) } })));
    for (let round = 0; round < 200 && (await slowConsumers()) === 0; round++) {
      const res = await fetch(`${flooded.url}/api/publish`, {
        method: 'POST',
        headers: { authorization: `Bearer ${PUBLISH_TOKEN}`, 'content-type': 'application/json' },
        body: batch,
      });
      expect(res.status).toBe(200);
    }
    expect(await slowConsumers()).toBe(1);
    stalled.socket.destroy();
    await expect.poll(slowConsumers, { timeout: 5_000 }).toBe(0);
  });

  it('has bounded memory on WebSocket and HTTP streams while others keep streaming', async () => {
    const client = new LightstreamerClient(flooded.url, 'DEMO');
    const prices: string[] = [];
    const sub = new Subscription('MERGE', ['item1'], ['last_price']);
    sub.setDataAdapter('QUOTE_ADAPTER');
    sub.addListener({ onItemUpdate: (u: { getValue(f: string): string | null }) => void prices.push(u.getValue('last_price') ?? '') });
    client.subscribe(sub);
    client.connect();

    const stalled = [await stalledWebSocket('flood'), await stalledHttpStream('flood')];

    // RAW mode, which conflates nothing, for a subscriber that reads nothing.
    const value = 'x'.repeat(20 * 1024);
    const batch = JSON.stringify(Array.from({ length: 10 }, () => ({ item: 'flood', fields: { v: value } })));
    const flood = async (megabytes: number) => {
      for (let sent = 0; sent < megabytes * 1024 * 1024; sent += 8 * batch.length) {
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            const res = await fetch(`${flooded.url}/api/publish`, {
              method: 'POST',
              headers: { authorization: `Bearer ${PUBLISH_TOKEN}`, 'content-type': 'application/json' },
              body: batch,
            });
            expect(res.status).toBe(200);
            await res.arrayBuffer();
          }),
        );
      }
    };
    // The first round fills the kernel buffers and the origin's queues and lets the heap settle;
    // the second one must then cost nothing more, where an unbounded queue would grow by all of it.
    await flood(64);
    const settled = originRssBytes();
    const pricesBefore = prices.length;
    await flood(256);
    const grown = originRssBytes() - settled;
    expect(flooded.child.exitCode).toBeNull();
    expect(grown).toBeLessThan(128 * 1024 * 1024);
    // Other sessions were served all along.
    expect(prices.length).toBeGreaterThan(pricesBefore);
    const before = prices.length;
    await expect.poll(() => prices.length, { timeout: 5_000 }).toBeGreaterThan(before);

    // Once they read again, the slow consumers learn how many updates they lost.
    for (const consumer of stalled) {
      await consumer.resume(/OV,1,1,\d+\r\n/);
      consumer.socket.destroy();
    }
    client.disconnect();
    // Pushing 320 MB through the publish API takes a while on a busy machine.
  }, 150_000);
});
