/**
 * Chaos: 1,000 official clients stream through the edge while, one after the other and each once the
 * cluster has settled, a shard is SIGKILLed (then restarted), a shard is SIGSTOPped for 20 s (then
 * SIGCONT), Redis is restarted empty, and the edge process is restarted (same port, same Durable
 * Object state). Per fault: the time until every affected session streams again (p50/p99/max), how
 * many needed a new session, fatal errors, and updates lost; against baselines from the same run.
 *   npm run bench -- chaos [--sessions 1000] [--shards 3] [--rate 5] [--stop-seconds 20] [--redis-down-seconds 3]
 *
 * The population (why this mix: bench/RESULTS.md, "Chaos"): 80 % the client as shipped (WS-STREAMING),
 * 20 % HTTP only (HTTP-STREAMING, polling as its fallback); half DISTINCT with snapshot, half RAW, over
 * 4 items fed through Redis at `rate` updates/s each. Clients live in 2 processes of their own
 * (official-clients.ts); servers in theirs. Definitions of every figure: session-record.ts.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { newSecrets, startEdge, type EdgeHandle } from '../test/support/edge.ts';
import { startOrigin, type OriginHandle } from '../test/support/origin.ts';
import { freePort } from '../test/support/ports.ts';
import { startRedis, type RedisHandle } from '../test/support/redis.ts';
import { OfficialClientPool } from './support/official-client-pool.ts';
import type { OutcomeRow } from './support/official-clients.ts';
import { cpuBetween, cpuSeconds, childrenNamed, sampleCpu, type CpuSample } from './support/process-cpu.ts';
import { formatTable, machine } from './support/report.ts';
import { SeqPublisher } from './support/seq-publisher.ts';
import type { FaultWindow, SessionSpec } from './support/session-record.ts';

const { values: options } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    shards: { type: 'string', default: '3' },
    rate: { type: 'string', default: '5' },
    'stop-seconds': { type: 'string', default: '20' },
    'redis-down-seconds': { type: 'string', default: '3' },
  },
});
const SESSIONS = Number(options.sessions);
const SHARDS = Number(options.shards);
const RATE = Number(options.rate);
const STOP_MS = Number(options['stop-seconds']) * 1000;
const REDIS_DOWN_MS = Number(options['redis-down-seconds']) * 1000;
const ITEMS = ['chaos1', 'chaos2', 'chaos3', 'chaos4'];
const CLIENT_PROCESSES = 2;
const REFERENCE_CLIENTS = 10;
const QUIET_PROBES = 20;
/** A client is current when it holds every update published at least this long ago. */
const CURRENT_LAG_MS = 1_500;
/** The cluster has settled when everything was fine for this long in a row. */
const SETTLE_MS = 5_000;
const BACK_TIMEOUT_MS = 90_000;
const STEADY_MS = 15_000;

const secrets = newSecrets();
const loadAtStart = os.loadavg();
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);

interface Shard {
  readonly id: string;
  readonly port: number;
  handle: OriginHandle;
}

let redis: RedisHandle;
const shards: Shard[] = [];
let edge: EdgeHandle;
let publisher: SeqPublisher;
let pool: OfficialClientPool;
const faults: FaultWindow[] = [];
/** What was started, stopped in reverse order at the end whatever happened. */
const cleanups: Array<() => Promise<void>> = [];
const notes: Record<string, string> = {};
/** Reference clients straight on the stopped shard: when each noticed by itself, and how. */
const referenceDetection: number[] = [];
const referenceStatuses = new Set<string>();
/** Per fault (by name): when the component was back (Redis ready, the edge listening), ms after the fault. */
const componentBack = new Map<string, number>();

const originEnv = (id: string, port: number) => ({
  SHARD_ID: id,
  PORT: String(port),
  REDIS_URL: redis.url,
  EDGE_SECRET: secrets.edge,
  ADMIN_TOKEN: secrets.originAdmin,
  // info: the bus says when it restored an item into an empty Redis.
  LOG_LEVEL: 'info',
});

/** Every origin process the run started (a restarted shard is a new one), for their logs. */
const originProcesses: OriginHandle[] = [];

async function startShard(id: string, port: number): Promise<OriginHandle> {
  const handle = await startOrigin(originEnv(id, port));
  originProcesses.push(handle);
  return handle;
}

