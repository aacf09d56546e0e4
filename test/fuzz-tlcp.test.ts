import http from 'node:http';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type OriginHandle, publish } from './support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge, type EdgeHandle } from './support/edge.ts';
import { createClient, watchSubscription, type Transport, type WatchedClient, type WatchedSubscription } from './support/client.ts';
import { httpCase, wsCase } from './support/fuzz-tlcp.ts';
import { ANSWER_TIMEOUT_MS, SessionPool, Tally, sendHttp, sendWs, type Outcome, type Target } from './support/fuzz-wire.ts';
import { waitUntil } from './support/wait.ts';

/**
 * The fuzz suite: generated and mutated TLCP requests — HTTP and WebSocket, well-formed and
 * garbage — against an origin directly and through the edge (workerd), while official clients
 * stream a counted feed from the same origins. Every answer must be a 4xx with a message or
 * well-formed TLCP (fuzz-answers.ts), within a bounded time; no process may crash or log an
 * unexpected failure; and the well-behaved clients must keep their sessions and every update.
 *
 * FUZZ_RUNS: requests in all (default 100,000), FUZZ_SEED: the seed (printed; a failure prints
 * fast-check's seed, path and shrunk case as well).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 8_2026);
const TOTAL = Number(process.env.FUZZ_RUNS ?? 100_000);
/** Shares of the requests: origin HTTP, origin WebSocket frames, edge HTTP, edge WebSocket frames. */
const SHARES = { 'origin HTTP': 0.3, 'origin WS frames': 0.3, 'edge HTTP': 0.15, 'edge WS frames': 0.25 } as const;
type Slice = keyof typeof SHARES;
const HTTP_BATCH = 64;
const WS_BATCH = 12;
const WS_MAX_FRAMES = 16;
const ROUND_RUNS = 25;
/** A round that fails stops shrinking after this long and reports the smallest failing case found. */
const SHRINK_LIMIT_MS = 4 * 60_000;
const FEED_ITEM = 'fuzz-feed';

const secrets = newSecrets();
const PUBLISH_TOKEN = randomBytes(18).toString('base64url');
const origins: OriginHandle[] = [];
let edge: EdgeHandle;
const tally = new Tally();
const started = Date.now();
const sliceTime = new Map<string, number>();

resolveLocalhostNames();

// Well-behaved clients ------------------------------------------------------------------------------

interface Bystander {
  readonly label: string;
  readonly watched: WatchedClient;
  readonly sub: WatchedSubscription;
  readonly sessions: string[];
}

const bystanders: Bystander[] = [];
let published = 0;
let publishing = true;
let publisher: Promise<void> = Promise.resolve();

