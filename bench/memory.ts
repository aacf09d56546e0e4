/**
 * Memory per idle session: origin WS-STREAMING and HTTP-STREAMING sessions against raw `ws` held
 * connections and raw `node:http` held responses.
 *
 *   npm run bench -- memory [--sessions 4000] [--warmup 200]
 *
 * Each server is its own process with the memory probe preloaded (support/memory-probe.ts). A first
 * batch of sessions warms the code paths and pools; then, after forced GCs, the baseline is taken,
 * `--sessions` more are opened and left idle, and the growth is divided by their number: resident
 * set (what the machine pays, socket buffers included) and V8 heap + external (what the JS objects
 * hold, without allocator noise).
 */
import { parseArgs } from 'node:util';
import { ClientPool } from './support/clients.ts';
import type { ClientKind } from './support/load-clients.ts';
import type { MemoryReport } from './support/memory-probe.ts';
import { formatTable, machine } from './support/report.ts';
import { startServer, type ServerSpec } from './support/server-process.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '200' },
  },
  allowPositionals: true,
});
const SESSIONS = Number(args.sessions);
const WARMUP = Number(args.warmup);
const SETTLE_MS = 2000;

const ORIGIN: ServerSpec = { name: 'origin', script: 'origin/main.ts' };
const RAW: ServerSpec = { name: 'raw', script: 'bench/support/raw-server.ts' };

interface PerSession {
  readonly rss: number;
  readonly js: number;
}

const js = (m: MemoryReport) => m.heapUsed + m.external;

async function perSession(spec: ServerSpec, kind: ClientKind): Promise<PerSession> {
  const server = await startServer(spec);
  const clients = new ClientPool(1);
  try {
    await clients.open({ url: server.url, kind, count: WARMUP });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const before = await server.memory();
    await clients.open({ url: server.url, kind, count: SESSIONS });
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await server.memory();
    return { rss: (after.rss - before.rss) / SESSIONS, js: (js(after) - js(before)) / SESSIONS };
  } finally {
    await clients.close();
    await server.stop();
  }
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ratio = (a: number, b: number) => (a / b).toFixed(2);

console.log(`memory: ${SESSIONS.toLocaleString('en-US')} idle sessions after ${WARMUP} warm-up ones, per server process`);
const rows: string[][] = [];
for (const [transport, rawKind, originKind] of [
  ['WebSocket', 'raw-ws', 'tlcp-ws'],
  ['HTTP streaming', 'raw-http', 'tlcp-http'],
] as const) {
  const raw = await perSession(RAW, rawKind);
  const origin = await perSession(ORIGIN, originKind);
  console.log(`  ${transport}: raw ${kb(raw.rss)} RSS, ${kb(raw.js)} JS; origin ${kb(origin.rss)} RSS, ${kb(origin.js)} JS per session`);
  rows.push([transport, kb(raw.rss), kb(origin.rss), ratio(origin.rss, raw.rss), kb(raw.js), kb(origin.js), ratio(origin.js, raw.js)]);
}

console.log(`\n${machine()}\n`);
console.log(formatTable(['transport', 'raw RSS/session', 'origin RSS/session', 'ratio', 'raw heap+ext/session', 'origin heap+ext/session', 'ratio'], rows));
