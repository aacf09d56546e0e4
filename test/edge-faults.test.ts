import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { startStallingOrigin, type StallingOrigin } from './support/stalling-origin.ts';
import { startRelay, type Relay } from './support/tcp-relay.ts';
import { RawSocket, SUBPROTOCOL } from './support/tlcp-raw.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { startFeed, type Feed } from './support/feed.ts';
import { httpRequest } from './support/http.ts';
import { waitUntil } from './support/wait.ts';
import { connectFeedClient, type FeedClient } from './support/client.ts';

/**
 * Shards that fail the way real ones do, through the real edge: a process that stops answering
 * (SIGSTOP: its sockets still accept), an origin whose probes pass while its TLCP requests hang, a
 * connection that fails once. The edge must move clients off a dead shard within seconds, stop
 * sending new sessions where requests time out, and never lose a session's pin to one bad connection.
 */

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: Record<string, OriginHandle> = {};
let stalling: StallingOrigin;
let relay: Relay;
let edge: EdgeHandle;
let feed: Feed;

resolveLocalhostNames();

// The origins' default keepalive (5 s): a client notices a silent stream by itself only after it
// plus its 2 s stalled timeout, so clients that leave a hung shard sooner were moved by the edge.
const originEnv = (id: string) => ({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN });

