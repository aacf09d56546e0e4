/**
 * What the edge costs, in both local runtimes against the same origins reached directly: latency per
 * streamed update and per control request (p50/p99), and the CR requests per second routed, for the
 * pinning modes host, path, session id and learned pin. The same Worker with the same vars runs in
 * workerd on Miniflare (what `npm start` and the tests run) and under `wrangler dev` (its dev proxy in
 * front of workerd), one after the other; every figure is also given as a ratio to the direct path.
 *   npm run bench -- edge-latency [--samples 300] [--runtimes miniflare,wrangler-dev]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { startOrigin } from '../test/support/origin.ts';
import { newSecrets, resolveLocalhostNames } from '../test/support/edge.ts';
import { benchEdgeVars, RUNTIME_LABEL, startBenchEdge, type BenchEdge, type Runtime } from './support/bench-edge.ts';
import { keepAlivePoster } from './support/keep-alive-post.ts';
import { cpuSeconds } from './support/process-cpu.ts';
import { formatTable, machine } from './support/report.ts';

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '300' },
    runtimes: { type: 'string', default: 'miniflare,wrangler-dev' },
  },
});
const samples = Number(args.samples);
const runtimes = args.runtimes.split(',') as Runtime[];
for (const r of runtimes) if (!(r in RUNTIME_LABEL)) throw new Error(`unknown runtime ${r}; one of ${Object.keys(RUNTIME_LABEL).join(', ')}`);
/** Concurrent callers of the throughput measurement, and how long it lasts. */
const CALLERS = 32;
const THROUGHPUT_MS = 3_000;
/** Issue 9's aims for the edge `npm start` runs, against the direct path. */
const AIM_CONTROL_P50_RATIO = 6;
const AIM_RPS_RATIO = 0.2;

const TOKEN = 'bench-publish-token';
const secrets = newSecrets();
resolveLocalhostNames();
const loadAtStart = os.loadavg();

const env = { PUBLISH_TOKEN: TOKEN, EDGE_SECRET: secrets.edge, LOG_LEVEL: 'error' };
const [b1, b2, opaque] = await Promise.all([
  startOrigin({ ...env, SHARD_ID: 'b1' }),
  startOrigin({ ...env, SHARD_ID: 'b2' }),
  startOrigin({ ...env, SHARD_ID: 'bp', SESSION_ID_STYLE: 'opaque' }),
]);
const edgeVars: Record<string, string> = {
  SHARDS: JSON.stringify([b1, b2, opaque].map((o) => ({ id: o.shardId, url: o.url }))),
  DOMAINS: JSON.stringify([
    { host: 'path.localhost', modes: ['path'], shards: ['b1', 'b2'] },
    { host: 'sid.localhost', modes: ['session-id'], shards: ['b1', 'b2'] },
    { host: 'push.localhost', modes: ['host'], shards: ['b1', 'b2'], shardHosts: { 'b1.localhost': 'b1', 'b2.localhost': 'b2' } },
    { host: 'pin.localhost', modes: ['pin'], shards: ['bp'] },
  ]),
  ...benchEdgeVars(secrets),
};

const { post, close: closeConnections } = keepAlivePoster(64);

interface Target {
  readonly name: string;
  /** Where S goes. */
  readonly base: string;
  /** Where CR goes, from CONOK's control link (or the base when the link is `*` or ignored). */
  crBase(conokLink: string): string;
}

const viaEdge = (edge: BenchEdge, host: string, follow: boolean): Target => ({
  name: `${edge.runtime}_${host}`,
  base: edge.urlFor(host),
  crBase: (link) => (follow && link !== '*' ? `http://${link}` : edge.urlFor(host)),
});