/** What the origins' logs say about the bus and about errors. */
function originLogSummary(): string {
  const lines = originProcesses.flatMap((o) => o.output().split('\n')).filter((l) => l.startsWith('{'));
  const said = (msg: string) => lines.filter((l) => l.includes(`"msg":"${msg}`)).length;
  const errors = lines.filter((l) => /"level":(50|60)/.test(l));
  return (
    `origin logs: ${said('restored an item redis had lost')} items restored into Redis, ` +
    `${said('redis bus resynchronised an item it could not replay exactly')} resynchronised without an exact replay, ` +
    `${said('gap on the redis bus')} bus gaps repaired, ${errors.length} errors${errors.length ? `: ${errors.slice(0, 3).join(' | ')}` : ''}`
  );
}

/** The processes whose CPU the bench accounts for, by role. */
function processGroups(): Record<string, number[]> {
  return {
    edge: childrenNamed(process.pid, 'workerd'),
    origins: shards.map((s) => s.handle.child.pid!),
    clients: pool.pids,
    redis: [redis.child.pid!],
  };
}

interface Cost {
  readonly wallMs: number;
  readonly cpu: Record<string, number>;
}
/** The edge's routing counters at the start of each window, and at the end of the run. */
const countersAt: Array<Record<string, number>> = [];

function countersMoved(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).filter(([k, v]) => v !== (before[k] ?? 0)).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}
/** Per fault (by name), from the fault until every client was current again. */
const costs = new Map<string, Cost>();
let faultCpu: CpuSample = {};

async function edgeShards(): Promise<Array<{ id: string; healthy: boolean }>> {
  const res = await edge.admin('/_edge/api/status');
  return ((await res.json()) as { shards: Array<{ id: string; healthy: boolean }> }).shards;
}

async function edgeCounters(): Promise<Record<string, number>> {
  const res = await edge.admin('/_edge/api/status');
  return ((await res.json()) as { counters: Record<string, number> }).counters;
}

