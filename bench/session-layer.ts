/**
 * What the session layer (mode `session`: the client's session in a Durable Object at the edge, its
 * upstream on a shard) costs and what it buys, on the local edge (workerd on Miniflare, what `npm
 * start` runs), against mode `path` (the Worker relays the client's socket to its shard) measured in
 * the same run:
 * - latency: per streamed update (publish POST → `U` line at the client) and per request of the
 *   client (`reconf`, which mode `session` answers at the edge; `msg`, which waits for the shard in
 *   every mode), p50/p99, one session straight on an origin (the floor), one through mode `path` and
 *   one through mode `session` of the same edge process, to the same origins, sample after sample in
 *   turn so a change of the machine's load weighs on all three alike;
 * - failover: `--sessions` WebSocket sessions in mode `session`, each subscribed (MERGE) to an item
 *   every origin publishes every `--tick-ms`; the shard serving most upstreams is SIGKILLed (`--fault
 *   stop`: SIGSTOPped, a hung shard, found by its upstreams' silence), and each of its sessions is
 *   timed from the fault to the SERVNAME naming its new shard and to the first update after it. A session that lost its session (socket closed, END, CONERR) or saw any other line a kept
 *   session never gets (REQERR, SUBOK again…) is counted, as is any disturbance of the other sessions;
 * - memory: workerd's resident memory per session held streaming (`--memory-sessions` after 100
 *   warm-up ones), in mode `session` and in mode `path`, each in a fresh edge; then every one of those
 *   sessions is closed, the bench waits until their upstreams are gone from the origins, and as many
 *   are opened again, `--rounds` times in all: memory a closed session leaves behind shows as every
 *   round growing by as much again. Beside workerd's RSS, the Worker isolate's JavaScript heap after
 *   forced garbage collection (support/isolate-heap.ts: the Worker and its objects share the isolate),
 *   per session open and per session closed: what JavaScript holds, apart from workerd's native memory.
 *   npm run bench -- session-layer [--parts latency,failover,memory] [--samples 300]
 *                                  [--sessions 1000] [--tick-ms 200] [--fault kill|stop]
 *                                  [--memory-sessions 1000] [--rounds 2]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { newSecrets, resolveLocalhostNames } from '../test/support/edge.ts';
import { originStatus, startOrigin, type OriginHandle } from '../test/support/origin.ts';
import { benchEdgeVars, startBenchEdge, type BenchEdge } from './support/bench-edge.ts';
import { ClientPool } from './support/clients.ts';
import type { SessionFate } from './support/load-clients.ts';
import { keepAlivePoster } from './support/keep-alive-post.ts';
import { cpuSeconds } from './support/process-cpu.ts';
import { connectIsolateHeap } from './support/isolate-heap.ts';
import { isRunning, totalResidentBytes } from './support/process-resources.ts';
import { formatTable, machine } from './support/report.ts';

const PARTS = ['latency', 'failover', 'memory'] as const;
type Part = (typeof PARTS)[number];
const { values: args } = parseArgs({
  options: {
    parts: { type: 'string', default: PARTS.join(',') },
    samples: { type: 'string', default: '300' },
    sessions: { type: 'string', default: '1000' },
    'tick-ms': { type: 'string', default: '200' },
    'memory-sessions': { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    fault: { type: 'string', default: 'kill' },
  },
});
const parts = args.parts.split(',') as Part[];
for (const p of parts) if (!PARTS.includes(p)) throw new Error(`unknown part ${p}; any of ${PARTS.join(', ')}`);
const SAMPLES = Number(args.samples);
const SESSIONS = Number(args.sessions);
const TICK_MS = Number(args['tick-ms']);
const MEMORY_SESSIONS = Number(args['memory-sessions']);
const ROUNDS = Number(args.rounds);
/** What happens to the shard: SIGKILL (its sockets reset at once) or SIGSTOP (hung: silent, sockets open). */
const FAULTS = { kill: 'SIGKILL', stop: 'SIGSTOP' } as const;
const FAULT = args.fault as keyof typeof FAULTS;
if (!(FAULT in FAULTS)) throw new Error(`unknown fault ${FAULT}; one of ${Object.keys(FAULTS).join(', ')}`);
const WARMUP = 100;
/** How long a faulted shard's sessions have to stream again before they count as not back. */
const BACK_WITHIN_MS = 30_000;
const CLIENT_PROCESSES = 2;

