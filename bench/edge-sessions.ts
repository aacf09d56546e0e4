/**
 * Held sessions through the local edge: relayed WebSocket TLCP sessions, each subscribed to an item
 * that ticks every second, are added `--step` at a time until the first refusal or stall, and
 * workerd's resident memory is read at every step. Once per runtime (workerd on Miniflare, what `npm
 * start` runs; `wrangler dev`) and per Worker: the edge (worker/index.ts, relaying each socket in
 * JavaScript) and the pass-through (support/pass-through-worker.ts: the origin's 101 returned as it
 * is, the runtime relaying the socket by itself), whose memory per session is the floor the edge's
 * is compared with.
 *   npm run bench -- edge-sessions [--step 500] [--max 10000] [--warmup 100]
 *                                  [--runtimes miniflare,wrangler-dev] [--workers edge,minimal-relay,pass-through]
 *                                  [--ready-ms 10000] [--stale-ms 5000]
 *
 * A refusal: a session whose socket fails, closes, or has no CONOK and SUBOK within `--ready-ms`. A
 * stall: a session that got them but then closed or received no update for `--stale-ms`, checked
 * over every session held, `--stale-ms` and a second after each step opened. The clients live in
 * processes of their own (support/load-clients.ts); the memory is the VmRSS of every workerd process
 * the runtime started (wrangler dev: its proxy's and the Worker's), its growth since the warm-up
 * sessions divided by the sessions added since. Their open descriptors are counted too: workerd
 * holds four per relayed session (two sockets, each duplicated), so its open-file limit caps the
 * sessions it can hold at all; at that limit a connection to an origin fails (the edge refuses the
 * socket with 1013) or an accept() does, and workerd exits.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { newSecrets } from '../test/support/edge.ts';
import { startOrigin, type OriginHandle } from '../test/support/origin.ts';
import { benchEdgeVars, RUNTIME_LABEL, startBenchEdge, type BenchEdge, type BenchWorker, type Runtime } from './support/bench-edge.ts';
import { ClientPool } from './support/clients.ts';
import { cpuSeconds } from './support/process-cpu.ts';
import { isRunning, openFileLimit, openFiles, totalResidentBytes } from './support/process-resources.ts';
import { formatTable, machine } from './support/report.ts';

const { values: args } = parseArgs({
  options: {
    step: { type: 'string', default: '500' },
    max: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '100' },
    runtimes: { type: 'string', default: 'miniflare,wrangler-dev' },
    workers: { type: 'string', default: 'edge,minimal-relay,pass-through' },
    'ready-ms': { type: 'string', default: '10000' },
    'stale-ms': { type: 'string', default: '5000' },
  },
});
const STEP = Number(args.step);
const MAX = Number(args.max);
const WARMUP = Number(args.warmup);
const READY_MS = Number(args['ready-ms']);
const STALE_MS = Number(args['stale-ms']);
const RUNTIMES = args.runtimes.split(',') as Runtime[];
const WORKERS = args.workers.split(',') as BenchWorker[];
for (const r of RUNTIMES) if (!(r in RUNTIME_LABEL)) throw new Error(`unknown runtime ${r}`);
for (const w of WORKERS) if (!['edge', 'minimal-relay', 'pass-through'].includes(w)) throw new Error(`unknown worker ${w}`);
const ORIGINS = 2;
const CLIENT_PROCESSES = 2;
const TICK_MS = 1_000;
const ITEM = 'tick';
/** Issue 9's aims. */
const AIM_SESSIONS = 4_000;
/** The issue measured about 0.5 MB per relayed session on Miniflare with the relay as it was. */
const ISSUE_BYTES_PER_SESSION = 512 * 1024;

const TOKEN = 'bench-publish-token';
const secrets = newSecrets();
const loadAtStart = os.loadavg();
const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KiB = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const n = (x: number) => x.toLocaleString('en-US');

interface Step {
  readonly sessions: number;
  readonly streaming: number;
  readonly rss: number;
  /** Growth of workerd's RSS since the warm-up, per session added since. */
  readonly perSession: number;
  /** workerd CPU over the observation window, in cores. */
  readonly cores: number;
  /** Descriptors each workerd process holds open. */
  readonly files: readonly number[];
}

interface Held {
  readonly runtime: Runtime;
  readonly worker: BenchWorker;
  readonly baselineRss: number;
  readonly baselineFiles: readonly number[];
  /** The open-file limit of each workerd process. */
  readonly fileLimits: readonly (number | null)[];
  readonly steps: Step[];
  /** The most sessions every one of which opened and streamed. */
  held: number;
  /** What ended the run: the first refusal or stall, or the limit of the run. */
  ending: string;
}