/** A counted feed: seq 1, 2, 3… on every origin, in order; clients must see each once, in order. */
async function publishLoop(): Promise<void> {
  while (publishing) {
    const seq = published + 1;
    for (const o of origins) await publish(o.url, PUBLISH_TOKEN, { item: FEED_ITEM, fields: { n: String(seq) } });
    published = seq;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function bystander(label: string, url: string, transport: Transport): Promise<Bystander> {
  const watched = createClient(url, { transport });
  const sessions: string[] = [];
  watched.client.addListener({
    onPropertyChange: (p: string) => {
      const id = watched.client.connectionDetails.getSessionId();
      if (p === 'sessionId' && id && sessions.at(-1) !== id) sessions.push(id);
    },
  });
  if (transport.startsWith('HTTP')) watched.client.connectionOptions.setContentLength(20_000);
  const sub = watchSubscription(watched.client, { mode: 'DISTINCT', items: [FEED_ITEM], fields: ['n'], dataAdapter: 'FEED', snapshot: 'no', maxFrequency: 'unfiltered', bufferSize: 'unlimited' });
  watched.client.connect();
  await watched.status(new RegExp(`^CONNECTED:${transport}$`));
  await sub.subscribed();
  return { label, watched, sub, sessions };
}

// Targets ---------------------------------------------------------------------------------------------

let originTarget: Target;
let edgeTarget: Target;
/** The Host headers fuzzed requests carry through the edge (picked uniformly): every mode, and a host no domain serves. */
const EDGE_HOSTS = ['localhost', 'localhost', 'localhost', 'pin.localhost', 'pin.localhost', 'ip.localhost', 'cookie.localhost', 'nosuch.example'];

beforeAll(async () => {
  for (const id of ['z1', 'z2']) {
    origins.push(await startOrigin({ SHARD_ID: id, EDGE_SECRET: secrets.edge, ADMIN_TOKEN: secrets.originAdmin, PUBLISH_TOKEN }));
  }
  const bulk = { createsPerMinute: 0 };
  edge = await startEdge({
    secrets,
    shards: origins.map((o) => ({ id: o.shardId, url: o.url })),
    domains: [
      { host: 'localhost', modes: ['path', 'session-id'], ...bulk },
      { host: 'pin.localhost', modes: ['pin'], ...bulk },
      { host: 'ip.localhost', modes: ['ip'], ...bulk },
      { host: 'cookie.localhost', modes: ['cookie'], ...bulk },
      // The create rate limit left on: two creates at once, then one per 10 s.
      { host: 'limited.localhost', modes: ['path'], createsPerMinute: 6, createBurst: 2 },
    ],
  });
  await waitUntil(async () => (await fetch(`${edge.url}/lightstreamer/healthcheck`)).ok, 15_000, () => 'edge never healthy');
  const agent = () => new http.Agent({ keepAlive: true, maxSockets: 24 });
  originTarget = { name: 'origin', port: origins[0].port, hosts: [], pool: new SessionPool(), agent: agent() };
  edgeTarget = { name: 'edge', port: edge.port, hosts: EDGE_HOSTS, pool: new SessionPool(), agent: agent() };

  publisher = publishLoop();
  const direct = origins[0].url;
  bystanders.push(
    await bystander('origin WS-STREAMING', direct, 'WS-STREAMING'),
    await bystander('origin HTTP-STREAMING', direct, 'HTTP-STREAMING'),
    await bystander('origin HTTP-POLLING', direct, 'HTTP-POLLING'),
    await bystander('edge WS-STREAMING', edge.urlFor('localhost'), 'WS-STREAMING'),
    await bystander('edge HTTP-STREAMING', edge.urlFor('pin.localhost'), 'HTTP-STREAMING'),
    await bystander('edge HTTP-POLLING', edge.urlFor('localhost'), 'HTTP-POLLING'),
    await bystander('edge WS-POLLING', edge.urlFor('ip.localhost'), 'WS-POLLING'),
  );
  console.log(`fuzz: seed ${SEED} (FUZZ_SEED), ${TOTAL} requests (FUZZ_RUNS)`);
}, 120_000);

afterAll(async () => {
  publishing = false;
  await publisher.catch(() => undefined);
  for (const b of bystanders) b.watched.client.disconnect();
  originTarget?.agent.destroy();
  edgeTarget?.agent.destroy();
  await edge?.stop();
  await Promise.all(origins.map((o) => o.stop()));
});

// Running the properties ------------------------------------------------------------------------------

const requestsOf = (slice: Slice) => tally.requests.get(slice) ?? 0;

/** Throws with every unacceptable answer of a batch, in wire form: what fast-check reports once shrunk. */
function verdict(outcomes: readonly Outcome[]): void {
  const bad = outcomes.filter((o) => o.problems.length > 0);
  const dead = origins.filter((o) => o.child.exitCode !== null || o.child.signalCode !== null);
  if (dead.length > 0) throw new Error(`origin ${dead.map((o) => o.shardId).join(', ')} died:\n${dead.map((o) => o.output().slice(-3000)).join('\n')}`);
  if (bad.length === 0) return;
  throw new Error(bad.slice(0, 5).map((o) => `${o.problems.join('; ')}\n  sent: ${o.sent}`).join('\n'));
}

/**
 * Runs `property` in rounds of ROUND_RUNS runs, each round its own fc.assert with a seed derived
 * from SEED, until the slice has sent its share of TOTAL. A batch's size is only known once sent
 * (a socket closed early takes fewer frames), hence rounds rather than one fixed run count.
 */
async function fuzz<T>(slice: Slice, property: () => fc.IAsyncPropertyWithHooks<[T]>): Promise<void> {
  const quota = Math.ceil(TOTAL * SHARES[slice]);
  const t0 = Date.now();
  for (let round = 0; requestsOf(slice) < quota; round++) {
    const seed = (SEED + Object.keys(SHARES).indexOf(slice) * 1_000_003 + round * 7919) | 0;
    await fc.assert(property(), { seed, numRuns: ROUND_RUNS, interruptAfterTimeLimit: SHRINK_LIMIT_MS });
  }
  sliceTime.set(slice, Date.now() - t0);
  expect(requestsOf(slice)).toBeGreaterThanOrEqual(quota);
}

const shardIds = () => origins.map((o) => o.shardId);

function httpProperty(target: Target) {
  return () =>
    fc.asyncProperty(fc.array(httpCase({ shards: shardIds(), edge: target === edgeTarget }), { minLength: 1, maxLength: HTTP_BATCH, size: 'max' }), async (cases) => {
      const outcomes = await Promise.all(cases.map((c) => sendHttp(target, c, tally)));
      verdict(outcomes);
    });
}

function wsProperty(target: Target) {
  return () =>
    fc.asyncProperty(fc.array(wsCase({ shards: shardIds(), edge: target === edgeTarget, maxFrames: WS_MAX_FRAMES }), { minLength: 1, maxLength: WS_BATCH, size: 'max' }), async (cases) => {
      const outcomes = await Promise.all(cases.map((c) => sendWs(target, c, tally)));
      verdict(outcomes);
    });
}

const FUZZ_TIMEOUT = 15 * 60_000;

describe('fuzzed TLCP requests get a 4xx or well-formed TLCP, never a crash, a 5xx or a hang', () => {
  it('straight to an origin, over HTTP', () => fuzz('origin HTTP', httpProperty(originTarget)), FUZZ_TIMEOUT);
  it('straight to an origin, over WebSocket', () => fuzz('origin WS frames', wsProperty(originTarget)), FUZZ_TIMEOUT);
  it('through the edge, over HTTP', () => fuzz('edge HTTP', httpProperty(edgeTarget)), FUZZ_TIMEOUT);
  it('through the edge, over WebSocket', () => fuzz('edge WS frames', wsProperty(edgeTarget)), FUZZ_TIMEOUT);
});

// The create rate limit, left on -----------------------------------------------------------------------

let limitedClients = 0;

/** A valid create on the rate-limited domain as one address: CONOK, or refused as documented. */
async function limitedCreate(ip: string, ws: boolean, polling: boolean): Promise<{ admitted: boolean; problem: string | null }> {
  const params = `LS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_adapter_set=DEMO&LS_send_sync=false${polling ? '&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0' : ''}`;
  const host = `limited.localhost:${edge.port}`;
  tally.add(tally.requests, 'edge rate limit');
  if (!ws) {
    return new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: edge.port, method: 'POST', path: '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', headers: { host, 'cf-connecting-ip': ip, 'content-type': 'text/plain' } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
            if (body.includes('\r\n')) req.destroy();
          });
          let settled = false;
          const settle = () => {
            if (settled) return;
            settled = true;
            const status = res.statusCode ?? 0;
            tally.add(tally.answers, `edge rate limit HTTP: ${status}`);
            if (status === 200 && body.startsWith('CONOK,')) resolve({ admitted: true, problem: null });
            else if (status === 429 && Number(res.headers['retry-after']) >= 1) resolve({ admitted: false, problem: null });
            else resolve({ admitted: false, problem: `create answered ${status} ${JSON.stringify(body.slice(0, 200))} retry-after ${res.headers['retry-after']}` });
          };
          res.on('end', settle);
          res.on('close', settle);
        },
      );
      req.setTimeout(ANSWER_TIMEOUT_MS, () => req.destroy(new Error('no answer')));
      req.on('error', (err) => resolve({ admitted: false, problem: `create failed: ${err.message}` }));
      req.end(params);
    });
  }
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${edge.port}/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com', { headers: { host, 'cf-connecting-ip': ip }, perMessageDeflate: false });
    let text = '';
    const timer = setTimeout(() => socket.terminate(), ANSWER_TIMEOUT_MS);
    socket.on('open', () => {
      socket.send('wsok');
      socket.send(`create_session\r\n${params}`);
    });
    socket.on('message', (data) => {
      text += data.toString();
      if (text.includes('CONOK,')) socket.close(1000);
    });
    socket.on('error', () => undefined);
    socket.on('close', (code) => {
      clearTimeout(timer);
      tally.add(tally.answers, `edge rate limit WS: ${text.includes('CONOK,') ? 'CONOK' : `close ${code}`}`);
      if (text.includes('CONOK,')) resolve({ admitted: true, problem: null });
      else if (code === 1013) resolve({ admitted: false, problem: null });
      else resolve({ admitted: false, problem: `socket create got ${JSON.stringify(text.slice(0, 200))} and close ${code}` });
    });
  });
}