async function open(target: Target) {
  const created = await post(target.base, '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false\r\n');
  const conok = /^CONOK,([^,]+),\d+,\d+,([^\r]+)/m.exec(created);
  if (!conok) throw new Error(`${target.name}: ${created}`);
  const [, session, link] = conok;
  const cr = target.crBase(link);
  const lines: { at: number; line: string }[] = [];
  const ws = new WebSocket(`${cr.replace(/^http/, 'ws')}/lightstreamer`, 'TLCP-2.5.0.lightstreamer.com', { perMessageDeflate: false });
  ws.on('message', (d) => {
    const at = performance.now();
    for (const line of String(d).split('\r\n')) if (line) lines.push({ at, line });
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('wsok');
  ws.send(`bind_session\r\nLS_session=${session}&LS_send_sync=false`);
  const control = (body: string) => post(cr, `/lightstreamer/control.txt?LS_protocol=TLCP-2.5.0&LS_session=${session}`, body);
  await control(`LS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=lat_${target.name}&LS_schema=t&LS_data_adapter=FEED&LS_snapshot=false\r\n`);
  await waitFor(() => lines.some((l) => l.line.startsWith('SUBOK,1'))).catch((err: Error) => {
    throw new Error(`${target.name}: no SUBOK via ${cr}: ${lines.map((l) => l.line).join(' | ')} (${err.message})`);
  });
  return { session, cr, lines, ws, control };
}

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};

interface Throughput {
  readonly rps: number;
  /** CPU milliseconds workerd spent per request (null when no workerd was involved). */
  readonly workerdCpuMs: number | null;
}

/**
 * Requests per second `call` completes with CALLERS callers, each waiting for its answer before the
 * next, and what each cost workerd: a figure near 1,000 ms per second of wall time means workerd's one
 * thread was the limit.
 */
async function throughput(call: () => Promise<unknown>, edge: BenchEdge | null): Promise<Throughput> {
  const pids = edge?.workerdPids() ?? [];
  const cpu = () => pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
  let done = 0;
  const cpuBefore = cpu();
  const until = performance.now() + THROUGHPUT_MS;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return { rps: done / (THROUGHPUT_MS / 1000), workerdCpuMs: edge ? ((cpu() - cpuBefore) * 1000) / done : null };
}

interface Measured extends Throughput {
  readonly update: number[] | null;
  readonly control: number[];
}

async function measure(target: Target, edge: BenchEdge | null): Promise<Measured> {
  const s = await open(target);
  const origin = originOf(s.session);
  const update: number[] = [];
  for (let i = 0; i < samples; i++) {
    const sent = performance.now();
    await fetch(`${origin.url}/api/publish`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ item: `lat_${target.name}`, fields: { t: String(i) } }) }).then((r) => r.arrayBuffer());
    await waitFor(() => s.lines.some((l) => l.line === `U,1,1,${i}`));
    update.push(s.lines.find((l) => l.line === `U,1,1,${i}`)!.at - sent);
  }
  const control: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const answer = await s.control(`LS_reqId=${i + 2}&LS_op=reconf&LS_subId=1&LS_requested_max_frequency=unlimited\r\n`);
    control.push(performance.now() - t0);
    if (!answer.startsWith('REQ')) throw new Error(answer);
  }
  // Heartbeats are routed exactly like control requests.
  const routed = await throughput(() => post(s.cr, `/lightstreamer/heartbeat.txt?LS_protocol=TLCP-2.5.0&LS_session=${s.session}`, '\r\n'), edge);
  s.ws.close();
  return { update, control, ...routed };
}

/** The origin holding a session: the balancer chose it, the bench publishes there. */
function originOf(session: string) {
  const shard = /^(b[12])\./.exec(session)?.[1];
  return shard === 'b2' ? b2 : shard === 'b1' ? b1 : opaque;
}

/** The runtime's own floor: a request the Worker answers itself (401), routing nothing. */
async function floor(edge: BenchEdge): Promise<Measured> {
  const control: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await post(edge.url, '/_edge/api/status', '');
    control.push(performance.now() - t0);
  }
  return { update: null, control, ...(await throughput(() => post(edge.url, '/_edge/api/status', ''), edge)) };
}

