import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { ROUTES } from '../origin/config.ts';
import { clientAddress } from '../origin/listeners/client-address.ts';
import { startListeners, TLS_HANDSHAKE_TIMEOUT_MS, type RunningListeners } from '../origin/listeners/listeners.ts';
import { parseProxyHeader, PROXY_HEADER_TIMEOUT_MS } from '../origin/listeners/proxy-protocol.ts';
import { selfSignedCertificate } from './support/certificates.ts';
import { freePort } from './support/ports.ts';

const SECRET = 'edge-secret-for-tests';
const ALL_ROUTES = new Set(ROUTES);
const push = selfSignedCertificate('push.example.com');
const push1 = selfSignedCertificate('push1.example.com');
const wildcard = selfSignedCertificate('*.ourcompany.com');
const certificates = [
  { cert: push1.cert, key: push1.key, serverName: 'push1.example.com' },
  { cert: wildcard.cert, key: wildcard.key, serverName: '*.ourcompany.com' },
  { cert: push.cert, key: push.key },
];

/** What the trivial handler reports about each request. */
interface Seen {
  trusting: string;
  untrusting: string;
  encrypted: boolean;
  url: string;
}

let running: RunningListeners;
const refused: string[] = [];
const port: Record<'S' | 'CR' | 'PROXY' | 'PROXY_TLS', number> = { S: 0, CR: 0, PROXY: 0, PROXY_TLS: 0 };

function describeRequest(req: http.IncomingMessage): Seen {
  return {
    trusting: clientAddress(req, { edgeSecret: SECRET }),
    untrusting: clientAddress(req, { edgeSecret: null }),
    encrypted: (req.socket as tls.TLSSocket).encrypted === true,
    url: req.url ?? '',
  };
}

beforeAll(async () => {
  for (const name of Object.keys(port) as (keyof typeof port)[]) port[name] = await freePort();
  const wss = new WebSocketServer({ noServer: true });
  running = await startListeners(
    [
      { name: 'S', protocol: 'http', host: '127.0.0.1', port: port.S, proxyProtocol: false, routes: ALL_ROUTES },
      { name: 'CR', protocol: 'https', host: '127.0.0.1', port: port.CR, proxyProtocol: false, routes: ALL_ROUTES, certificates },
      { name: 'PROXY', protocol: 'http', host: '127.0.0.1', port: port.PROXY, proxyProtocol: true, routes: ALL_ROUTES },
      { name: 'PROXY_TLS', protocol: 'https', host: '127.0.0.1', port: port.PROXY_TLS, proxyProtocol: true, routes: ALL_ROUTES, certificates },
    ],
    {
      onRequest(req, res) {
        if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('open\r\n');
          return;
        }
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(describeRequest(req)));
      },
      onUpgrade(req, socket, head) {
        wss.handleUpgrade(req, socket, head, (ws) => ws.send(JSON.stringify(describeRequest(req))));
      },
      onRefused(listener, reason) {
        refused.push(`${listener}: ${reason}`);
      },
    },
  );
});

afterAll(async () => {
  await running?.close();
});

