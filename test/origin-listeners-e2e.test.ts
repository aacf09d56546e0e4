// Listeners of a real origin driven by the official Node client: guide option 2.B.1.4 (plain HTTP
// for the balanced S traffic, HTTPS reached directly for CR through the control link), what each
// listener serves (a public CR listener: TLCP only), and a PROXY protocol listener behind a
// layer-4 balancer.
//
// The HTTPS listener uses a throw-away self-signed certificate, and the client offers no way to
// trust one CA, so certificate checks are off for this test process. Only loopback connections to
// servers the test itself started are made; nothing else is weakened.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

import ls from 'lightstreamer-client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from './support/certificates.ts';
import { sendMessage } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { freePort } from './support/ports.ts';
import { RawSocket, createPollingSession } from './support/tlcp-raw.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';

const { LightstreamerClient, Subscription } = ls;
type Client = InstanceType<typeof LightstreamerClient>;

const clients: Client[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.disconnect();
});

async function waitUntil(check: () => boolean, what: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Connected {
  readonly client: Client;
  readonly statuses: string[];
  readonly prices: string[];
}

/** A DEMO client streaming item1's last_price over `transport`. */
async function connect(url: string, transport: string, headers?: Record<string, string>): Promise<Connected> {
  const client = new LightstreamerClient(url, 'DEMO');
  clients.push(client);
  client.connectionOptions.setForcedTransport(transport);
  if (headers) client.connectionOptions.setHttpExtraHeaders(headers);
  const statuses: string[] = [];
  const prices: string[] = [];
  client.addListener({ onStatusChange: (s: string) => statuses.push(s) });
  const sub = new Subscription('MERGE', ['item1'], ['last_price']);
  sub.setDataAdapter('QUOTE_ADAPTER');
  sub.setRequestedSnapshot('yes');
  sub.addListener({
    onItemUpdate: (u: { getValue(f: string): string | null }) => {
      const v = u.getValue('last_price');
      if (v !== null) prices.push(v);
    },
  });
  client.subscribe(sub);
  client.connect();
  await waitUntil(
    () => statuses.at(-1) === `CONNECTED:${transport}`,
    () => `${transport}: ${statuses.join(' → ')}`,
  );
  return { client, statuses, prices };
}


/** The request lines in plain-HTTP relay traffic. */
function requestLines(connections: string[]): string[] {
  return connections.flatMap((text) => [...text.matchAll(/(?:^|\r\n)((?:GET|POST) \S+) HTTP\/1\.1\r\n/g)].map((m) => m[1]));
}

describe('S on HTTP, CR on HTTPS through the control link (guide 2.B.1.4)', () => {
  let origin: OriginHandle;
  let balancer: Relay;
  let direct: Relay;
  let crPort: number;

  beforeAll(async () => {
    const cert = selfSignedCertificate('push1.example.com');
    const sPort = await freePort();
    crPort = await freePort();
    // The client reaches S through a relay standing for the balancer and CR through another one,
    // so the test sees which requests took which path; the relays only copy bytes.
    direct = await startRelay(crPort);
    origin = await startOrigin({
      PORT: String(sPort),
      LISTENERS: JSON.stringify([
        { name: 'S', protocol: 'http', host: '127.0.0.1', port: sPort },
        {
          name: 'CR',
          protocol: 'https',
          host: '127.0.0.1',
          port: crPort,
          certificates: [{ cert: cert.cert, key: cert.key, serverName: 'push1.example.com' }],
        },
      ]),
      CONTROL_LINK: `https://127.0.0.1:${direct.port}`,
    });
    balancer = await startRelay(sPort);
  });

  afterAll(async () => {
    await balancer?.close();
    await direct?.close();
    await origin?.stop();
  });

  it('serves the healthcheck on HTTPS too', async () => {
    const res = await fetch(`https://127.0.0.1:${crPort}/lightstreamer/healthcheck`);
    expect(await res.text()).toBe('OK\r\n');
  });

  /** Every CR connection carried TLS records (0x16: handshake) from its first byte: nothing in the clear. */
  const allTls = (connections: string[]) => connections.filter((bytes) => bytes !== '').every((bytes) => bytes.charCodeAt(0) === 0x16);

  it.each(['HTTP-STREAMING', 'HTTP-POLLING', 'WS-POLLING'])('%s: create on HTTP, every later request on HTTPS', async (transport) => {
    const s = balancer.upstream.length;
    const cr = direct.upstream.length;
    const { client, prices } = await connect(`http://127.0.0.1:${balancer.port}`, transport);
    expect(client.connectionDetails.getServerInstanceAddress()).toBe(`https://127.0.0.1:${direct.port}/`);
    await waitUntil(() => prices.length >= 2, () => `two item1 updates, got ${prices.length}`);
    expect(await sendMessage(client, 'CHAT|hello over the control link')).toEqual({ kind: 'processed', response: '' });

    expect(requestLines(balancer.upstream.slice(s))).toEqual(['POST /lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0']);
    const crTraffic = direct.upstream.slice(cr);
    expect(crTraffic.filter((bytes) => bytes !== '').length).toBeGreaterThan(0);
    expect(allTls(crTraffic)).toBe(true);
  });

  it('WS-STREAMING: the session is created on a WebSocket to S, and recovers on HTTPS after a cut', async () => {
    const s = balancer.upstream.length;
    const cr = direct.upstream.length;
    const { client, statuses, prices } = await connect(`http://127.0.0.1:${balancer.port}`, 'WS-STREAMING');
    const session = client.connectionDetails.getSessionId();
    expect(requestLines(balancer.upstream.slice(s))).toEqual(['GET /lightstreamer']);

    balancer.cut();
    const seen = statuses.length;
    await waitUntil(
      () => statuses.slice(seen).includes('CONNECTED:WS-STREAMING'),
      () => `a reconnection, statuses ${statuses.join(' → ')}`,
    );
    expect(client.connectionDetails.getSessionId()).toBe(session);
    const before = prices.length;
    await waitUntil(() => prices.length > before, () => 'an update after the recovery');
    expect(await sendMessage(client, 'CHAT|hello after the cut')).toEqual({ kind: 'processed', response: '' });

    expect(requestLines(balancer.upstream.slice(s))).toEqual(['GET /lightstreamer']);
    const crTraffic = direct.upstream.slice(cr);
    expect(crTraffic.filter((bytes) => bytes !== '').length).toBeGreaterThan(0);
    expect(allTls(crTraffic)).toBe(true);
  });
});

describe('routes per listener: the public CR listener of partial mode serves TLCP only', () => {
  const token = 'routes-publish-token';
  let origin: OriginHandle;
  const url: Record<'S' | 'CR' | 'monitoring', string> = { S: '', CR: '', monitoring: '' };

  beforeAll(async () => {
    const [sPort, crPort, monitoringPort] = [await freePort(), await freePort(), await freePort()];
    origin = await startOrigin({
      PORT: String(sPort),
      PUBLISH_TOKEN: token,
      LISTENERS: JSON.stringify([
        { name: 'S', protocol: 'http', host: '127.0.0.1', port: sPort, routes: ['tlcp', 'api', 'metrics', 'dashboard', 'demo'] },
        // What a listener on a public interface serves when it names no routes (tests bind loopback only).
        { name: 'CR', protocol: 'http', host: '127.0.0.1', port: crPort, routes: ['tlcp'] },
        { name: 'monitoring', protocol: 'http', host: '127.0.0.1', port: monitoringPort, routes: ['metrics', 'dashboard'] },
      ]),
    });
    url.S = `http://127.0.0.1:${sPort}`;
    url.CR = `http://127.0.0.1:${crPort}`;
    url.monitoring = `http://127.0.0.1:${monitoringPort}`;
  });

  afterAll(async () => {
    await origin?.stop();
  });

  const status = async (listener: keyof typeof url, path: string, init?: RequestInit) => {
    const res = await fetch(`${url[listener]}${path}`, init);
    await res.arrayBuffer();
    return res.status;
  };
  const publish: RequestInit = {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ item: 'routes', fields: { v: '1' } }),
  };

  it('CR: TLCP and the healthcheck; the API, metrics, dashboard and demo page are not found', async () => {
    expect(await createPollingSession(url.CR)).toMatch(/\./);
    const socket = new RawSocket(url.CR);
    expect(await socket.create()).toMatch(/\./);
    socket.close();
    expect(await status('CR', '/lightstreamer/healthcheck')).toBe(200);
    for (const path of ['/api/status', '/metrics', '/dashboard', '/dashboard/data', '/', '/web/lightstreamer.js']) {
      expect([path, await status('CR', path)]).toEqual([path, 404]);
    }
    expect(await status('CR', '/api/publish', publish)).toBe(404);
    expect(await status('CR', '/api/sessions/end', { method: 'POST', body: '{"all":true}' })).toBe(404);
  });

  it('S, which names every route, serves them all', async () => {
    for (const path of ['/api/status', '/metrics', '/dashboard', '/', '/lightstreamer/healthcheck']) {
      expect([path, await status('S', path)]).toEqual([path, 200]);
    }
    expect(await status('S', '/api/publish', publish)).toBe(200);
  });

  it('a listener without tlcp answers 404 to TLCP requests and WebSockets, and serves what it names', async () => {
    expect(await status('monitoring', '/metrics')).toBe(200);
    expect(await status('monitoring', '/dashboard')).toBe(200);
    expect(await status('monitoring', '/api/status')).toBe(404);
    expect(await status('monitoring', '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', { method: 'POST', body: 'LS_adapter_set=DEMO&LS_cid=x\r\n' })).toBe(404);
    await expect(new RawSocket(url.monitoring).opened).rejects.toThrow(/Unexpected server response: 404/);
    expect(await status('monitoring', '/lightstreamer/healthcheck')).toBe(200);
  });
});