describe('the create rate limit, left on for one domain', () => {
  it('admits exactly the burst of creates one address sends at once and refuses the rest with 429 or close 1013', async () => {
    const t0 = Date.now();
    const create = fc.record({ ws: fc.boolean(), polling: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.array(create, { minLength: 3, maxLength: 8 }), fc.boolean(), async (creates, v6) => {
        // Every run (shrinking included) plays a new address: the limit is per address.
        const n = ++limitedClients;
        const ip = v6 ? `2001:db8:${n.toString(16)}::1` : `198.51.${100 + (n >> 8)}.${n & 255}`;
        const results = await Promise.all(creates.map((c) => limitedCreate(ip, c.ws, c.polling)));
        const problems = results.flatMap((r) => (r.problem ? [r.problem] : []));
        if (problems.length > 0) throw new Error(problems.join('\n'));
        const admitted = results.filter((r) => r.admitted).length;
        if (admitted !== 2) throw new Error(`${admitted} of ${creates.length} creates from ${ip} admitted, burst 2`);
      }),
      { seed: SEED, numRuns: 15 },
    );
    sliceTime.set('edge rate limit', Date.now() - t0);
  }, FUZZ_TIMEOUT);
});

// What the fuzz must not have cost anyone --------------------------------------------------------------

describe('meanwhile', () => {
  it('well-behaved clients kept their sessions and received every update once, in order', async () => {
    publishing = false;
    await publisher;
    const last = published;
    await waitUntil(
      () => bystanders.every((b) => b.sub.updates.at(-1)?.values.n === String(last)),
      30_000,
      () => `not every client reached seq ${last}: ${bystanders.map((b) => `${b.label} at ${b.sub.updates.at(-1)?.values.n}`).join(', ')}`,
    );
    for (const b of bystanders) {
      const seqs = b.sub.updates.map((u) => Number(u.values.n));
      const gaps = seqs.slice(1).flatMap((s, i) => (s === seqs[i] + 1 ? [] : [`${seqs[i]}→${s}`]));
      expect({ client: b.label, sessions: b.sessions.length, gaps, lost: b.sub.lost, errors: b.watched.serverErrors, subErrors: b.sub.errors }).toEqual({
        client: b.label,
        sessions: 1,
        gaps: [],
        lost: [],
        errors: [],
        subErrors: [],
      });
      expect(seqs.length).toBeGreaterThan(100);
    }
  }, 60_000);

  it('no process crashed or logged an unexpected failure, and the edge still places sessions', async () => {
    for (const o of origins) {
      expect(o.child.exitCode, o.output().slice(-3000)).toBeNull();
      const out = o.output();
      expect(out).not.toMatch(/uncaught|unhandled/i);
      // pino levels 50 (error) and 60 (fatal): a request that failed unexpectedly.
      expect(out.split('\n').filter((l) => /"level":(50|60)/.test(l)).slice(0, 5)).toEqual([]);
      expect((await fetch(`${o.url}/lightstreamer/healthcheck`)).status).toBe(200);
    }
    expect((await fetch(`${edge.url}/lightstreamer/healthcheck`)).status).toBe(200);
    const status = (await (await edge.admin('/_edge/api/status')).json()) as { counters: Record<string, number> };
    report(status.counters);
  }, 30_000);
});