const TOKEN = 'bench-publish-token';
const secrets = newSecrets();
resolveLocalhostNames();
const loadAtStart = os.loadavg();
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.timeOrigin + performance.now();
const ms = (x: number) => `${x.toFixed(2)} ms`;
const s = (x: number) => `${(x / 1000).toFixed(2)} s`;
const times = (x: number) => `${x.toFixed(2)}×`;
const KiB = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const n = (x: number) => x.toLocaleString('en-US');
const pct = (xs: readonly number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
};

const originEnv = (id: string) => ({ SHARD_ID: id, PUBLISH_TOKEN: TOKEN, EDGE_SECRET: secrets.edge, LOG_LEVEL: 'error' });
const startOrigins = (ids: readonly string[]) => Promise.all(ids.map((id) => startOrigin(originEnv(id))));

function edgeVars(origins: readonly OriginHandle[], domains: readonly Record<string, unknown>[]): Record<string, string> {
  return {
    SHARDS: JSON.stringify(origins.map((o) => ({ id: o.shardId, url: o.url }))),
    // Every client is 127.0.0.1: no create rate limit.
    DOMAINS: JSON.stringify(domains.map((d) => ({ createsPerMinute: 0, ...d }))),
    ...benchEdgeVars(secrets),
  };
}

async function waitHealthy(edge: BenchEdge): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${edge.url}/lightstreamer/healthcheck`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error('no healthy shard at the edge after 30 s');
    await sleep(200);
  }
}

function publish(origin: OriginHandle, item: string, fields: Record<string, string>): Promise<void> {
  return fetch(`${origin.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ item, fields }) }).then(
    (r) => void r.arrayBuffer(),
  );
}

/** Every live origin gets the same tick of item `tick` (field `n`: 1, 2, 3…) every `everyMs`; each has its own embedded bus. */
function startTicker(origins: readonly OriginHandle[], everyMs: number): () => void {
  let tick = 0;
  const timer = setInterval(() => {
    tick++;
    for (const o of origins) if (o.child.exitCode === null && o.child.signalCode === null) publish(o, 'tick', { n: String(tick) }).catch(() => {});
  }, everyMs);
  return () => clearInterval(timer);
}

const workerdCpu = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);

// ---- latency ---------------------------------------------------------------------------------

const { post, close: closeConnections } = keepAlivePoster(16);

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

/**
 * One session: a polling create on `base`, then a WebSocket bind to CONOK's control link (the
 * official clients' path to streaming), a RAW subscription; control requests go to the control link.
 */