/** Every origin gets a tick of the item every second (each has its own embedded bus). */
function startTicker(origins: readonly OriginHandle[]): () => void {
  let n = 0;
  const timer = setInterval(() => {
    n++;
    for (const o of origins) {
      fetch(`${o.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ item: ITEM, fields: { n: String(n) } }) })
        .then((r) => r.arrayBuffer())
        .catch((err: Error) => log(`publish to ${o.shardId} failed: ${err.message}`));
    }
  }, TICK_MS);
  return () => clearInterval(timer);
}

async function waitHealthy(edge: BenchEdge): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await fetch(`${edge.url}/lightstreamer/healthcheck`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`${edge.runtime} ${edge.worker}: no healthy shard after 30 s`);
    await sleep(200);
  }
}

const workerdCpu = (pids: readonly number[]) => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);

async function holdSessions(runtime: Runtime, worker: BenchWorker): Promise<Held> {
  const origins = await Promise.all(
    Array.from({ length: ORIGINS }, (_, i) => startOrigin({ SHARD_ID: `h${i + 1}`, PUBLISH_TOKEN: TOKEN, EDGE_SECRET: secrets.edge, LOG_LEVEL: 'error' })),
  );
  const vars: Record<string, string> =
    worker !== 'edge'
      ? { ORIGINS: JSON.stringify(origins.map((o) => o.url)) }
      : {
          SHARDS: JSON.stringify(origins.map((o) => ({ id: o.shardId, url: o.url }))),
          // The local default domain (wrangler.toml); every client is 127.0.0.1, so no create rate limit.
          DOMAINS: JSON.stringify([{ host: '*', modes: ['path', 'session-id'], createsPerMinute: 0 }]),
          ...benchEdgeVars(secrets),
        };
  const edge = await startBenchEdge(runtime, worker, vars);
  const stopTicker = startTicker(origins);
  const pool = new ClientPool(CLIENT_PROCESSES);
  const name = `${RUNTIME_LABEL[runtime]}, ${worker}`;
  try {
    await waitHealthy(edge);
    const open = (count: number) => pool.tryOpen({ url: edge.url, kind: 'tlcp-ws', count, items: [ITEM], fields: ['n'], readyTimeoutMs: READY_MS });
    const warm = await open(WARMUP);
    if (warm.open !== WARMUP) throw new Error(`${name}: ${warm.open} of ${WARMUP} warm-up sessions opened: ${warm.failed.join('; ')}`);
    await sleep(2_000);
    const pids = edge.workerdPids();
    const result: Held = {
      runtime,
      worker,
      baselineRss: totalResidentBytes(pids),
      baselineFiles: pids.map(openFiles),
      fileLimits: pids.map(openFileLimit),
      steps: [],
      held: WARMUP,
      ending: '',
    };
    log(`${name}: ${WARMUP} warm-up sessions, workerd RSS ${MiB(result.baselineRss)}, open files ${result.baselineFiles.map(n).join(' + ')} (limit ${result.fileLimits.map((l) => (l === null ? '?' : n(l))).join(', ')})`);
    for (let sessions = WARMUP; ; ) {
      // Up to the next multiple of the step, so every run has a figure at the same counts (4,000 among them).
      const count = Math.min((Math.floor(sessions / STEP) + 1) * STEP, MAX) - sessions;
      if (count <= 0) {
        result.ending = `stopped at --max ${n(MAX)}, no refusal or stall`;
        break;
      }
      const opened = await open(count);
      sessions += opened.open;
      const cpu0 = workerdCpu(pids);
      await sleep(STALE_MS + 1_000);
      const cores = (workerdCpu(pids) - cpu0) / ((STALE_MS + 1_000) / 1000);
      const health = await pool.health(STALE_MS);
      const gone = pids.filter((pid) => !isRunning(pid));
      const rss = totalResidentBytes(pids);
      const files = pids.map(openFiles);
      const problems: string[] = [];
      if (gone.length > 0) problems.push(`${gone.length} of ${pids.length} workerd process(es) exited`);
      if (opened.open < count) problems.push(`${n(count - opened.open)} of ${n(count)} refused (${opened.failed.slice(0, 3).join('; ')})`);
      if (health.stalled > 0) problems.push(`${n(health.stalled)} stalled (no update for ${STALE_MS / 1000} s)`);
      if (health.closed > 0) problems.push(`${n(health.closed)} closed (${health.closeReasons.join('; ')})`);
      log(
        `${name}: ${n(sessions)} opened (${n(count - opened.open)} refused), ${n(health.streaming)} streaming, ${n(health.stalled)} stalled, ${n(health.closed)} closed` +
          (gone.length > 0 ? '; workerd exited' : `; workerd RSS ${MiB(rss)}, ${KiB((rss - result.baselineRss) / (sessions - WARMUP))} per session added, ${n(files.reduce((a, b) => a + b, 0))} open files, ${cores.toFixed(2)} core`),
      );
      if (problems.length > 0) {
        result.ending = `adding ${n(count)} to ${n(sessions - opened.open)}: ${problems.join(', ')}`;
        break;
      }
      result.steps.push({ sessions, streaming: health.streaming, rss, perSession: (rss - result.baselineRss) / (sessions - WARMUP), cores, files });
      result.held = sessions;
    }
    log(`${name}: held ${n(result.held)}; ${result.ending}`);
    return result;
  } finally {
    await pool.close();
    stopTicker();
    await edge.stop();
    await Promise.all(origins.map((o) => o.stop()));
  }
}

const results: Held[] = [];
for (const runtime of RUNTIMES) for (const worker of WORKERS) results.push(await holdSessions(runtime, worker));

const loadAtEnd = os.loadavg();
/** The step closest below `sessions` that a run held entirely. */
const stepAt = (r: Held, sessions: number) => r.steps.filter((s) => s.sessions <= Math.min(sessions, r.held)).at(-1);

console.log(`\n${machine()}; load average ${loadAtStart[0].toFixed(2)} at start, ${loadAtEnd[0].toFixed(2)} at end`);
console.log(`WebSocket TLCP sessions, each subscribed (MERGE) to one item ticking every ${TICK_MS / 1000} s; steps of ${n(STEP)} after ${n(WARMUP)} warm-up sessions; ${ORIGINS} origins\n`);
/** Descriptors per session added, all workerd processes together. */
const filesPerSession = (r: Held, step: Step) => step.files.reduce((sum, f, i) => sum + f - r.baselineFiles[i], 0) / (step.sessions - WARMUP);
/** Sessions at which the first workerd process would run out of descriptors, at the growth measured up to `step`. */
function fileCeiling(r: Held, step: Step): number | null {
  const ceilings = step.files.flatMap((f, i) => {
    const limit = r.fileLimits[i];
    const perSession = (f - r.baselineFiles[i]) / (step.sessions - WARMUP);
    return limit === null || perSession <= 0 ? [] : [WARMUP + (limit - r.baselineFiles[i]) / perSession];
  });
  return ceilings.length > 0 ? Math.floor(Math.min(...ceilings)) : null;
}
console.log(
  formatTable(
    ['runtime', 'Worker', 'held streaming', `RSS/session at ${n(AIM_SESSIONS)}`, 'RSS/session at held', 'open files/session', 'file limit reached at', 'workerd CPU at held', 'what ended the run'],
    results.map((r) => {
      const atAim = stepAt(r, AIM_SESSIONS);
      const atHeld = stepAt(r, r.held);
      return [
        RUNTIME_LABEL[r.runtime],
        r.worker,
        n(r.held),
        atAim && atAim.sessions === AIM_SESSIONS ? KiB(atAim.perSession) : '–',
        atHeld ? KiB(atHeld.perSession) : '–',
        atHeld ? filesPerSession(r, atHeld).toFixed(1) : '–',
        atHeld ? `≈ ${n(fileCeiling(r, atHeld) ?? NaN)}` : '–',
        atHeld ? `${atHeld.cores.toFixed(2)} core` : '–',
        r.ending,
      ];
    }),
  ),
);

// Each Worker against the runtime relaying by itself, at the most sessions all of them held, in the same run.
for (const runtime of RUNTIMES) {
  const of = (worker: BenchWorker) => results.find((r) => r.runtime === runtime && r.worker === worker);
  const floor = of('pass-through');
  const present = (['edge', 'minimal-relay'] as const).map(of).filter((r) => r !== undefined);
  if (!floor || present.length === 0) continue;
  const common = Math.min(floor.held, ...present.map((r) => r.held));
  const f = stepAt(floor, common);
  if (!f) continue;
  const parts = present.flatMap((r) => {
    const step = stepAt(r, common);
    return step && step.sessions === f.sessions ? [`${r.worker} ${KiB(step.perSession)} (${(step.perSession / f.perSession).toFixed(2)}×, +${KiB(step.perSession - f.perSession)})`] : [];
  });
  console.log(`${RUNTIME_LABEL[runtime]} at ${n(f.sessions)} sessions, RSS per session: pass-through ${KiB(f.perSession)}; ${parts.join('; ')}`);
}

const npmStart = results.find((r) => r.runtime === 'miniflare' && r.worker === 'edge');
if (npmStart) {
  const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
  const atAim = stepAt(npmStart, AIM_SESSIONS);
  console.log(`\nAims (issue 9), the edge on Miniflare (npm start):`);
  console.log(`  at least ${n(AIM_SESSIONS)} relayed sessions streaming: ${n(npmStart.held)} — ${verdict(npmStart.held >= AIM_SESSIONS)}`);
  if (atAim) {
    console.log(
      `  memory per relayed session halved from the issue's ~${KiB(ISSUE_BYTES_PER_SESSION)}: ${KiB(atAim.perSession)} at ${n(atAim.sessions)} — ` +
        `${verdict(atAim.perSession <= ISSUE_BYTES_PER_SESSION / 2)}`,
    );
  }
}