function report(counters: Record<string, number>): void {
  const rows = (m: Map<string, number>) => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `  ${k.padEnd(48)} ${v.toLocaleString('en-US').padStart(9)}`);
  const total = (Object.keys(SHARES) as Slice[]).reduce((sum, s) => sum + requestsOf(s), 0) + (tally.requests.get('edge rate limit') ?? 0);
  console.log(
    [
      `fuzz figures — seed ${SEED}, ${total.toLocaleString('en-US')} requests in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      'requests:',
      ...rows(tally.requests),
      'time per slice (s):',
      ...[...sliceTime.entries()].map(([k, v]) => `  ${k.padEnd(48)} ${(v / 1000).toFixed(1).padStart(9)}`),
      'answers:',
      ...rows(tally.answers),
      'answer times:',
      ...rows(tally.latency),
      'slowest:',
      ...tally.slowest.map((x) => `  ${x.ms} ms ${x.sent}`),
      'TLCP lines received, by tag:',
      ...rows(tally.tags),
      'edge counters:',
      ...Object.entries(counters).filter(([, v]) => v > 0).map(([k, v]) => `  ${k.padEnd(48)} ${String(v).padStart(9)}`),
      'well-behaved clients:',
      ...bystanders.map((b) => `  ${b.label.padEnd(48)} ${String(b.sub.updates.length).padStart(9)} updates, ${b.sessions.length} session`),
    ].join('\n'),
  );
}