async function openLatencySession(name: string, base: string, origins: readonly OriginHandle[]) {
  const created = await post(base, '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false\r\n');
  const conok = /^CONOK,([^,]+),\d+,\d+,([^\r]+)/m.exec(created);
  const servname = /^SERVNAME,edgepush ([^\r]+)/m.exec(created)?.[1];
  const origin = origins.find((o) => o.shardId === servname);
  if (!conok || !origin) throw new Error(`${name}: ${created}`);
  const [, session, link] = conok;
  const cr = link === '*' ? base : `http://${link}`;
  const lines: { at: number; line: string }[] = [];
  const ws = new WebSocket(`${cr.replace(/^http/, 'ws')}/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com', { perMessageDeflate: false });
  ws.on('message', (d) => {
    const at = performance.now();
    for (const line of String(d).split('\r\n')) if (line) lines.push({ at, line });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('wsok');
  ws.send(`bind_session\r\nLS_session=${session}&LS_send_sync=false`);
  const item = `lat_${name}`;
  const request = (endpoint: string, body: string) => post(cr, `/lightstreamer/${endpoint}.txt?LS_protocol=TLCP-2.5.0&LS_session=${session}`, body);
  await request('control', `LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=${item}&LS_schema=t&LS_data_adapter=FEED&LS_snapshot=false\r\n`);
  await waitFor(() => lines.some((l) => l.line.startsWith('SUBOK,1')), `${name}: SUBOK via ${cr} (${lines.map((l) => l.line).join(' | ')})`);
  return { name, item, origin, lines, ws, request };
}
type LatencySession = Awaited<ReturnType<typeof openLatencySession>>;

async function updateLatency(t: LatencySession, i: number): Promise<number> {
  const expected = `U,1,1,${i}`;
  const sent = performance.now();
  await publish(t.origin, t.item, { t: String(i) });
  await waitFor(() => t.lines.some((l) => l.line === expected), `${t.name}: ${expected}`);
  return t.lines.find((l) => l.line === expected)!.at - sent;
}

/**
 * Two kinds of client request: `reconf`, which mode `session` answers at the edge (the object sends
 * it on to the shard without waiting), and `msg`, which every path answers only once the shard did.
 */
const REQUESTS = {
  reconf: { endpoint: 'control', body: (reqId: number) => `LS_reqId=${reqId}&LS_op=reconf&LS_subId=1&LS_requested_max_frequency=unlimited\r\n` },
  msg: { endpoint: 'msg', body: (reqId: number) => `LS_reqId=${reqId}&LS_message=ping&LS_outcome=false\r\n` },
} as const;
type RequestKind = keyof typeof REQUESTS;

async function requestLatency(t: LatencySession, kind: RequestKind, reqId: number): Promise<number> {
  const t0 = performance.now();
  const answer = await t.request(REQUESTS[kind].endpoint, REQUESTS[kind].body(reqId));
  const elapsed = performance.now() - t0;
  if (!answer.startsWith(`REQOK,${reqId}`)) throw new Error(`${t.name}: ${kind} answered ${answer}`);
  return elapsed;
}

async function latency(): Promise<void> {
  const origins = await startOrigins(['b1', 'b2']);
  const edge = await startBenchEdge('miniflare', 'edge', edgeVars(origins, [
    { host: 'path.localhost', modes: ['path'] },
    { host: 'session.localhost', modes: ['session'] },
  ]));
  try {
    await waitHealthy(edge);
    const targets = [
      await openLatencySession('direct', origins[0].url, origins),
      await openLatencySession('path', edge.urlFor('path.localhost'), origins),
      await openLatencySession('session', edge.urlFor('session.localhost'), origins),
    ];
    const measured = { update: targets.map((): number[] => []), reconf: targets.map((): number[] => []), msg: targets.map((): number[] => []) };
    // Sample after sample in turn: a change of load weighs on every path alike.
    for (let i = 0; i < SAMPLES; i++) for (const [k, t] of targets.entries()) measured.update[k].push(await updateLatency(t, i));
    let reqId = 2;
    for (const kind of ['reconf', 'msg'] as const) {
      for (let i = 0; i < SAMPLES; i++) for (const [k, t] of targets.entries()) measured[kind][k].push(await requestLatency(t, kind, reqId++));
    }
    for (const t of targets) t.ws.close();

    const labels = ['direct to origin (floor)', 'edge, mode path', 'edge, mode session'];
    const kinds = ['update', 'reconf', 'msg'] as const;
    console.log(`\nLatency: ${SAMPLES} samples each, one session per path; the edge on Miniflare, one workerd process for both modes`);
    console.log(`update: publish POST → U line on the client's WebSocket; reconf: control.txt, which mode session answers at the edge; msg: msg.txt, answered once the shard answered\n`);
    console.log(
      formatTable(
        ['path', ...kinds.flatMap((k) => [`${k} p50`, `${k} p99`])],
        targets.map((_, t) => [labels[t], ...kinds.flatMap((k) => [ms(pct(measured[k][t], 50)), ms(pct(measured[k][t], 99))])]),
      ),
    );
    const [direct, path, session] = [0, 1, 2];
    const ratio = (k: (typeof kinds)[number], p: number, t: number, base: number) => times(pct(measured[k][t], p) / pct(measured[k][base], p));
    const added = (k: (typeof kinds)[number], p: number, t: number) => ms(pct(measured[k][t], p) - pct(measured[k][direct], p));
    console.log('');
    console.log(
      formatTable(
        ['', ...kinds.flatMap((k) => [`${k} p50`, `${k} p99`])],
        [
          ['mode path ÷ direct', ...kinds.flatMap((k) => [ratio(k, 50, path, direct), ratio(k, 99, path, direct)])],
          ['mode session ÷ direct', ...kinds.flatMap((k) => [ratio(k, 50, session, direct), ratio(k, 99, session, direct)])],
          ['mode session ÷ mode path', ...kinds.flatMap((k) => [ratio(k, 50, session, path), ratio(k, 99, session, path)])],
          ['mode path, added to direct', ...kinds.flatMap((k) => [added(k, 50, path), added(k, 99, path)])],
          ['mode session, added to direct', ...kinds.flatMap((k) => [added(k, 50, session), added(k, 99, session)])],
        ],
      ),
    );
  } finally {
    await edge.stop();
    await Promise.all(origins.map((o) => o.stop()));
  }
}