beforeAll(async () => {
  await Promise.all(['f1', 'f2', 'r1'].map(async (id) => (origins[id] = await startOrigin(originEnv(id)))));
  stalling = await startStallingOrigin('stall');
  relay = await startRelay(origins.r1.port);
  edge = await startEdge({
    secrets,
    shards: [
      { id: 'f1', url: origins.f1.url },
      { id: 'f2', url: origins.f2.url },
      { id: 'r1', url: `http://127.0.0.1:${relay.port}` },
      { id: 'stall', url: stalling.url },
    ],
    domains: [
      { host: 'pair.localhost', modes: ['path', 'session-id'], shards: ['f1', 'f2'] },
      { host: 'stall.localhost', modes: ['path', 'session-id'], shards: ['stall'] },
      { host: 'pin.localhost', modes: ['pin'], shards: ['r1'] },
      { host: 'ip.localhost', modes: ['ip'], shards: ['f1', 'f2'] },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.urlFor('pair.localhost')}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
  feed = startFeed(() => Object.values(origins), PUBLISH_TOKEN);
}, 120_000);

afterAll(async () => {
  feed?.stop();
  for (const o of Object.values(origins)) if (o.child.signalCode === null) o.child.kill('SIGCONT');
  await edge?.stop();
  await Promise.all(Object.values(origins).map((o) => o.stop()));
  await stalling?.close();
  await relay?.close();
});

interface ShardView {
  id: string;
  healthy: boolean;
  ejected: boolean;
}

async function status(): Promise<{ shards: ShardView[]; counters: Record<string, number> }> {
  return (await (await edge.admin('/_edge/api/status')).json()) as { shards: ShardView[]; counters: Record<string, number> };
}

const counter = async (name: string) => (await status()).counters[name] ?? 0;

/** A POST to the edge under the domain's Host, waiting as long as the edge takes. */
const post = (host: string, path: string, body: string, headers: Record<string, string> = {}) => httpRequest(edge.port, path, { host, body, headers });

const CREATE = 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=faults\r\n';

/** A socket through the edge that records how it was closed. */
function socketTo(host: string): { ws: WebSocket; lines: string[]; closed: Promise<{ code: number; reason: string }> } {
  const ws = new WebSocket(`ws://127.0.0.1:${edge.port}/lightstreamer`, SUBPROTOCOL, { headers: { host: `${host}:${edge.port}` }, perMessageDeflate: false });
  const lines: string[] = [];
  ws.on('message', (data) => lines.push(...data.toString().split('\r\n').filter(Boolean)));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, lines, closed };
}

describe('an origin whose probes pass while its TLCP requests hang', () => {
  it('fails each request at its deadline instead of holding the client, then is ejected: no new sessions go there', async () => {
    const timeoutsBefore = await counter('originTimeouts');
    // Two HTTP creates and a WebSocket create, all placed on the stalling shard, the domain's only one.
    const socket = socketTo('stall.localhost');
    await new Promise((r) => socket.ws.once('open', r));
    socket.ws.send('wsok');
    socket.ws.send(`create_session\r\n${CREATE.trim()}`);
    const [a, b, closed] = await Promise.all([post('stall.localhost', '/lightstreamer/create_session.txt', CREATE), post('stall.localhost', '/lightstreamer/create_session.txt', CREATE), socket.closed]);
    // Nowhere else to go: a transport error the client retries with backoff, never a hang.
    expect([a.status, b.status]).toEqual([503, 503]);
    expect(closed).toEqual({ code: 1013, reason: 'no shard available' });
    await waitUntil(async () => (await counter('originTimeouts')) - timeoutsBefore >= 3, 10_000, () => 'timeouts not counted');
    await waitUntil(async () => (await status()).shards.find((s) => s.id === 'stall')!.ejected, 10_000, () => 'stall never ejected');
    const stall = (await status()).shards.find((s) => s.id === 'stall')!;
    // Ejected, not dead: its health probes still pass.
    expect(stall.healthy).toBe(true);
    expect(await counter('ejections')).toBeGreaterThanOrEqual(1);

    // While ejected the shard is not even tried.
    const reached = stalling.stalled();
    expect((await post('stall.localhost', '/lightstreamer/create_session.txt', CREATE)).status).toBe(503);
    expect(stalling.stalled()).toBe(reached);
  });
});

describe('a shard that stops answering (SIGSTOP)', () => {
  it('moves its clients within seconds: the edge ends their streams with END 48 before their own keepalive notices', async () => {
    const clients: FeedClient[] = [];
    try {
      // Enough clients that both shards hold some (placement is randomised).
      for (let i = 0; clients.filter((c) => c.shard() === 'f2').length < 2 || clients.filter((c) => c.shard() === 'f1').length < 1; i++) {
        if (i >= 20) throw new Error(`placement never reached both shards: ${clients.map((c) => c.shard()).join(',')}`);
        clients.push(await connectFeedClient(edge.urlFor('pair.localhost'), { transport: i % 2 ? 'HTTP-STREAMING' : 'WS-STREAMING', item: 'feed' }));
      }
      const isLive = (c: FeedClient) => feed.isLive(c.values);
      await waitUntil(() => clients.every(isLive), 10_000, () => 'clients not live');
      const victims = clients.filter((c) => c.shard() === 'f2');
      const endsBefore = await counter('shardLostEnds');
      origins.f2.child.kill('SIGSTOP');

      // New clients meanwhile are served by the shard that answers.
      const late = await connectFeedClient(edge.urlFor('pair.localhost'), { transport: 'HTTP-STREAMING', item: 'feed' });
      clients.push(late);
      expect(late.shard()).toBe('f1');

      await waitUntil(
        () => victims.every((c) => c.shard() === 'f1' && c.statuses.at(-1)?.startsWith('CONNECTED:') && isLive(c)),
        20_000,
        () => `not all back: ${victims.map((c) => `${c.shard()} ${c.statuses.slice(-4).join('>')}`).join(' | ')}`,
      );
      // The client's own keepalive timeout (STALLED) never had to fire: the edge ended each stream.
      for (const c of victims) expect(c.statuses).not.toContain('STALLED');
      for (const c of clients) expect(c.serverErrors).toEqual([]);
      await waitUntil(async () => (await counter('shardLostEnds')) - endsBefore >= victims.length, 10_000, () => 'END 48 not counted for every client');
    } finally {
      for (const c of clients) c.close();
      origins.f2.child.kill('SIGCONT');
    }
  });
});

describe('session pins', () => {
  const control = (id: string) => post('pin.localhost', `/lightstreamer/control.txt?LS_session=${id}`, 'LS_reqId=1&LS_op=delete&LS_subId=99\r\n');
  // The origin knows the session and has no subscription 99: 19. The edge knows no home for it: 20.
  const ROUTED = 'REQERR,1,19,';

  it('outlive a connection to their shard that failed once', async () => {
    const socket = new RawSocket(edge.urlFor('pin.localhost'));
    try {
      const id = await socket.create();
      expect((await control(id)).text).toMatch(new RegExp(`^${ROUTED}`));
      relay.resetNext(1, /control\.txt/);
      relay.cut();
      // This request's connection is reset: the edge answers for the lost session itself...
      expect((await control(id)).text).toBe('REQERR,1,20,Session not found\r\n');
      // ...but the shard is alive (the registry's probe passes), and so is the pin.
      await waitUntil(async () => (await control(id)).text.startsWith(ROUTED), 10_000, () => 'the pin was forgotten');
    } finally {
      socket.close();
    }
  });

  it('and other sessions of the shard are untouched when one relayed connection breaks', async () => {
    const bystander = new RawSocket(edge.urlFor('pin.localhost'));
    const dropped = new RawSocket(edge.urlFor('pin.localhost'));
    try {
      const id = await bystander.create();
      await dropped.create();
      // Every connection between edge and origin breaks at once, the relayed sockets' included.
      relay.cut();
      await dropped.closed;
      // One broken connection says nothing about the shard: the bystander's request is still routed.
      expect((await control(id)).text).toMatch(new RegExp(`^${ROUTED}`));
    } finally {
      bystander.close();
      dropped.close();
    }
  });

  it('go with their session: once the session ends, the edge answers for it without asking anyone', async () => {
    const socket = new RawSocket(edge.urlFor('pin.localhost'));
    try {
      const id = await socket.create();
      expect((await control(id)).text).toMatch(new RegExp(`^${ROUTED}`));
      const from = socket.lines.length;
      await fetch(`${origins.r1.url}/api/sessions/end`, { method: 'POST', headers: { authorization: `Bearer ${secrets.originAdmin}`, 'content-type': 'application/json' }, body: '{"all":true}' });
      await socket.line(/^END,48,/, from);
      const failoversBefore = await counter('failovers');
      // The origin would say 20 as well; only the edge's own answer counts as a failover.
      await waitUntil(
        async () => (await control(id)).text === 'REQERR,1,20,Session not found\r\n' && (await counter('failovers')) > failoversBefore,
        10_000,
        () => 'the pin outlived its session',
      );
    } finally {
      socket.close();
    }
  });
});

describe('a source-IP association that moved under a live session', () => {
  it('never sends the session to another shard: the edge answers 20 (re-create), not the shard its fatal 11/21', async () => {
    // Both shards serving (f2 may still be coming back from the SIGSTOP above).
    await waitUntil(async () => (await status()).shards.filter((s) => s.id.startsWith('f')).every((s) => s.healthy), 20_000, () => 'f1, f2 not both healthy');
    const client = { 'cf-connecting-ip': '198.51.100.7' };
    const created = await post('ip.localhost', '/lightstreamer/create_session.txt', CREATE, client);
    const id = /CONOK,([^,]+),/.exec(created.text)?.[1] ?? expect.fail(`no session: ${created.status} ${created.text}`);
    const home = id.split('.')[0];
    const other = home === 'f1' ? 'f2' : 'f1';
    const control = () => post('ip.localhost', `/lightstreamer/control.txt?LS_session=${id}`, 'LS_reqId=1&LS_op=delete&LS_subId=99\r\n', client);
    expect((await control()).text).toMatch(/^REQERR,1,19,/);
    // The session's shard takes no new sessions: the next create from the same address moves the association.
    await edge.admin(`/_edge/api/shards/${home}/weight`, { method: 'PUT', body: JSON.stringify({ weight: 0 }) });
    try {
      const moved = await post('ip.localhost', '/lightstreamer/create_session.txt', CREATE, client);
      expect(/CONOK,([^,]+),/.exec(moved.text)?.[1].split('.')[0] ?? moved.text).toBe(other);
      expect((await control()).text).toBe('REQERR,1,20,Session not found\r\n');
    } finally {
      await edge.admin(`/_edge/api/shards/${home}/weight`, { method: 'PUT', body: JSON.stringify({ weight: null }) });
    }
  });
});