describe('PROXY protocol listener behind a layer-4 balancer', () => {
  let origin: OriginHandle;
  let balancer: Relay;
  let tlsBalancer: Relay;
  let proxiedPort: number;

  beforeAll(async () => {
    const cert = selfSignedCertificate('push.example.com');
    const sPort = await freePort();
    proxiedPort = await freePort();
    const proxiedTlsPort = await freePort();
    origin = await startOrigin({
      PORT: String(sPort),
      LISTENERS: JSON.stringify([
        { name: 'health', protocol: 'http', host: '127.0.0.1', port: sPort },
        { name: 'L4', protocol: 'http', host: '127.0.0.1', port: proxiedPort, proxyProtocol: true },
        // A TCP balancer in front of TLS terminated by the origin itself (guide 2.B.2.x at layer 4).
        { name: 'L4-TLS', protocol: 'https', host: '127.0.0.1', port: proxiedTlsPort, proxyProtocol: true, certificates: [{ cert: cert.cert, key: cert.key }] },
      ]),
    });
    balancer = await startRelay(proxiedPort, { prefix: 'PROXY TCP4 203.0.113.99 10.0.0.1 51000 80\r\n' });
    tlsBalancer = await startRelay(proxiedTlsPort, { prefix: 'PROXY TCP6 2001:db8::99 2001:db8::1 51000 443\r\n' });
  });

  afterAll(async () => {
    await balancer?.close();
    await tlsBalancer?.close();
    await origin?.stop();
  });

  it.each(['WS-STREAMING', 'HTTP-STREAMING'])('%s: CLIENTIP is the address of the PROXY header', async (transport) => {
    const { client, prices } = await connect(`http://127.0.0.1:${balancer.port}`, transport);
    await waitUntil(() => prices.length >= 1, () => 'an item1 update');
    expect(client.connectionDetails.getClientIp()).toBe('203.0.113.99');
  });

  it.each(['WS-STREAMING', 'HTTP-STREAMING'])('%s over TLS behind the PROXY header: CLIENTIP is its address', async (transport) => {
    const { client, prices } = await connect(`https://127.0.0.1:${tlsBalancer.port}`, transport);
    await waitUntil(() => prices.length >= 1, () => 'an item1 update');
    expect(client.connectionDetails.getClientIp()).toBe('2001:db8::99');
  });

  it('closes a connection that skips the header, and keeps serving through the balancer', async () => {
    const res = fetch(`http://127.0.0.1:${proxiedPort}/lightstreamer/healthcheck`);
    await expect(res).rejects.toThrow();
    const viaBalancer = await fetch(`http://127.0.0.1:${balancer.port}/lightstreamer/healthcheck`);
    expect(await viaBalancer.text()).toBe('OK\r\n');
  });
});

describe('forwarded client addresses from the edge', () => {
  const secret = 'edge-secret-for-e2e';
  let origin: OriginHandle;

  beforeAll(async () => {
    origin = await startOrigin({ EDGE_SECRET: secret });
  });

  afterAll(async () => {
    await origin?.stop();
  });

  it.each(['WS-STREAMING', 'HTTP-STREAMING'])('%s: CF-Connecting-IP only counts with the secret', async (transport) => {
    const forwarded = { 'cf-connecting-ip': '198.51.100.7', 'x-forwarded-for': '198.51.100.7' };
    const trusted = await connect(origin.url, transport, { ...forwarded, 'x-edge-secret': secret });
    expect(trusted.client.connectionDetails.getClientIp()).toBe('198.51.100.7');
    const forged = await connect(origin.url, transport, { ...forwarded, 'x-edge-secret': 'guess' });
    expect(forged.client.connectionDetails.getClientIp()).toBe('127.0.0.1');
  });
});