// ---- failover --------------------------------------------------------------------------------

async function edgeCounters(edge: BenchEdge): Promise<Record<string, number>> {
  const res = await fetch(`${edge.url}/_edge/api/status`, { headers: { authorization: `Bearer ${secrets.admin}` } });
  return ((await res.json()) as { counters: Record<string, number> }).counters;
}

async function failover(): Promise<void> {
  const origins = await startOrigins(['f1', 'f2', 'f3']);
  const edge = await startBenchEdge('miniflare', 'edge', edgeVars(origins, [{ host: '*', modes: ['session'] }]));
  const stopTicker = startTicker(origins, TICK_MS);
  const pool = new ClientPool(CLIENT_PROCESSES);
  let stopped: OriginHandle | null = null;
  try {
    await waitHealthy(edge);
    const pids = edge.workerdPids();
    const openedAt = Date.now();
    const opened = await pool.tryOpen({ url: edge.url, kind: 'tlcp-ws', count: SESSIONS, items: ['tick'], fields: ['n'], readyTimeoutMs: 20_000 });
    const openMs = Date.now() - openedAt;
    if (opened.open !== SESSIONS) throw new Error(`${opened.open} of ${SESSIONS} sessions opened: ${opened.failed.join('; ')}`);
    const staleMs = 2 * TICK_MS + 1_000;
    const allStreaming = async () => (await pool.health(staleMs)).streaming === SESSIONS;
    const streamingBy = Date.now() + 20_000;
    while (!(await allStreaming())) {
      if (Date.now() > streamingBy) throw new Error(`not every session streaming: ${JSON.stringify(await pool.health(staleMs))}`);
      await sleep(250);
    }
    log(`failover: ${n(SESSIONS)} sessions open and streaming (opened in ${s(openMs)})`);
    await sleep(2_000);

    await pool.mark();
    const before = await pool.fates();
    const perShard = new Map<string, number>();
    for (const f of before) perShard.set(f.shardAtMark ?? '?', (perShard.get(f.shardAtMark ?? '?') ?? 0) + 1);
    const [victimName] = [...perShard].sort((a, b) => b[1] - a[1])[0];
    const victim = origins.find((o) => `edgepush ${o.shardId}` === victimName)!;
    const movesBefore = (await edgeCounters(edge)).upstreamMoves ?? 0;
    const cpuBefore = workerdCpu(pids);
    log(`failover: upstreams per shard ${[...perShard].map(([k, v]) => `${k} ${v}`).join(', ')}; ${FAULTS[FAULT]} ${victim.shardId}`);
    const killedAt = now();
    if (FAULT === 'kill') await victim.kill();
    else {
      victim.child.kill('SIGSTOP');
      stopped = victim;
    }

    const affected = (fates: readonly SessionFate[]) => fates.filter((f) => f.shardAtMark === victimName);
    const settled = (f: SessionFate) => f.backAt !== null || f.ended !== null;
    let fates = await pool.fates();
    while (!affected(fates).every(settled) && now() - killedAt < BACK_WITHIN_MS) {
      await sleep(250);
      fates = await pool.fates();
    }
    const settledAt = now();
    const cpu = workerdCpu(pids) - cpuBefore;
    // The other sessions must have streamed on undisturbed: look once more a little later.
    await sleep(3_000);
    fates = await pool.fates();
    const health = await pool.health(staleMs);
    const moves = ((await edgeCounters(edge)).upstreamMoves ?? 0) - movesBefore;

    const hit = affected(fates);
    const others = fates.filter((f) => f.shardAtMark !== victimName);
    const back = hit.filter((f) => f.backAt !== null && f.ended === null).map((f) => f.backAt! - killedAt);
    const moved = hit.filter((f) => f.movedAt !== null).map((f) => f.movedAt! - killedAt);
    const sessionsLost = fates.filter((f) => f.ended !== null);
    const unexpected = fates.filter((f) => f.unexpected.length > 0);
    const stillOnVictim = hit.filter((f) => f.shard === victimName);
    const reasons = [...new Set([...sessionsLost.map((f) => f.ended!), ...unexpected.flatMap((f) => f.unexpected)])].slice(0, 5);
    const row = (label: string, xs: number[]) => [label, n(xs.length), ...(xs.length ? [s(Math.min(...xs)), s(pct(xs, 50)), s(pct(xs, 99)), s(Math.max(...xs))] : ['–', '–', '–', '–'])];

    console.log(`\nFailover: ${n(SESSIONS)} WebSocket sessions in mode session over ${origins.length} shards, MERGE on an item ticking every ${TICK_MS} ms; ${FAULTS[FAULT]} of the shard with the most upstreams (${victim.shardId}: ${n(hit.length)})\n`);
    console.log(formatTable([`from the ${FAULTS[FAULT]} to`, 'sessions', 'min', 'p50', 'p99', 'max'], [row('SERVNAME of the new shard', moved), row('first update after it', back)]));
    console.log(
      `\nOf the ${n(hit.length)} sessions of the ${FAULT === 'kill' ? 'killed' : 'stopped'} shard: not back within ${BACK_WITHIN_MS / 1000} s ${n(hit.length - back.length)}, still naming it ${n(stillOnVictim.length)}. ` +
        `Every session (${n(SESSIONS)}): lost its session (socket closed, END) ${n(sessionsLost.length)}, unexpected lines (error, second SUBOK…) ${n(unexpected.length)}` +
        `${reasons.length ? ` (${reasons.join('; ')})` : ''}; of the ${n(others.length)} on other shards, ${n(others.filter((f) => f.movedAt !== null).length)} moved. ` +
        `Streaming 3 s after the last was back: ${n(health.streaming)} of ${n(SESSIONS)}. Upstream moves counted by the edge: ${n(moves)}. ` +
        `workerd CPU from the ${FAULTS[FAULT]} until every session was back: ${cpu.toFixed(2)} s in ${s(settledAt - killedAt)}. ` +
        `Reference: the ${n(SESSIONS)} sessions opened (CONOK and SUBOK, 100 at a time per client process) in ${s(openMs)}.`,
    );
  } finally {
    stopped?.child.kill('SIGCONT');
    await pool.close();
    stopTicker();
    await edge.stop();
    await Promise.all(origins.map((o) => o.stop()));
  }
}

