/**
 * Fan-out: updates delivered per server CPU-second, for N WebSocket sessions each subscribed (MERGE)
 * to the same few items, against a raw `ws` server writing one pre-framed buffer per update to
 * every socket, measured in the same run the same way.
 *
 *   npm run bench -- fanout [--sessions 100,1000,5000] [--rate 60000] [--seconds 9] [--windows 3]
 *                           [--write-delay 5] [--profile DIR]
 *
 * Every server is its own process; the clients live in other processes; a server's CPU is its
 * utime+stime from /proc over the measurement window, after a warm-up at the same load. The publish
 * rate is chosen so that every N sees the same number of deliveries per second (`--rate`), well
 * below what one core can push, so all three servers do the same work and the figure compares
 * their cost of doing it. The measured time is cut in windows and the median window reported, so a
 * burst of unrelated load on the machine moves one window, not the figure. `--profile DIR` writes a
 * V8 CPU profile of each origin run (open it in Chrome DevTools or speedscope).
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { ClientPool } from './support/clients.ts';
import { startServer, type ServerProcess, type ServerSpec } from './support/server-process.ts';
import { formatTable, machine } from './support/report.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '100,1000,5000' },
    rate: { type: 'string', default: '60000' },
    seconds: { type: 'string', default: '9' },
    windows: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '3' },
    'write-delay': { type: 'string', default: '5' },
    profile: { type: 'string' },
  },
  allowPositionals: true,
});

const SESSIONS = args.sessions.split(',').map(Number);
const DELIVERIES_PER_SECOND = Number(args.rate);
const MEASURE_S = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
const WINDOWS = Number(args.windows);
const WRITE_DELAY_MS = args['write-delay'];
const TOKEN = 'bench-publish-token';
const ITEMS = ['fan1', 'fan2', 'fan3', 'fan4'];
const FIELDS = ['bid', 'ask', 'last', 'time'];

interface Measurement {
  readonly cpuSeconds: number;
  readonly delivered: number;
  readonly expected: number;
  /** Median over the windows. */
  readonly perCpuSecond: number;
  /** (best - worst) / median window: how much the machine's other load moved the figure. */
  readonly spread: number;
}

const servers: Array<{ label: string; spec: ServerSpec; client: 'raw-ws' | 'tlcp-ws' }> = [
  { label: 'raw ws', spec: { name: 'raw', script: 'bench/support/raw-server.ts', env: { RAW_ITEMS: ITEMS.join(' ') } }, client: 'raw-ws' },
  { label: 'origin', spec: { name: 'origin', script: 'origin/main.ts', env: { PUBLISH_TOKEN: TOKEN, WRITE_DELAY_MS: '0' } }, client: 'tlcp-ws' },
  {
    label: `origin, ${WRITE_DELAY_MS} ms batching`,
    spec: { name: 'origin-batched', script: 'origin/main.ts', env: { PUBLISH_TOKEN: TOKEN, WRITE_DELAY_MS } },
    client: 'tlcp-ws',
  },
];

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
let tick = 0;

/** One publish request: an update of every item, all fields changed, as a quote feed sends them. */
async function publish(url: string): Promise<void> {
  try {
    await publishOnce(url);
  } catch (err) {
    // A keep-alive connection the server closed just as it was reused: the request never arrived.
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
    await publishOnce(url);
  }
}