const direct = (o: { url: string; shardId: string }): Target => ({ name: `direct_${o.shardId}`, base: o.url, crBase: () => o.url });
const ms = (n: number) => `${n.toFixed(2)} ms`;
const times = (n: number) => `${n.toFixed(2)}×`;
const MODES = [
  ['host', 'push.localhost', true],
  ['path', 'path.localhost', true],
  ['session id', 'sid.localhost', false],
  ['learned pin', 'pin.localhost', false],
] as const;

interface Row {
  readonly runtime: Runtime | null;
  readonly path: string;
  readonly r: Measured;
  /** The direct measurement this one is compared with (the same origin's session id style). */
  readonly base: Measured;
}
const rows: Row[] = [];

try {
  const baseline = await measure(direct(b1), null);
  const baselineOpaque = await measure(direct(opaque), null);
  rows.push({ runtime: null, path: 'direct to origin', r: baseline, base: baseline });
  for (const runtime of runtimes) {
    const edge = await startBenchEdge(runtime, 'edge', edgeVars);
    try {
      rows.push({ runtime, path: 'Worker answers itself (401), no routing', r: await floor(edge), base: baseline });
      for (const [mode, host, follow] of MODES) {
        rows.push({ runtime, path: `edge, mode ${mode}`, r: await measure(viaEdge(edge, host, follow), edge), base: mode === 'learned pin' ? baselineOpaque : baseline });
      }
    } finally {
      await edge.stop();
    }
  }
  const loadAtEnd = os.loadavg();
  console.log(`\n${samples} samples each; ${machine()}; load average ${loadAtStart[0].toFixed(2)} at start, ${loadAtEnd[0].toFixed(2)} at end\n`);
  console.log(
    formatTable(
      ['runtime', 'path', 'update p50', 'update p99', 'control p50', 'control p99', 'CR requests/s', 'update p50 ÷ direct', 'control p50 ÷ direct', 'requests/s ÷ direct', 'workerd CPU/request (busy)'],
      rows.map(({ runtime, path, r, base }) => [
        runtime ? RUNTIME_LABEL[runtime] : '–',
        path,
        r.update ? ms(pct(r.update, 50)) : '–',
        r.update ? ms(pct(r.update, 99)) : '–',
        ms(pct(r.control, 50)),
        ms(pct(r.control, 99)),
        r.rps.toFixed(0),
        r.update && runtime ? times(pct(r.update, 50) / pct(base.update!, 50)) : '–',
        runtime ? times(pct(r.control, 50) / pct(base.control, 50)) : '–',
        runtime ? times(r.rps / base.rps) : '–',
        r.workerdCpuMs === null ? '–' : `${ms(r.workerdCpuMs)} (${((r.workerdCpuMs * r.rps) / 1000).toFixed(2)} core)`,
      ]),
    ),
  );
  const edgeRows = rows.filter((row) => row.runtime === 'miniflare' && row.path.startsWith('edge'));
  if (edgeRows.length > 0) {
    const worstControl = Math.max(...edgeRows.map((row) => pct(row.r.control, 50) / pct(row.base.control, 50)));
    const worstRps = Math.min(...edgeRows.map((row) => row.r.rps / row.base.rps));
    const verdict = (met: boolean) => (met ? 'met' : 'NOT met');
    console.log(`\nAims (issue 9), the edge on Miniflare (npm start), worst of the four modes:`);
    console.log(`  control p50 at most ${AIM_CONTROL_P50_RATIO}× the direct path: ${times(worstControl)} — ${verdict(worstControl <= AIM_CONTROL_P50_RATIO)}`);
    console.log(`  CR requests/s at least ${AIM_RPS_RATIO}× the direct path: ${times(worstRps)} — ${verdict(worstRps >= AIM_RPS_RATIO)}`);
  }
} finally {
  closeConnections();
  await Promise.all([b1, b2, opaque].map((o) => o.stop()));
}