// ---- memory ----------------------------------------------------------------------------------

interface MemoryResult {
  readonly mode: 'path' | 'session';
  readonly baseline: number;
  /** RSS growth per session once the sessions were open, in each round. */
  readonly perSession: number[];
  /** The isolate's JavaScript heap after GC, per session open in round 1. */
  readonly heapPerSession: number;
  /**
   * The JavaScript heap after GC once every session of a round left, less the warm-up's, per round:
   * the same after each round when nothing of a closed session stays.
   */
  readonly heapAfterClosing: number[];
  readonly cores: number;
}

async function memoryOf(mode: 'path' | 'session'): Promise<MemoryResult> {
  const origins = await startOrigins(['m1', 'm2']);
  const domain = mode === 'path' ? { host: '*', modes: ['path', 'session-id'] } : { host: '*', modes: ['session'] };
  const edge = await startBenchEdge('miniflare', 'edge', edgeVars(origins, [domain]), { inspector: true });
  const heap = await connectIsolateHeap(edge.inspectorPort!);
  const stopTicker = startTicker(origins, 1_000);
  const warm = new ClientPool(1);
  let pool: ClientPool | null = null;
  const upstreams = async () => (await Promise.all(origins.map((o) => originStatus(o.url)))).reduce((sum, st) => sum + st.sessions, 0);
  try {
    await waitHealthy(edge);
    const open = async (p: ClientPool, count: number) => {
      const opened = await p.tryOpen({ url: edge.url, kind: 'tlcp-ws', count, items: ['tick'], fields: ['n'], readyTimeoutMs: 20_000 });
      if (opened.open !== count) throw new Error(`mode ${mode}: ${opened.open} of ${count} opened: ${opened.failed.join('; ')}`);
    };
    await open(warm, WARMUP);
    await sleep(2_000);
    const pids = edge.workerdPids();
    const baseline = totalResidentBytes(pids);
    const baselineHeap = await heap.usedAfterGc();
    log(`memory, mode ${mode}: ${WARMUP} warm-up sessions, workerd RSS ${MiB(baseline)}, JavaScript heap ${MiB(baselineHeap)}`);
    const perSession: number[] = [];
    let heapPerSession = 0;
    const heapAfterClosing: number[] = [];
    let cores = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      pool = new ClientPool(CLIENT_PROCESSES);
      await open(pool, MEMORY_SESSIONS);
      const cpu0 = workerdCpu(pids);
      await sleep(6_000);
      cores = (workerdCpu(pids) - cpu0) / 6;
      const health = await pool.health(5_000);
      if (health.streaming !== MEMORY_SESSIONS) throw new Error(`mode ${mode}: not every session streaming: ${JSON.stringify(health)}`);
      if (!pids.every(isRunning)) throw new Error(`mode ${mode}: workerd exited`);
      const rss = totalResidentBytes(pids);
      perSession.push((rss - baseline) / MEMORY_SESSIONS);
      // After the RSS: a forced collection may hand memory back to the system.
      const used = await heap.usedAfterGc();
      if (round === 1) heapPerSession = (used - baselineHeap) / MEMORY_SESSIONS;
      log(`memory, mode ${mode}, round ${round}: ${n(MEMORY_SESSIONS)} more sessions streaming, workerd RSS ${MiB(rss)}, ${KiB(perSession.at(-1)!)} per session, JavaScript heap ${MiB(used)}, ${cores.toFixed(2)} core`);
      await pool.close();
      pool = null;
      // Gone once their upstreams left the origins (mode session keeps an unbound session 30 s for its client).
      const goneBy = Date.now() + 90_000;
      while ((await upstreams()) > WARMUP) {
        if (Date.now() > goneBy) throw new Error(`mode ${mode}: ${(await upstreams()) - WARMUP} closed sessions still held upstream after 90 s`);
        await sleep(1_000);
      }
      const usedAfterClose = await heap.usedAfterGc();
      heapAfterClosing.push(usedAfterClose - baselineHeap);
      log(`memory, mode ${mode}: every closed session gone, workerd RSS ${MiB(totalResidentBytes(pids))}, JavaScript heap ${MiB(usedAfterClose)}`);
    }
    return { mode, baseline, perSession, heapPerSession, heapAfterClosing, cores };
  } finally {
    heap.close();
    await pool?.close();
    await warm.close();
    stopTicker();
    await edge.stop();
    await Promise.all(origins.map((o) => o.stop()));
  }
}