function publishOnce(url: string): Promise<void> {
  tick++;
  const price = (n: number) => (100 + ((tick * 7 + n * 13) % 1000) / 100).toFixed(2);
  const body = JSON.stringify(
    ITEMS.map((item, i) => ({ item, fields: { bid: price(i), ask: price(i + 1), last: price(i + 2), time: String(Date.now()) } })),
  );
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/api/publish`,
      { method: 'POST', agent, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('error', reject);
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`publish: HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Publishes at `perSecond` requests a second for `seconds`, on a fixed schedule; resolves with the count. */
async function publishFor(url: string, perSecond: number, seconds: number): Promise<number> {
  const period = 1000 / perSecond;
  const start = performance.now();
  const total = Math.round(perSecond * seconds);
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const wait = start + k * period - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(publish(url));
    if (inFlight.length >= 64) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  return total;
}

/**
 * Waits for the last publish's fan-out to reach the clients (one request is 4 × N deliveries: cut
 * mid-way, it would move a window's count by up to a tenth), so windows start and end quiet.
 */
async function settled(clients: ClientPool): Promise<number> {
  let last = await clients.received();
  for (let stable = 0, waited = 0; stable < 2 && waited < 2000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await clients.received();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
  return last;
}

/** Warm-up, then `WINDOWS` measured windows at the same load; the median window stands, spread shown. */
async function measure(server: ServerProcess, clients: ClientPool, sessions: number): Promise<Measurement> {
  const requestsPerSecond = DELIVERIES_PER_SECOND / (sessions * ITEMS.length);
  await publishFor(server.url, requestsPerSecond, WARMUP_S);
  await settled(clients);
  const windows: Measurement[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    const cpu0 = server.cpuSeconds();
    const received0 = await clients.received();
    const requests = await publishFor(server.url, requestsPerSecond, MEASURE_S / WINDOWS);
    const delivered = (await settled(clients)) - received0;
    const cpuSeconds = server.cpuSeconds() - cpu0;
    windows.push({ cpuSeconds, delivered, expected: requests * ITEMS.length * sessions, perCpuSecond: delivered / cpuSeconds, spread: 0 });
  }
  windows.sort((a, b) => a.perCpuSecond - b.perCpuSecond);
  const median = windows[Math.floor(windows.length / 2)];
  const sum = (f: (m: Measurement) => number) => windows.reduce((total, m) => total + f(m), 0);
  return {
    cpuSeconds: sum((m) => m.cpuSeconds),
    delivered: sum((m) => m.delivered),
    expected: sum((m) => m.expected),
    perCpuSecond: median.perCpuSecond,
    spread: (windows.at(-1)!.perCpuSecond - windows[0].perCpuSecond) / median.perCpuSecond,
  };
}

async function run(sessions: number, entry: (typeof servers)[number]): Promise<Measurement> {
  const server = await startServer({
    ...entry.spec,
    profileDir: args.profile && entry.spec.name !== 'raw' ? `${args.profile}/${entry.spec.name}-${sessions}` : undefined,
  });
  // One client process per ~2,500 sockets keeps each one's event loop well ahead of its share.
  const clients = new ClientPool(Math.max(1, Math.ceil(sessions / 2500)));
  try {
    await clients.open({ url: server.url, kind: entry.client, count: sessions, items: ITEMS, fields: FIELDS });
    return await measure(server, clients, sessions);
  } finally {
    await clients.close();
    await server.stop();
  }
}

const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
const ratio = (v: number) => v.toFixed(2);

console.log(`fan-out: ${DELIVERIES_PER_SECOND.toLocaleString('en-US')} deliveries/s at every N, ${ITEMS.length} items × ${FIELDS.length} fields per session, ${WARMUP_S} s warm-up + ${WINDOWS} windows over ${MEASURE_S} s measured per server`);
const rows: string[][] = [];
for (const sessions of SESSIONS) {
  const results = new Map<string, Measurement>();
  for (const entry of servers) {
    const m = await run(sessions, entry);
    results.set(entry.label, m);
    console.log(
      `  N=${sessions} ${entry.label}: ${fmt(m.delivered)} of ${fmt(m.expected)} delivered in ${m.cpuSeconds.toFixed(2)} CPU-s → median window ${fmt(m.perCpuSecond)}/CPU-s (spread ${(100 * m.spread).toFixed(0)}%)`,
    );
  }
  const [raw, plain, batched] = servers.map((s) => results.get(s.label)!);
  const delivered = (m: Measurement) => `${((100 * m.delivered) / m.expected).toFixed(1)}%`;
  rows.push([
    fmt(sessions),
    fmt(raw.perCpuSecond),
    fmt(plain.perCpuSecond),
    ratio(plain.perCpuSecond / raw.perCpuSecond),
    fmt(batched.perCpuSecond),
    ratio(batched.perCpuSecond / raw.perCpuSecond),
    `${delivered(raw)} / ${delivered(plain)} / ${delivered(batched)}`,
    [raw, plain, batched].map((m) => `${(100 * m.spread).toFixed(0)}%`).join(' / '),
  ]);
}

console.log(`\n${machine()}\n`);
console.log(
  formatTable(
    ['sessions', 'raw ws upd/CPU-s', 'origin upd/CPU-s', 'ratio', `origin ${WRITE_DELAY_MS} ms batch upd/CPU-s`, 'ratio', 'delivered raw / origin / batched', 'window spread'],
    rows,
  ),
);
agent.destroy();