async function busesConnected(): Promise<boolean> {
  const states = await Promise.all(
    shards.map(async (s) => {
      const res = await fetch(`${s.handle.url}/api/status`, { signal: AbortSignal.timeout(1_000) });
      return ((await res.json()) as { bus: { connected: boolean } }).bus.connected;
    }),
  );
  return states.every(Boolean);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every client current, every shard healthy at the edge, every bus connected: for SETTLE_MS in a row. */
async function settle(what: string): Promise<void> {
  const started = Date.now();
  let fineSince: number | null = null;
  let last = '';
  while (Date.now() - started < 180_000) {
    const state = await pool.state(publisher.settledBefore(CURRENT_LAG_MS));
    const healthy = await edgeShards().then((s) => s.every((x) => x.healthy)).catch(() => false);
    const buses = await busesConnected().catch(() => false);
    const fine = state.current === state.total && healthy && buses;
    last = `${state.current}/${state.total} current (${state.degraded} degraded), shards healthy ${healthy}, buses ${buses}, ${JSON.stringify(state.byShard)} ${state.laggards.join('; ')}`;
    if (!fine) fineSince = null;
    else if (fineSince === null) fineSince = Date.now();
    else if (Date.now() - fineSince >= SETTLE_MS) {
      log(`settled (${what}) in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(state.byShard)}${state.degraded ? `, ${state.degraded} degraded` : ''}`);
      return;
    }
    await sleep(500);
  }
  // The figures say what went wrong; the run goes on so that they are reported.
  log(`never settled (${what}) in 180 s: ${last}`);
  notes[`unsettled ${what}`] = `NOT SETTLED after ${what}: ${last}`;
}

/** Waits until every client is current again; the time is only for the log, the figures come from the records. */
async function everyoneBack(what: string): Promise<void> {
  const fault = faults.at(-1)!;
  const started = Date.now();
  for (;;) {
    const state = await pool.state(publisher.requiredAfter(fault.at, CURRENT_LAG_MS));
    if (state.current === state.total) {
      const wallMs = Date.now() - fault.at;
      const cpu = cpuBetween(faultCpu, sampleCpu(processGroups()));
      costs.set(fault.name, { wallMs, cpu });
      log(`${what}: every client current again after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return;
    }
    if (Date.now() - started > BACK_TIMEOUT_MS) {
      log(`${what}: ${state.total - state.current} clients still not current after ${BACK_TIMEOUT_MS / 1000} s: ${state.laggards.join('; ')}`);
      return;
    }
    await sleep(250);
  }
}

async function busiestShard(): Promise<Shard> {
  const { byShard } = await pool.state({});
  return [...shards].sort((a, b) => (byShard[b.id] ?? 0) - (byShard[a.id] ?? 0))[0];
}

/** Opens a fault window; the previous one ends where this one begins. */
async function beginFault(name: string, hits: FaultWindow['hits']): Promise<number> {
  countersAt.push(await edgeCounters());
  faultCpu = sampleCpu(processGroups());
  const at = Date.now();
  const previous = faults.at(-1);
  if (previous) faults[faults.length - 1] = { ...previous, until: at };
  faults.push({ name, at, until: Infinity, hits });
  return at;
}

async function sigkill(): Promise<void> {
  const target = await busiestShard();
  log(`SIGKILL ${target.id}`);
  await beginFault(`SIGKILL shard (then restart)`, { shard: target.id });
  target.handle.child.kill('SIGKILL');
  await everyoneBack('SIGKILL');
  const restartAt = Date.now();
  target.handle = await startShard(target.id, target.port);
  notes.sigkill = `${target.id} restarted ${((Date.now() - restartAt) / 1000).toFixed(1)} s after every session was back`;
  await settle(`${target.id} restarted`);
}

async function sigstop(): Promise<void> {
  const target = await busiestShard();
  // The client's own reaction to a silent stream, without the edge: clients straight on the shard.
  const reference = await pool.open(
    Array.from({ length: REFERENCE_CLIENTS }, (_, i) => ({ index: -1 - i, url: target.handle.url, transport: 'WS-STREAMING' as const, mode: 'RAW' as const, item: ITEMS[i % ITEMS.length] })),
    true,
  );
  if (reference.connected !== REFERENCE_CLIENTS) throw new Error(`reference clients: ${reference.failures.join('; ')}`);
  log(`SIGSTOP ${target.id} for ${STOP_MS / 1000} s`);
  const at = await beginFault(`SIGSTOP shard ${STOP_MS / 1000} s (then SIGCONT)`, { shard: target.id });
  target.handle.child.kill('SIGSTOP');
  await everyoneBack('SIGSTOP');
  await sleep(at + STOP_MS - Date.now());
  target.handle.child.kill('SIGCONT');
  for (const seen of await pool.detection(at)) {
    if (seen === null) continue;
    referenceDetection.push(seen.ms);
    referenceStatuses.add(seen.status);
  }
  await settle(`${target.id} continued`);
}

async function redisRestart(): Promise<void> {
  log(`Redis: stop, ${REDIS_DOWN_MS / 1000} s down, start again empty`);
  await redis.stop();
  // From the moment Redis is gone: until its process exits it still takes publishes, which reach everyone.
  const at = await beginFault(`Redis restart, empty (${REDIS_DOWN_MS / 1000} s down)`, 'all');
  await sleep(at + REDIS_DOWN_MS - Date.now());
  redis = await startRedis(redis.port);
  componentBack.set(faults.at(-1)!.name, Date.now() - at);
  await everyoneBack('Redis');
  notes.redis = `${publisher.refused} publish attempts refused while Redis was away`;
  await settle('Redis back');
}

async function edgeRestart(): Promise<void> {
  log('edge: stop, start again on the same port and state');
  const at = await beginFault('edge restart (same port, same DO state)', 'all');
  await edge.restart();
  componentBack.set(faults.at(-1)!.name, Date.now() - at);
  const startup = childrenNamed(process.pid, 'workerd').reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  notes.edge = `the restarted workerd used ${startup.toFixed(1)} CPU-s to start, before any client came back`;
  await everyoneBack('edge');
  await settle('edge back');
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const seconds = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
const spread = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) };
};

function faultRow(fault: FaultWindow, rows: readonly OutcomeRow[], connectP50: number): string[] {
  const affected = rows.filter((r) => r.affected);
  const back = spread(affected.map((r) => r.backMs).filter((ms): ms is number => ms !== null));
  const notBack = affected.filter((r) => r.backMs === null).length;
  const newSessions = affected.filter((r) => r.newSession).length;
  const lost = (mode: string, newSession?: boolean) =>
    rows.filter((r) => r.mode === mode && (newSession === undefined || r.newSession === newSession)).reduce((s, r) => s + r.lost, 0);
  const elsewhere = rows.filter((r) => !r.affected && r.disrupted).length;
  const fatal = rows.reduce((s, r) => s + r.fatal.length, 0);
  return [
    fault.name,
    String(affected.length),
    seconds(back.p50),
    seconds(back.p99),
    seconds(back.max),
    back.p50 === undefined ? '–' : (back.p50 / connectP50).toFixed(1),
    String(notBack),
    `${newSessions} / ${affected.length - newSessions}`,
    String(affected.filter((r) => r.degraded).length),
    String(fatal),
    String(lost('DISTINCT')),
    `${lost('RAW', true)} / ${lost('RAW', false)}`,
    String(elsewhere),
  ];
}

function specs(): SessionSpec[] {
  return Array.from({ length: SESSIONS }, (_, i) => ({
    index: i,
    url: edge.url,
    // 4 in 5 the client as shipped (WebSocket first); 1 in 5 where WebSocket is blocked.
    transport: i % 5 === 4 ? ('HTTP-STREAMING' as const) : ('WS-STREAMING' as const),
    mode: Math.floor(i / 5) % 2 === 0 ? ('DISTINCT' as const) : ('RAW' as const),
    item: ITEMS[i % ITEMS.length],
  }));
}

try {
  redis = await startRedis();
  cleanups.push(() => redis.stop());
  for (let i = 1; i <= SHARDS; i++) {
    const id = `s${i}`;
    const port = await freePort();
    const shard: Shard = { id, port, handle: await startShard(id, port) };
    shards.push(shard);
    cleanups.push(async () => {
      // A shard the bench stopped must run again to stop cleanly.
      if (shard.handle.child.exitCode === null && shard.handle.child.signalCode === null) shard.handle.child.kill('SIGCONT');
      await shard.handle.stop();
    });
  }
  edge = await startEdge({
    secrets,
    shards: shards.map((s) => ({ id: s.id, url: s.handle.url })),
    // The local default domain: path prefix for clients that follow the control link, the session id
    // for those that do not; every client here comes from 127.0.0.1, so no per-client create limit.
    domains: [{ host: '*', modes: ['path', 'session-id'], createsPerMinute: 0 }],
    // The documented defaults, not the tests' faster ones.
    vars: { PROBE_INTERVAL_MS: '2000', SNAPSHOT_TTL_MS: '1000' },
  });
  cleanups.push(() => edge.stop());
  for (let t = Date.now(); !(await edgeShards().then((s) => s.every((x) => x.healthy)).catch(() => false)); ) {
    if (Date.now() - t > 30_000) throw new Error('edge never saw every shard healthy');
    await sleep(200);
  }
  publisher = new SeqPublisher(redis.url, ITEMS, RATE);
  cleanups.push(() => publisher.stop());
  pool = new OfficialClientPool(CLIENT_PROCESSES);
  cleanups.push(() => pool.close());
  await sleep(1_000);

  log(`${SESSIONS} sessions connecting at once through ${edge.url}`);
  const connectStart = { at: Date.now(), cpu: sampleCpu(processGroups()) };
  const opened = await pool.open(specs());
  const connectCost: Cost = { wallMs: Date.now() - connectStart.at, cpu: cpuBetween(connectStart.cpu, sampleCpu(processGroups())) };
  if (opened.connected !== SESSIONS) throw new Error(`${opened.connected}/${SESSIONS} connected: ${opened.failures.join('; ')}`);
  const burst = spread(await pool.firstUpdates());
  await settle('initial');

  const quiet: number[] = [];
  for (let i = 0; i < QUIET_PROBES; i++) {
    const spec = { ...specs()[i], index: 100_000 + i };
    const ms = await pool.probe(spec);
    if (ms !== null) quiet.push(ms);
  }
  const single = spread(quiet);

  const control = await beginFault('none (steady state, control)', 'none');
  await sleep(STEADY_MS);
  costs.set(faults[0].name, { wallMs: Date.now() - control, cpu: cpuBetween(faultCpu, sampleCpu(processGroups())) });
  await sigkill();
  await sigstop();
  await redisRestart();
  await edgeRestart();
  const last = faults.at(-1)!;
  faults[faults.length - 1] = { ...last, until: Date.now() };
  await publisher.stop();
  await sleep(3_000);

  const outcomes = await pool.outcomes(faults, publisher.log);
  countersAt.push(await edgeCounters());
  console.log(`\nchaos: ${SESSIONS} official clients through the edge (${machine()})`);
  console.log(`load average at start ${loadAtStart.map((l) => l.toFixed(1)).join(' ')}, at end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`${SHARDS} shards, Redis, ${ITEMS.length} items × ${RATE} updates/s; ${publisher.published} updates published\n`);
  console.log(
    formatTable(
      ['reference (same run)', 'p50', 'p99', 'max'],
      [
        [`one session alone: connect → first update (${quiet.length}, one at a time)`, seconds(single.p50), seconds(single.p99), seconds(single.max)],
        [`${SESSIONS} sessions at once: connect → first update`, seconds(burst.p50), seconds(burst.p99), seconds(burst.max)],
        [`client's own detection of a stopped shard, no edge (${referenceDetection.length} of ${REFERENCE_CLIENTS} clients within the stop: ${[...referenceStatuses].join(', ') || 'none'})`, ...Object.values(spread(referenceDetection)).map(seconds)],
      ],
    ),
  );
  console.log();
  console.log(
    formatTable(
      ['fault', 'affected', 'back p50', 'back p99', 'back max', 'p50 ÷ connect p50', 'not back', 'new / same session', 'degraded', 'fatal', 'lost DISTINCT', 'lost RAW new / recovered', 'disturbed elsewhere'],
      faults.map((f, i) => faultRow(f, outcomes.perFault[i], burst.p50!)),
    ),
  );
  console.log();
  const costRow = (name: string, cost: Cost | undefined) =>
    cost ? [name, seconds(cost.wallMs), ...['edge', 'origins', 'clients', 'redis'].map((g) => `${cost.cpu[g].toFixed(1)} s`)] : [name, '–', '–', '–', '–', '–'];
  console.log(
    formatTable(
      ['phase (a fault: until every client is current again)', 'wall', 'edge CPU', 'origins CPU', 'clients CPU', 'Redis CPU'],
      [costRow(`${SESSIONS} sessions connecting at once`, connectCost), ...faults.map((f) => costRow(f.name, costs.get(f.name)))],
    ),
  );
  console.log();
  console.log(
    formatTable(
      ['fault: affected sessions', 'interrupted p50', 'interrupted max', 'then back p50', 'then back max'],
      faults.slice(1).map((fault, i) => {
        const rows = outcomes.perFault[i + 1].filter((r) => r.affected && r.interruptedMs !== null && r.backMs !== null);
        const interrupted = spread(rows.map((r) => r.interruptedMs!));
        const then = spread(rows.map((r) => r.backMs! - r.interruptedMs!));
        return [`${fault.name} (${rows.length} interrupted)`, seconds(interrupted.p50), seconds(interrupted.max), seconds(then.p50), seconds(then.max)];
      }),
    ),
  );
  console.log();
  faults.forEach((fault, i) => {
    const backAt = componentBack.get(fault.name);
    if (backAt === undefined) return;
    const after = spread(outcomes.perFault[i].filter((r) => r.affected && r.backMs !== null).map((r) => r.backMs! - backAt));
    console.log(`${fault.name}: back ${seconds(backAt)} after the fault; sessions receiving again p50 ${seconds(after.p50)}, p99 ${seconds(after.p99)}, max ${seconds(after.max)} after that`);
  });
  console.log(originLogSummary());
  for (const note of Object.values(notes)) console.log(note);
  faults.forEach((fault, i) => console.log(`edge counters that moved, ${fault.name} (to the next fault): ${JSON.stringify(countersMoved(countersAt[i], countersAt[i + 1]))}`));
  faults.forEach((fault, i) => {
    const rows = outcomes.perFault[i];
    const slowest = rows.filter((r) => r.affected).sort((a, b) => (b.backMs ?? Infinity) - (a.backMs ?? Infinity))[0];
    if (slowest) console.log(`slowest session, ${fault.name}: #${slowest.index} ${slowest.transport} ${slowest.mode}: ${slowest.timeline}`);
    const fatal = rows.filter((r) => r.fatal.length > 0);
    if (fatal.length === 0) return;
    const reasons = new Map<string, number>();
    for (const r of fatal) for (const f of r.fatal) reasons.set(`${r.transport} ${f}`, (reasons.get(`${r.transport} ${f}`) ?? 0) + 1);
    console.log(`FATAL in ${fault.name}: ${[...reasons].map(([reason, n]) => `${n} × ${reason}`).join('; ')}`);
    console.log(`  e.g. #${fatal[0].index} ${fatal[0].transport} ${fatal[0].mode}: ${fatal[0].timeline}`);
  });
  console.log(`same-session duplicates ${outcomes.duplicatesInSession} (must be 0); updates the server announced lost (OV) ${outcomes.announcedLost}`);
  console.log(`edge counters, whole run: ${JSON.stringify(countersAt.at(-1))}`);

  // What must never happen, whatever the machine's speed: the bench fails on it.
  const all = outcomes.perFault.flat();
  const broken = [
    [all.reduce((s, r) => s + r.fatal.length, 0), 'fatal errors'],
    [all.filter((r) => r.affected && r.backMs === null).length, 'sessions not back'],
    [outcomes.duplicatesInSession, 'updates delivered twice by one session'],
    [all.filter((r) => !r.newSession).reduce((s, r) => s + r.lost, 0), 'updates lost by sessions that kept their session'],
  ].filter(([n]) => n !== 0);
  if (broken.length > 0) {
    console.error(`\nFAILED: ${broken.map(([n, what]) => `${n} ${what}`).join(', ')}`);
    process.exitCode = 1;
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((err: Error) => console.error(`cleanup: ${err.message}`));
}
