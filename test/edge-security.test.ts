import http from 'node:http';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from './support/http.ts';
import { startOrigin, type OriginHandle, originStatus, publish } from './support/origin.ts';
import { newSecrets, startEdge, type EdgeHandle } from './support/edge.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The edge is never an open proxy and never a buffer: whatever a client puts in the host, path,
 * session id, cookie or headers, only configured shards are reached, only as the domain allows;
 * streams and sockets pass through as they are written.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(12).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let edge: EdgeHandle;

beforeAll(async () => {
  await Promise.all(
    ['g1', 'g2'].map(async (id) => (origins[id] = await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN }))),
  );
  edge = await startEdge({
    secrets,
    shards: Object.values(origins).map((o) => ({ id: o.shardId, url: o.url })),
    // No `*` domain: a host nobody configured reaches nothing.
    domains: [
      { host: '127.0.0.1', modes: ['path', 'session-id'] },
      { host: 'cookie.localhost', modes: ['cookie'] },
      // A pool that leaves out a configured shard; controlLink 'origin' lets sockets pass straight through.
      { host: 'narrow.localhost', modes: ['path', 'session-id'], shards: ['g1'], controlLink: 'origin' },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
}, 120_000);

afterAll(async () => {
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** node:http, not fetch: the Host header and the exact bytes on the wire are the point here. */
async function raw(path: string, body: string, headers: Record<string, string> = {}, method = 'POST'): Promise<RawResponse> {
  const answer = await httpRequest(edge.port, path, { method, headers, body });
  return { status: answer.status, headers: answer.headers, body: answer.text };
}

const CREATE = 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=test&LS_send_sync=false\r\n';
const createPath = '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0';

async function createSession(headers: Record<string, string> = {}): Promise<{ id: string; response: RawResponse }> {
  const response = await raw(createPath, CREATE, headers);
  const id = /^CONOK,([^,]+),/m.exec(response.body)?.[1];
  if (!id) throw new Error(`no CONOK: ${response.status} ${response.body}`);
  return { id, response };
}

describe('never an open proxy', () => {
  it('answers a host no domain claims with 404 and forwards nothing', async () => {
    const before = await Promise.all(Object.values(origins).map(async (o) => (await originStatus(o.url)).sessions));
    const res = await raw(createPath, CREATE, { host: 'evil.example.org' });
    expect(res.status).toBe(404);
    expect(res.body).toBe('no domain is configured for host evil.example.org\n');
    expect(await Promise.all(Object.values(origins).map(async (o) => (await originStatus(o.url)).sessions))).toEqual(before);
  });

  it('answers forged session ids and unknown shard paths itself, with code 20', async () => {
    const forged = ['s9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'http://169.254.169.254/', '127.0.0.1:22', '../g1', ''];
    for (const id of forged) {
      const res = await raw(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${encodeURIComponent(id)}`, 'LS_reqId=7&LS_op=add&LS_subId=1\r\n');
      expect(res.body, id).toBe('REQERR,7,20,Session not found\r\n');
    }
    const gone = { status: 200, body: 'CONERR,20,Session not found\r\n' };
    const notFound = { status: 404, body: 'not found' };
    const prefixes: [string, { status: number; body: string }][] = [
      // Under the path prefix but no configured shard: the edge answers for the lost session itself.
      ['/s/g9', gone],
      ['/s/127.0.0.1:22', gone],
      // Normalises to the balancing path, where the id routes to g1, which does not know it: the
      // origin's own wording, so the answer came from g1 and not from the edge.
      ['/s/..', { status: 200, body: 'CONERR,20,session not found\r\n' }],
      // Not the shape `/<prefix>/<shard>` of this domain: never forwarded anywhere.
      ['/x/g1', notFound],
      ['/s/g1/extra', notFound],
    ];
    for (const [prefix, expected] of prefixes) {
      const res = await raw(`${prefix}/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0`, 'LS_session=g1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n');
      expect({ status: res.status, body: res.body }, prefix).toEqual(expected);
    }
    const heartbeat = await raw('/lightstreamer/heartbeat.txt?LS_session=nope', '\r\n');
    expect(heartbeat.body).toBe('REQOK\r\n');
  });

  it('never fetches a host named in the path: `//host/…` and `/\\host/…` stay on the edge', async () => {
    // A host of our own that must receive nothing: with the edge secret, it would be trusted as the edge.
    let reached = 0;
    const trap = http.createServer((_req, res) => {
      reached++;
      res.end('trapped');
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const { port } = trap.address() as import('node:net').AddressInfo;
    try {
      for (const path of [`//127.0.0.1:${port}/x`, `/\\127.0.0.1:${port}/x`]) {
        const res = await raw(path, '', {}, 'GET');
        expect(res.status).toBe(404);
        expect(res.body).not.toContain('trapped');
      }
      expect(reached).toBe(0);
    } finally {
      await new Promise((resolve) => trap.close(resolve));
    }
  });

  it('a forged id naming a real shard reaches only that shard, which does not know it', async () => {
    const res = await raw('/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0', `LS_session=g2.${'A'.repeat(32)}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0\r\n`);
    expect(res.body).toMatch(/^CONERR,20,/);
  });

  it('drops client-sent forwarding headers: the origin sees the address the platform saw', async () => {
    const { response } = await createSession({ 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-edge-secret': 'guess' });
    expect(response.body).toMatch(/^CLIENTIP,127\.0\.0\.1\r$/m);
  });

  it('treats a tampered sticky cookie as absent', async () => {
    const first = await raw(createPath, CREATE, { host: `cookie.localhost:${edge.port}` });
    const cookie = String(first.headers['set-cookie']?.[0] ?? '').split(';')[0];
    expect(cookie).toMatch(/^edgepush_sticky=g[12]\.\d+\.[A-Za-z0-9_-]{43}$/);
    const [name, value] = cookie.split('=');
    const [shard, exp, sig] = value.split('.');
    const other = shard === 'g1' ? 'g2' : 'g1';
    const tampered = [`${other}.${exp}.${sig}`, `${shard}.${Number(exp) + 1e9}.${sig}`, `${shard}.${exp}.${sig.slice(0, -2)}AA`];
    for (const bad of tampered) {
      // A CR request carrying only a forged association is not routed anywhere...
      const cr = await raw('/lightstreamer/control.txt?LS_session=whatever', 'LS_reqId=1&LS_op=destroy\r\n', { host: `cookie.localhost:${edge.port}`, cookie: `${name}=${bad}` });
      expect(cr.body, bad).toBe('REQERR,1,20,Session not found\r\n');
      // ...and a create with it is balanced afresh and gets a genuine cookie.
      const s = await raw(createPath, CREATE, { host: `cookie.localhost:${edge.port}`, cookie: `${name}=${bad}` });
      expect(s.headers['set-cookie']?.[0]).toMatch(/^edgepush_sticky=g[12]\./);
    }
  });

  it('keeps origin APIs and dashboards off the balancing route; the admin route reaches them by shard (guide §6)', async () => {
    for (const path of ['/api/status', '/api/publish', '/api/sessions/end', '/dashboard', '/metrics']) {
      expect((await raw(path, '', {}, path === '/api/status' || path === '/dashboard' || path === '/metrics' ? 'GET' : 'POST')).status, path).toBe(404);
    }
    expect((await fetch(`${edge.url}/_edge/shards/g1/api/status`)).status).toBe(401);
    const status = await edge.admin('/_edge/shards/g1/api/status');
    expect(((await status.json()) as { shard: string }).shard).toBe('g1');
    expect(((await (await edge.admin('/_edge/shards/g2/api/status')).json()) as { shard: string }).shard).toBe('g2');
    const dashboard = await fetch(`${edge.url}/_edge/shards/g2/dashboard`, { headers: { authorization: `Basic ${btoa(`ops:${secrets.admin}`)}` } });
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get('content-type')).toMatch(/text\/html/);
    expect((await edge.admin('/_edge/shards/g1/api/publish')).status).toBe(404);
    expect((await edge.admin('/_edge/shards/g3/api/status')).status).toBe(404);
  });
});

describe('operator API: changes only with a bearer token and a JSON body', () => {
  interface ShardState {
    id: string;
    draining: boolean;
    shedPending: number;
    weight: number;
  }
  const shardState = async (id: string): Promise<ShardState> => {
    const { shards } = (await (await edge.admin('/_edge/api/status')).json()) as { shards: ShardState[] };
    return shards.find((s) => s.id === id)!;
  };
  const basic = () => `Basic ${btoa(`operator:${secrets.admin}`)}`;

  it('refuses a cross-site form POST carrying the browser\'s cached Basic credentials: the shard keeps serving', async () => {
    // What a page on another site makes a logged-in operator's browser send, for each action.
    const forms: [string, string, string][] = [
      ['/_edge/api/shards/g1/drain', 'application/x-www-form-urlencoded', ''],
      ['/_edge/api/shards/g1/shed', 'application/x-www-form-urlencoded', 'count=5'],
      ['/_edge/api/shards/g1/undrain', 'multipart/form-data; boundary=x', '--x--\r\n'],
      ['/_edge/api/shards/g1/shed', 'text/plain', '{"count":5}'],
    ];
    for (const [path, type, body] of forms) {
      const res = await raw(path, body, { 'content-type': type, authorization: basic(), origin: 'https://evil.example.org', 'sec-fetch-site': 'cross-site' });
      expect(res.status, `${path} ${type}`).toBe(401);
      expect(res.headers['www-authenticate'], path).not.toMatch(/^Basic/);
    }
    expect(await shardState('g1')).toMatchObject({ draining: false, shedPending: 0 });
  });

  it('answers Basic credentials on a change with 401 and what to send instead', async () => {
    const res = await fetch(`${edge.url}/_edge/api/shards/g1/drain`, { method: 'POST', headers: { authorization: basic(), 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/Bearer/);
    expect((await shardState('g1')).draining).toBe(false);
  });

  it('answers a change without a JSON body with 415, even with the bearer token', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', '']) {
      const res = await fetch(`${edge.url}/_edge/api/shards/g1/shed`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secrets.admin}`, ...(type ? { 'content-type': type } : {}) },
        body: type ? 'count=5' : null,
      });
      expect(res.status, type).toBe(415);
      expect(((await res.json()) as { error: string }).error, type).toMatch(/application\/json/);
    }
    expect((await shardState('g1')).shedPending).toBe(0);
  });

  it('drains, undrains and weighs a shard with the bearer token and JSON', async () => {
    const json = { authorization: `Bearer ${secrets.admin}`, 'content-type': 'application/json; charset=utf-8' };
    try {
      expect((await fetch(`${edge.url}/_edge/api/shards/g1/drain`, { method: 'POST', headers: json, body: '{}' })).status).toBe(200);
      expect((await shardState('g1')).draining).toBe(true);
    } finally {
      expect((await fetch(`${edge.url}/_edge/api/shards/g1/undrain`, { method: 'POST', headers: json })).status).toBe(200);
    }
    expect((await shardState('g1')).draining).toBe(false);
    try {
      expect((await fetch(`${edge.url}/_edge/api/shards/g1/weight`, { method: 'PUT', headers: json, body: '{"weight":3}' })).status).toBe(200);
      expect((await shardState('g1')).weight).toBe(3);
    } finally {
      await fetch(`${edge.url}/_edge/api/shards/g1/weight`, { method: 'PUT', headers: json, body: '{"weight":null}' });
    }
  });

  it('takes Basic credentials only for the read-only shard pages', async () => {
    const page = await fetch(`${edge.url}/_edge/shards/g1/api/status`, { headers: { authorization: basic() } });
    expect(((await page.json()) as { shard: string }).shard).toBe('g1');
    // A browser that meets a shard page without credentials is asked for them...
    expect((await fetch(`${edge.url}/_edge/shards/g1/dashboard`)).headers.get('www-authenticate')).toMatch(/^Basic /);
    // ...but the API, which the status page calls with the bearer token, never makes it ask.
    const status = await fetch(`${edge.url}/_edge/api/status`, { headers: { authorization: basic() } });
    expect(status.status).toBe(401);
    expect(status.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });
});

describe('data path', () => {
  it('answers its own healthcheck while a shard is healthy, and CORS preflights through a shard', async () => {
    const health = await fetch(`${edge.url}/lightstreamer/healthcheck`);
    expect([health.status, await health.text()]).toEqual([200, 'OK\r\n']);
    const preflight = await raw('/lightstreamer/control.txt', '', { origin: 'https://app.example.com', 'access-control-request-method': 'POST' }, 'OPTIONS');
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers['access-control-allow-methods']).toContain('POST');
  });


  it('streams HTTP unbuffered and uncompressed: an update arrives while the stream is open', async () => {
    const { id } = await createSession({ 'accept-encoding': 'gzip, br' });
    const shardUrl = origins[id.split('.')[0]].url;
    const chunks: { at: number; text: string }[] = [];
    let headers: http.IncomingHttpHeaders = {};
    const req = http.request({
      host: '127.0.0.1',
      port: edge.port,
      method: 'POST',
      path: '/lightstreamer/bind_session.txt?LS_protocol=TLCP-2.5.0',
      headers: { 'content-type': 'text/plain', 'accept-encoding': 'gzip, br' },
    });
    req.on('response', (res) => {
      headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (text: string) => chunks.push({ at: Date.now(), text }));
    });
    req.end(`LS_session=${id}&LS_content_length=50000000&LS_send_sync=false\r\n`);
    try {
      await waitUntil(() => chunks.some((c) => c.text.includes('CONOK')), 5_000, () => 'no CONOK on the stream');
      const add = await raw(`/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${id}`, 'LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=sec_item&LS_schema=v&LS_data_adapter=FEED&LS_snapshot=false\r\n');
      expect(add.body).toBe('REQOK,1\r\n');
      await waitUntil(() => chunks.some((c) => c.text.includes('SUBOK,1')), 5_000, () => 'no SUBOK');
      const publishedAt = Date.now();
      await publish(shardUrl, PUBLISH_TOKEN, { item: 'sec_item', fields: { v: 'streamed' } });
      await waitUntil(() => chunks.some((c) => c.text.includes('U,1,1,streamed')), 5_000, () => `update never arrived: ${JSON.stringify(chunks)}`);
      const arrival = chunks.find((c) => c.text.includes('U,1,1,streamed'))!;
      // The stream is still open (50 MB budget): the update was flushed on its own, not at the end.
      expect(req.destroyed).toBe(false);
      expect(arrival.at).toBeGreaterThanOrEqual(publishedAt);
      expect(headers['content-encoding']).toBeUndefined();
    } finally {
      req.destroy();
    }
  });

  it('passes WebSocket upgrades with the TLCP subprotocol, answering wsok itself and routing by the first request', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com', { perMessageDeflate: false });
    const lines: string[] = [];
    ws.on('message', (d) => lines.push(...String(d).split('\r\n').filter(Boolean)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    expect(ws.protocol).toBe('TLCP-2.5.0.lightstreamer.com');
    ws.send('wsok');
    ws.send(`create_session\r\nLS_adapter_set=DEMO&LS_cid=test&LS_send_sync=false`);
    await waitUntil(() => lines.some((l) => l.startsWith('CONOK,')), 5_000, () => `no CONOK: ${lines.join(' | ')}`);
    expect(lines[0]).toBe('WSOK');
    expect(lines.filter((l) => l === 'WSOK')).toHaveLength(1);
    const conok = lines.find((l) => l.startsWith('CONOK,'))!.split(',');
    expect(conok[4]).toBe(`127.0.0.1:${edge.port}/s/${conok[1].split('.')[0]}`);
    ws.close();
  });

  it('never passes a WebSocket through to a configured shard outside the domain\'s pool', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/s/g2/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com', { headers: { host: `narrow.localhost:${edge.port}` } });
    const lines: string[] = [];
    ws.on('message', (d) => lines.push(...String(d).split('\r\n').filter(Boolean)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('wsok');
    ws.send(`create_session\r\nLS_adapter_set=DEMO&LS_cid=test&LS_send_sync=false`);
    await waitUntil(() => lines.some((l) => /^(CONOK|CONERR),/.test(l)), 5_000, () => `no answer: ${lines.join(' | ')}`);
    expect(lines.find((l) => /^(CONOK|CONERR),/.test(l))).toMatch(/^CONOK,g1\./);
    ws.close();
  });

  it('answers a WebSocket bind for a session on no live shard with CONERR 20, never a hang', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/s/g9/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com');
    const lines: string[] = [];
    ws.on('message', (d) => lines.push(...String(d).split('\r\n').filter(Boolean)));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('wsok');
    ws.send(`bind_session\r\nLS_session=g9.${'A'.repeat(32)}`);
    await new Promise((resolve) => ws.once('close', resolve));
    expect(lines).toEqual(['WSOK', 'CONERR,20,Session not found']);
  });
});