async function memory(): Promise<void> {
  const results = [await memoryOf('path'), await memoryOf('session')];
  const [path, session] = results;
  console.log(
    `\nMemory: workerd RSS growth since ${WARMUP} warm-up sessions, per WebSocket session streaming (MERGE, one update a second), ${n(MEMORY_SESSIONS)} sessions, ` +
      `a fresh edge per mode; each round after every session of the one before closed and left\n`,
  );
  const rounds = Array.from({ length: ROUNDS }, (_, i) => i);
  console.log(
    formatTable(
      ['mode', 'workerd RSS at warm-up', ...rounds.map((i) => `RSS/session, round ${i + 1}`), 'RSS ÷ path (round 1)', 'JS heap/session', 'JS heap kept after each round closed', 'workerd CPU'],
      results.map((r) => [
        r.mode,
        MiB(r.baseline),
        ...r.perSession.map(KiB),
        times(r.perSession[0] / path.perSession[0]),
        `${(r.heapPerSession / 1024).toFixed(1)} KiB`,
        r.heapAfterClosing.map((b) => `${(b / 1024).toFixed(0)}`).join(' / ') + ' KiB',
        `${r.cores.toFixed(2)} core`,
      ]),
    ),
  );
  console.log(`Mode session holds ${KiB(session.perSession[0] - path.perSession[0])} more per session than mode path.`);
}

try {
  for (const part of parts) {
    if (part === 'latency') await latency();
    else if (part === 'failover') await failover();
    else await memory();
  }
} finally {
  closeConnections();
}
const loadAtEnd = os.loadavg();
console.log(`\n${machine()}; load average ${loadAtStart[0].toFixed(2)} at start, ${loadAtEnd[0].toFixed(2)} at end`);