/** Sends `bytes` on a fresh connection and returns everything received until the server closes. */
async function exchange(target: number, bytes: Buffer | string): Promise<string> {
  const raw = net.connect(target, '127.0.0.1');
  await once(raw, 'connect');
  const chunks: Buffer[] = [];
  raw.on('data', (c: Buffer) => chunks.push(c));
  raw.write(bytes);
  await once(raw, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** One HTTP request, after an optional PROXY header, optionally over TLS on top of that header. */
async function request(
  target: number,
  options: { proxyHeader?: Buffer | string; tls?: boolean; servername?: string; headers?: Record<string, string> } = {},
): Promise<Seen> {
  const raw = net.connect(target, '127.0.0.1');
  await once(raw, 'connect');
  if (options.proxyHeader !== undefined) raw.write(options.proxyHeader);
  const socket: net.Socket = options.tls
    ? tls.connect({ socket: raw, servername: options.servername, rejectUnauthorized: false })
    : raw;
  const headers = Object.entries({ host: 'x', connection: 'close', ...options.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.write(`GET /who HTTP/1.1\r\n${headers}\r\n`);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  await once(socket, 'close');
  const text = Buffer.concat(chunks).toString('utf8');
  expect(text).toMatch(/^HTTP\/1\.1 200 /);
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Seen;
}

function v2Header(command: 'PROXY' | 'LOCAL', family: number, addresses: Buffer): Buffer {
  const fixed = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0, family, 0, 0]);
  fixed[12] = command === 'PROXY' ? 0x21 : 0x20;
  fixed.writeUInt16BE(addresses.length, 14);
  return Buffer.concat([fixed, addresses]);
}

function v2Inet(source: string, sourcePort: number): Buffer {
  const b = Buffer.alloc(12);
  source.split('.').forEach((octet, i) => (b[i] = Number(octet)));
  Buffer.from([10, 0, 0, 1]).copy(b, 4);
  b.writeUInt16BE(sourcePort, 8);
  b.writeUInt16BE(443, 10);
  return b;
}

/** The certificate a TLS client is given for `servername` (undefined: no SNI at all). */
async function presentedCertificate(target: number, servername: string | undefined): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port: target, servername, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const presented = socket.getPeerX509Certificate()!;
  socket.destroy();
  return presented.fingerprint256;
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('listeners', () => {
  it('serves plain HTTP and HTTPS on their own ports with the same handlers', async () => {
    const plain = await request(port.S);
    expect(plain).toMatchObject({ encrypted: false, untrusting: '127.0.0.1', url: '/who' });
    const secure = await request(port.CR, { tls: true, servername: 'push1.example.com' });
    expect(secure).toMatchObject({ encrypted: true, untrusting: '127.0.0.1', url: '/who' });
    expect(running.addresses.map((a) => `${a.name} ${a.protocol}://${a.host}:${a.port}`)).toEqual([
      `S http://127.0.0.1:${port.S}`,
      `CR https://127.0.0.1:${port.CR}`,
      `PROXY http://127.0.0.1:${port.PROXY}`,
      `PROXY_TLS https://127.0.0.1:${port.PROXY_TLS}`,
    ]);
  });

  it('picks the certificate by SNI, with the default one for no SNI and unknown names', async () => {
    expect(await presentedCertificate(port.CR, 'push1.example.com')).toBe(fingerprint(push1.pem));
    expect(await presentedCertificate(port.CR, 'push2.ourcompany.com')).toBe(fingerprint(wildcard.pem));
    expect(await presentedCertificate(port.CR, 'push.example.com')).toBe(fingerprint(push.pem));
    expect(await presentedCertificate(port.CR, 'elsewhere.example.org')).toBe(fingerprint(push.pem));
    expect(await presentedCertificate(port.CR, undefined)).toBe(fingerprint(push.pem));
  });

  it('upgrades WebSockets on HTTP and HTTPS listeners', async () => {
    for (const url of [`ws://127.0.0.1:${port.S}/lightstreamer`, `wss://127.0.0.1:${port.CR}/lightstreamer`]) {
      const ws = new WebSocket(url, { rejectUnauthorized: false });
      const [message] = (await once(ws, 'message')) as [Buffer];
      expect(JSON.parse(message.toString())).toMatchObject({ url: '/lightstreamer', untrusting: '127.0.0.1', encrypted: url.startsWith('wss') });
      ws.close();
    }
  });

  it(`drops a TLS connection that does not complete its handshake within ${TLS_HANDSHAKE_TIMEOUT_MS} ms`, async () => {
    const silent = net.connect(port.CR, '127.0.0.1');
    await once(silent, 'connect');
    const started = Date.now();
    await once(silent, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(TLS_HANDSHAKE_TIMEOUT_MS - 100);
    expect(refused).toContain('CR: TLS: TLS handshake timeout');
  });

  it('refuses to bind half a configuration: a busy port closes the listeners already bound', async () => {
    const free = await freePort();
    await expect(
      startListeners(
        [
          { name: 'first', protocol: 'http', host: '127.0.0.1', port: free, proxyProtocol: false, routes: ALL_ROUTES },
          { name: 'busy', protocol: 'http', host: '127.0.0.1', port: port.S, proxyProtocol: false, routes: ALL_ROUTES },
        ],
        { onRequest: () => {}, onUpgrade: () => {} },
      ),
    ).rejects.toThrow(`listener "busy" cannot listen on 127.0.0.1:${port.S}: listen EADDRINUSE`);
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(free, '127.0.0.1', resolve));
    await new Promise((resolve) => probe.close(resolve));
  });

  it('close() drops open streams too', async () => {
    const own = await freePort();
    const mine = await startListeners([{ name: 'x', protocol: 'http', host: '127.0.0.1', port: own, proxyProtocol: false, routes: ALL_ROUTES }], {
      onRequest: (_req, res) => res.writeHead(200).write('streaming\r\n'),
      onUpgrade: () => {},
    });
    const client = net.connect(own, '127.0.0.1');
    client.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await once(client, 'data');
    const closed = once(client, 'close');
    await mine.close();
    await closed;
    await expect(exchange(own, 'GET / HTTP/1.1\r\n\r\n')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('PROXY protocol', () => {
  const request1 = 'GET /who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';

  it('v1 TCP4 names the client, header and request in one packet or dribbled byte by byte', async () => {
    const header = 'PROXY TCP4 203.0.113.7 10.0.0.1 56324 80\r\n';
    expect((await request(port.PROXY, { proxyHeader: header })).untrusting).toBe('203.0.113.7');

    const raw = net.connect(port.PROXY, '127.0.0.1');
    await once(raw, 'connect');
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    for (const byte of header) {
      raw.write(byte);
      await new Promise((r) => setTimeout(r, 2));
    }
    raw.write(request1);
    await once(raw, 'close');
    expect(Buffer.concat(chunks).toString()).toContain('"untrusting":"203.0.113.7"');

    const oneWrite = await exchange(port.PROXY, header + request1);
    expect(oneWrite).toContain('"untrusting":"203.0.113.7"');
  });

  it('v1 TCP6 names the client in canonical form; IPv4-mapped addresses become IPv4', async () => {
    const v6 = await request(port.PROXY, { proxyHeader: 'PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:db8::2 4000 443\r\n' });
    expect(v6.untrusting).toBe('2001:db8::1');
    const mapped = await request(port.PROXY, { proxyHeader: 'PROXY TCP6 ::ffff:192.0.2.9 ::ffff:10.0.0.1 4000 443\r\n' });
    expect(mapped.untrusting).toBe('192.0.2.9');
  });

  it('v1 UNKNOWN and v2 LOCAL leave the socket peer as the client', async () => {
    expect((await request(port.PROXY, { proxyHeader: 'PROXY UNKNOWN\r\n' })).untrusting).toBe('127.0.0.1');
    expect((await request(port.PROXY, { proxyHeader: v2Header('LOCAL', 0x00, Buffer.alloc(0)) })).untrusting).toBe('127.0.0.1');
  });

  it('v2 names IPv4 and IPv6 clients, TLVs skipped', async () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
    const v4 = await request(port.PROXY, { proxyHeader: v2Header('PROXY', 0x11, Buffer.concat([v2Inet('198.51.100.20', 5555), tlv])) });
    expect(v4.untrusting).toBe('198.51.100.20');

    const inet6 = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000042', 'hex').copy(inet6, 0);
    inet6.writeUInt16BE(6000, 32);
    const v6 = await request(port.PROXY, { proxyHeader: v2Header('PROXY', 0x21, inet6) });
    expect(v6.untrusting).toBe('2001:db8::42');
  });

  it('works in front of TLS: the header first, then the handshake, HTTP inside', async () => {
    // Written in the same tick, header and ClientHello usually reach the server in one segment;
    // after a pause they arrive apart. Both must work.
    const apart = net.connect(port.PROXY_TLS, '127.0.0.1');
    await once(apart, 'connect');
    apart.write('PROXY TCP4 192.0.2.43 10.0.0.1 1 2\r\n');
    await new Promise((r) => setTimeout(r, 50));
    const secure = tls.connect({ socket: apart, rejectUnauthorized: false });
    secure.end('GET /who HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    let answer = '';
    secure.on('data', (c: Buffer) => (answer += c.toString()));
    await once(secure, 'close');
    expect(answer).toContain('"untrusting":"192.0.2.43","encrypted":true');

    const seen = await request(port.PROXY_TLS, {
      proxyHeader: v2Header('PROXY', 0x11, v2Inet('192.0.2.44', 1234)),
      tls: true,
      servername: 'push1.example.com',
    });
    expect(seen).toMatchObject({ untrusting: '192.0.2.44', encrypted: true });
    const v1 = await request(port.PROXY_TLS, { proxyHeader: 'PROXY TCP4 192.0.2.45 10.0.0.1 1 2\r\n', tls: true });
    expect(v1.untrusting).toBe('192.0.2.45');
  });

  it('upgrades a WebSocket behind a PROXY header', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port.PROXY}/lightstreamer`, {
      createConnection: () => {
        const raw = net.connect(port.PROXY, '127.0.0.1');
        raw.write('PROXY TCP4 192.0.2.77 10.0.0.1 1000 80\r\n');
        return raw;
      },
    });
    const [message] = (await once(ws, 'message')) as [Buffer];
    expect(JSON.parse(message.toString()).untrusting).toBe('192.0.2.77');
    ws.close();
  });

  it('closes connections with garbage, oversized or truncated headers and keeps serving the others', async () => {
    // A keep-alive connection with a good header, used before and after the abuse.
    const agent = net.connect(port.PROXY, '127.0.0.1');
    await once(agent, 'connect');
    agent.write('PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n');
    let received = '';
    agent.on('data', (c: Buffer) => (received += c.toString()));
    const keepAlive = 'GET /who HTTP/1.1\r\nhost: x\r\n\r\n';
    agent.write(keepAlive);
    await expect.poll(() => received).toContain('"untrusting":"192.0.2.1"');

    refused.length = 0;
    const abuse = [
      request1, // plain HTTP where a PROXY header is required
      'PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n' + request1,
      'PROXY TCP4 192.0.2.1 10.0.0.1 99999 2\r\n' + request1,
      'PROXY SCTP 192.0.2.1 10.0.0.1 1 2\r\n',
      'PROXY TCP4 ' + '1'.repeat(200),
      Buffer.concat([v2Header('PROXY', 0x11, Buffer.alloc(0)).subarray(0, 14), Buffer.from([0xff, 0xff])]),
      Buffer.concat([v2Header('PROXY', 0x11, v2Inet('192.0.2.1', 1)).subarray(0, 12), Buffer.from([0x31, 0x11, 0, 12])]),
      v2Header('PROXY', 0x11, Buffer.alloc(4)),
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0, 0, 0, 0, 0]), // a TLS ClientHello without the header
    ];
    const answers = await Promise.all(abuse.map((bytes) => exchange(port.PROXY, bytes)));
    expect(answers).toEqual(abuse.map(() => ''));
    expect(refused).toHaveLength(abuse.length);
    expect(refused.every((r) => r.startsWith('PROXY: PROXY protocol: '))).toBe(true);

    // A truncated header followed by a hang-up is refused too.
    const truncated = net.connect(port.PROXY, '127.0.0.1');
    await once(truncated, 'connect');
    truncated.end('PROXY TCP4 192.0.2.1');
    await once(truncated, 'close');
    await expect.poll(() => refused.at(-1)).toBe('PROXY: PROXY protocol: closed before the PROXY header');

    received = '';
    agent.write(keepAlive);
    await expect.poll(() => received).toContain('"untrusting":"192.0.2.1"');
    agent.destroy();
    expect((await request(port.PROXY, { proxyHeader: 'PROXY TCP4 192.0.2.2 10.0.0.1 1 2\r\n' })).untrusting).toBe('192.0.2.2');
  });

  it(`drops a connection that sends no header within ${PROXY_HEADER_TIMEOUT_MS} ms`, async () => {
    const silent = net.connect(port.PROXY, '127.0.0.1');
    await once(silent, 'connect');
    const started = Date.now();
    await once(silent, 'close');
    expect(Date.now() - started).toBeGreaterThanOrEqual(PROXY_HEADER_TIMEOUT_MS - 100);
  });
});

describe('parseProxyHeader', () => {
  it('asks for more bytes while the input is a prefix of a header', () => {
    for (const partial of ['P', 'PROXY', 'PROXY TCP4 1.2.3.4', '\r\n\r\n\0\r\nQUI']) {
      expect(parseProxyHeader(Buffer.from(partial, 'latin1'))).toEqual({ status: 'incomplete' });
    }
    const v2 = v2Header('PROXY', 0x11, v2Inet('192.0.2.1', 7));
    for (let n = 1; n < v2.length; n++) expect(parseProxyHeader(v2.subarray(0, n)).status).toBe('incomplete');
    expect(parseProxyHeader(v2)).toEqual({ status: 'complete', length: 28, source: { address: '192.0.2.1', port: 7 } });
  });

  it('reports the header length so the bytes after it are kept', () => {
    const header = 'PROXY TCP4 192.0.2.1 192.0.2.2 1 65535\r\n';
    expect(parseProxyHeader(Buffer.from(header + 'GET /'))).toEqual({
      status: 'complete',
      length: header.length,
      source: { address: '192.0.2.1', port: 1 },
    });
  });

  it.each([
    ['GET / HTTP/1.1', 'no PROXY protocol signature'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'v1 header without 6 fields'],
    ['PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', 'v1 bad address'],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'v1 bad port'],
    [`PROXY UNKNOWN ${'x'.repeat(100)}`, 'v1 header longer than 107 bytes'],
  ])('rejects %j: %s', (input, reason) => {
    expect(parseProxyHeader(Buffer.from(input))).toEqual({ status: 'invalid', reason });
  });
});

describe('clientAddress with forwarded headers', () => {
  const forwarded = { 'cf-connecting-ip': '203.0.113.50', 'x-forwarded-for': '198.51.100.1, 10.0.0.2' };

  it('ignores them without the edge secret, or with a wrong one', async () => {
    expect(await request(port.S, { headers: forwarded })).toMatchObject({ trusting: '127.0.0.1', untrusting: '127.0.0.1' });
    const wrong = await request(port.S, { headers: { ...forwarded, 'x-edge-secret': `${SECRET}x` } });
    expect(wrong).toMatchObject({ trusting: '127.0.0.1', untrusting: '127.0.0.1' });
  });

  it('honours them with the secret: CF-Connecting-IP, else the first X-Forwarded-For entry', async () => {
    const withSecret = { ...forwarded, 'x-edge-secret': SECRET };
    expect(await request(port.S, { headers: withSecret })).toMatchObject({ trusting: '203.0.113.50', untrusting: '127.0.0.1' });
    const xffOnly = { 'x-forwarded-for': ' 198.51.100.1 , 10.0.0.2', 'x-edge-secret': SECRET };
    expect((await request(port.S, { headers: xffOnly })).trusting).toBe('198.51.100.1');
    const mapped = { 'cf-connecting-ip': '::ffff:203.0.113.9', 'x-edge-secret': SECRET };
    expect((await request(port.S, { headers: mapped })).trusting).toBe('203.0.113.9');
  });

  it('never lets a trusted header put something other than an IP into CLIENTIP', async () => {
    const junk = { 'cf-connecting-ip': '1.2.3.4,END', 'x-forwarded-for': 'unknown', 'x-edge-secret': SECRET };
    expect((await request(port.S, { headers: junk })).trusting).toBe('127.0.0.1');
  });

  it('puts the edge headers before the PROXY source, and the PROXY source before the peer', async () => {
    const proxyHeader = 'PROXY TCP4 192.0.2.99 10.0.0.1 1 2\r\n';
    const seen = await request(port.PROXY, { proxyHeader, headers: { ...forwarded, 'x-edge-secret': SECRET } });
    expect(seen).toMatchObject({ trusting: '203.0.113.50', untrusting: '192.0.2.99' });
  });
});
