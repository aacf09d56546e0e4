/**
 * What the edge costs: added latency per streamed update and per control request (p50/p99) against
 * the same origin reached directly, and the CR requests per second one workerd routes, for the
 * pinning modes host, path, session id and learned pin. Real origins, the real Worker in workerd:
 *   node_modules/.bin/tsx bench/edge-latency.ts [samples per measurement, default 300]
 */
import http from 'node:http';
import WebSocket from 'ws';
import { startOrigin } from '../test/support/origin.ts';
import { newSecrets, resolveLocalhostNames, startEdge } from '../test/support/edge.ts';

const samples = Number(process.argv[2] ?? 300);
const TOKEN = 'bench-publish-token';
const secrets = newSecrets();
resolveLocalhostNames();

const env = { PUBLISH_TOKEN: TOKEN, EDGE_SECRET: secrets.edge, LOG_LEVEL: 'error' };
const [b1, b2, opaque] = await Promise.all([
  startOrigin({ ...env, SHARD_ID: 'b1' }),
  startOrigin({ ...env, SHARD_ID: 'b2' }),
  startOrigin({ ...env, SHARD_ID: 'bp', SESSION_ID_STYLE: 'opaque' }),
]);
const edge = await startEdge({
  secrets,
  shards: [b1, b2, opaque].map((o) => ({ id: o.shardId, url: o.url })),
  domains: [
    { host: 'path.localhost', modes: ['path'], shards: ['b1', 'b2'] },
    { host: 'sid.localhost', modes: ['session-id'], shards: ['b1', 'b2'] },
    { host: 'push.localhost', modes: ['host'], shards: ['b1', 'b2'], shardHosts: { 'b1.localhost': 'b1', 'b2.localhost': 'b2' } },
    { host: 'pin.localhost', modes: ['pin'], shards: ['bp'] },
  ],
  vars: { PROBE_INTERVAL_MS: '2000', SNAPSHOT_TTL_MS: '1000' },
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function post(base: string, path: string, body: string): Promise<string> {
  const url = new URL(base + path);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: url.port, path: url.pathname + url.search, method: 'POST', agent, headers: { host: url.host, 'content-type': 'text/plain' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Target {
  readonly name: string;
  /** Where S goes. */
  readonly base: string;
  /** Where CR goes, from CONOK's control link (or the base when the link is `*` or ignored). */
  crBase(conokLink: string): string;
}

const viaEdge = (host: string, follow: boolean): Target => ({
  name: host,
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

async function measure(target: Target) {
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
  // Throughput: heartbeats (routed exactly like control requests) from 32 concurrent callers for 3 s.
  let routed = 0;
  const until = performance.now() + 3_000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        await post(s.cr, `/lightstreamer/heartbeat.txt?LS_protocol=TLCP-2.5.0&LS_session=${s.session}`, '\r\n');
        routed++;
      }
    }),
  );
  s.ws.close();
  return { update, control, rps: routed / 3 };
}

/** The origin holding a session: the balancer chose it, the bench publishes there. */
function originOf(session: string) {
  const shard = /^(b[12])\./.exec(session)?.[1];
  return shard === 'b2' ? b2 : shard === 'b1' ? b1 : opaque;
}

/** The local runtime's own floor: a request the Worker answers itself, routing nothing. */
async function floor() {
  const latency: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await post(edge.url, '/_edge/api/status', '');
    latency.push(performance.now() - t0);
  }
  let answered = 0;
  const until = performance.now() + 3_000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        await post(edge.url, '/_edge/api/status', '');
        answered++;
      }
    }),
  );
  return { latency, rps: answered / 3 };
}

const direct = (o: { url: string; shardId: string }): Target => ({ name: `direct_${o.shardId}`, base: o.url, crBase: () => o.url });
const rows: string[] = [];
const fmt = (n: number) => n.toFixed(2);
try {
  const baseline = await measure(direct(b1));
  const baselineOpaque = await measure(direct(opaque));
  const f = await floor();
  rows.push(`| workerd floor: Worker answers itself (401), no routing | – | – | ${fmt(pct(f.latency, 50))} | ${fmt(pct(f.latency, 99))} | ${f.rps.toFixed(0)} |`);
  rows.push(`| direct to origin | ${fmt(pct(baseline.update, 50))} | ${fmt(pct(baseline.update, 99))} | ${fmt(pct(baseline.control, 50))} | ${fmt(pct(baseline.control, 99))} | ${baseline.rps.toFixed(0)} |`);
  const modes: [string, Target, typeof baseline][] = [
    ['host', viaEdge('push.localhost', true), baseline],
    ['path', viaEdge('path.localhost', true), baseline],
    ['session id', viaEdge('sid.localhost', false), baseline],
    ['learned pin', viaEdge('pin.localhost', false), baselineOpaque],
  ];
  for (const [mode, target, base] of modes) {
    const r = await measure(target);
    const d = (xs: number[], ys: number[], p: number) => fmt(pct(xs, p) - pct(ys, p));
    rows.push(`| edge, ${mode} (added) | +${d(r.update, base.update, 50)} | +${d(r.update, base.update, 99)} | +${d(r.control, base.control, 50)} | +${d(r.control, base.control, 99)} | ${r.rps.toFixed(0)} |`);
  }
  console.log(`\n${samples} samples each, local workerd (wrangler dev), ${new Date().toISOString()}\n`);
  console.log('| path | update p50 ms | update p99 ms | control p50 ms | control p99 ms | CR requests/s |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
} finally {
  agent.destroy();
  await edge.stop();
  await Promise.all([b1, b2, opaque].map((o) => o.stop()));
}
