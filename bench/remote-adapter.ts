/**
 * Remote adapter throughput: updates per second one remote data adapter (the official Node SDK, over
 * ARI) can push through an origin to N sessions, against the same updates published into the
 * origin's built-in bus by `POST /api/publish`, in one run; and the latency the remote adapter adds.
 *
 *   npm run bench -- remote-adapter [--sessions 1000] [--rates 50,100,150,200,250,300,400,500,600,800]
 *                                   [--seconds 4] [--latency-rate 20] [--sources publish,remote]
 *                                   [--profile <dir>]
 *
 * Both setups are the same origin (ADAPTERS_CONF: LiteralBasedProvider metadata, one data adapter
 * FEED: edgepush.FeedAdapter fed by the publish API, or a ROBUST_PROXY_FOR_REMOTE_ADAPTER), the same
 * N WebSocket sessions in two client processes, each subscribed in RAW (no conflation: every update
 * is delivered or counted lost) to one item with fields `t n`; only the source differs, and both
 * sources are processes of their own pacing the same updates in 10 ms slices (support/paced-source.ts).
 * A rate is sustained when at least 99 % of its deliveries arrive and the p99 publish→deliver latency
 * stays under a second; the rates are tried upwards until two in a row are not. Latency: the source's clock
 * against the clients' (one machine: one clock), at a light load (`--latency-rate`) and at the
 * highest rate both sources sustained. `--profile` writes a .cpuprofile per origin.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FEED_ADAPTER_CLASS } from '../origin/adapters/config/adapter-sets.ts';
import { freePort } from '../test/support/ports.ts';
import { ROOT } from '../test/support/process.ts';
import { formatTable, machine } from './support/report.ts';
import { startServer, type ServerProcess } from './support/server-process.ts';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '50,100,150,200,250,300,400,500,600,800' },
    seconds: { type: 'string', default: '4' },
    'latency-rate': { type: 'string', default: '20' },
    sources: { type: 'string', default: 'publish,remote' },
    profile: { type: 'string' },
  },
  allowPositionals: true,
});
const SESSIONS = Number(args.sessions);
const RATES = args.rates.split(',').map(Number);
const SECONDS = Number(args.seconds);
const LATENCY_RATE = Number(args['latency-rate']);
const CLIENT_PROCESSES = 2;
const SAMPLED_SESSIONS = 20;
const ITEM = 'bench';
const SOURCES = new Set(args.sources.split(','));
const PROFILE_DIR = args.profile;

interface Setup {
  readonly label: string;
  readonly origin: ServerProcess;
  setRate(rate: number): Promise<void>;
  /** Updates the source emitted so far. */
  emitted(): Promise<number>;
  close(): Promise<void>;
}

interface Step {
  readonly rate: number;
  /** Updates the source emitted per second of the window, as measured. */
  readonly emittedPerSecond: number;
  readonly delivered: number;
  readonly expected: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpu: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]);

function adaptersXml(dataProvider: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'edgepush-bench-')), 'adapters.xml');
  fs.writeFileSync(
    file,
    `<?xml version="1.0"?>
<adapters_conf id="BENCH">
  <metadata_provider><adapter_class>com.lightstreamer.adapters.metadata.LiteralBasedProvider</adapter_class></metadata_provider>
  <data_provider name="FEED">${dataProvider}</data_provider>
</adapters_conf>
`,
  );
  return file;
}

/** A source process (publish-feed.ts, remote-feed.ts): paced by IPC, counting what it emitted. */
async function sourceProcess(script: string, env: Record<string, string>): Promise<Pick<Setup, 'setRate' | 'emitted'> & { stop(): void }> {
  const child = fork(path.join(import.meta.dirname, 'support', script), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { type: string }) => m.type === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  const ask = (message: object) =>
    new Promise<number>((resolve) => {
      const onMessage = (m: { type: string; n: number }) => {
        if (m.type !== 'emitted') return;
        child.off('message', onMessage);
        resolve(m.n);
      };
      child.on('message', onMessage);
      child.send(message);
    });
  return {
    async setRate(rate) {
      await ask({ rate });
    },
    emitted: () => ask({}),
    stop: () => child.disconnect(),
  };
}

async function publishSetup(): Promise<Setup> {
  const token = 'bench-publish-token-0123456789';
  const conf = adaptersXml(`<adapter_class>${FEED_ADAPTER_CLASS}</adapter_class>`);
  const origin = await startServer({ name: 'origin-publish', script: 'origin/main.ts', env: { ADAPTERS_CONF: conf, PUBLISH_TOKEN: token, LOG_LEVEL: 'error' }, profileDir: PROFILE_DIR });
  const source = await sourceProcess('publish-feed.ts', { ORIGIN_URL: origin.url, PUBLISH_TOKEN: token, ITEM });
  return {
    label: 'POST /api/publish → bus',
    origin,
    ...source,
    async close() {
      source.stop();
      await origin.stop();
    },
  };
}

async function remoteSetup(): Promise<Setup> {
  const [data, notify] = [await freePort(), await freePort()];
  const conf = adaptersXml(
    `<adapter_class>ROBUST_PROXY_FOR_REMOTE_ADAPTER</adapter_class><param name="request_reply_port">${data}</param><param name="notify_port">${notify}</param><param name="interface">127.0.0.1</param>`,
  );
  const origin = await startServer({ name: 'origin-remote', script: 'origin/main.ts', env: { ADAPTERS_CONF: conf, LOG_LEVEL: 'error' }, profileDir: PROFILE_DIR });
  const source = await sourceProcess('remote-feed.ts', { DATA_PORT: String(data), NOTIFY_PORT: String(notify) });
  return {
    label: 'remote adapter (Node SDK, ARI) → bus',
    origin,
    ...source,
    async close() {
      source.stop();
      await origin.stop();
    },
  };
}

class Clients {
  readonly #children: ChildProcess[] = Array.from({ length: CLIENT_PROCESSES }, () =>
    spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'support/feed-clients.ts')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );

  async open(url: string): Promise<void> {
    const share = Math.ceil(SESSIONS / CLIENT_PROCESSES);
    const results = await Promise.all(
      this.#children.map((c, i) =>
        this.#ask<{ open: number; failed: string[] }>(c, { type: 'open', url, count: Math.min(share, SESSIONS - i * share), adapterSet: 'BENCH', dataAdapter: 'FEED', item: ITEM, sample: SAMPLED_SESSIONS / CLIENT_PROCESSES }, 'opened'),
      ),
    );
    const open = results.reduce((s, r) => s + r.open, 0);
    if (open !== SESSIONS) throw new Error(`${open} of ${SESSIONS} sessions opened: ${results.flatMap((r) => r.failed).join('; ')}`);
  }

  /** U lines received so far, and the latencies sampled since the last call. */
  async count(): Promise<{ received: number; latencies: number[] }> {
    const all = await Promise.all(this.#children.map((c) => this.#ask<{ received: number; latencies: number[] }>(c, { type: 'count' }, 'count')));
    return { received: all.reduce((s, a) => s + a.received, 0), latencies: all.flatMap((a) => a.latencies).sort((a, b) => a - b) };
  }

  close(): void {
    for (const c of this.#children) c.disconnect();
  }

  #ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
    return new Promise((resolve) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== answer) return;
        child.off('message', onMessage);
        resolve(m as T);
      };
      child.on('message', onMessage);
      child.send(message);
    });
  }
}

/** One rate: a second to settle, then the window counted; the updates still in flight are waited for. */
async function step(setup: Setup, clients: Clients, rate: number, seconds: number): Promise<Step> {
  await setup.setRate(rate);
  await sleep(1_000);
  const emitted0 = await setup.emitted();
  const before = await clients.count();
  const cpu0 = setup.origin.cpuSeconds();
  const start = performance.now();
  await sleep(seconds * 1000);
  const cpu = (setup.origin.cpuSeconds() - cpu0) / seconds;
  await setup.setRate(0);
  const emitted1 = await setup.emitted();
  const windowSeconds = (performance.now() - start) / 1000;
  const expected = (emitted1 - emitted0) * SESSIONS;
  // The window's updates still on their way (queued in the origin or a socket) count if they arrive soon.
  let after = await clients.count();
  const latencies = [...after.latencies];
  for (let waited = 0; waited < 2_000; waited += 250) {
    await sleep(250);
    const next = await clients.count();
    latencies.push(...next.latencies);
    if (next.received === after.received) break;
    after = next;
  }
  latencies.sort((a, b) => a - b);
  return { rate, emittedPerSecond: (emitted1 - emitted0) / windowSeconds, delivered: after.received - before.received, expected, p50: percentile(latencies, 50), p99: percentile(latencies, 99), cpu };
}

interface Run {
  readonly label: string;
  readonly setup: Setup;
  readonly clients: Clients;
  latency: Step | null;
  readonly steps: Step[];
  done: boolean;
}

const describeStep = (label: string, s: Step) =>
  `  ${label}: ${s.rate} updates/s (${s.emittedPerSecond.toFixed(0)} emitted) → ${s.delivered}/${s.expected} = ${((100 * s.delivered) / s.expected).toFixed(1)}% delivered, p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, origin CPU ${(100 * s.cpu).toFixed(0)}%, ${deliveriesPerCpuSecond(s).toLocaleString('en-US')} deliveries per origin CPU-second`;
const deliveriesPerCpuSecond = (s: Step) => Math.round((s.emittedPerSecond * SESSIONS) / Math.max(s.cpu, 0.01));

/**
 * Both setups stay up, each with its own sessions, and take turns at every rate: whatever else loads
 * the machine meanwhile weighs on both alike. A setup stops climbing at its first rate not sustained.
 */
async function measure(makers: Array<() => Promise<Setup>>): Promise<Run[]> {
  const runs: Run[] = [];
  try {
    for (const make of makers) {
      const setup = await make();
      const clients = new Clients();
      runs.push({ label: setup.label, setup, clients, latency: null, steps: [], done: false });
      await clients.open(setup.origin.url);
    }
    for (const run of runs) run.latency = await step(run.setup, run.clients, LATENCY_RATE, SECONDS);
    for (const rate of RATES) {
      for (const run of runs.filter((r) => !r.done)) {
        const s = await step(run.setup, run.clients, rate, SECONDS);
        run.steps.push(s);
        console.log(describeStep(run.label, s));
        // One rate lost to a burst of other work on the machine does not end the climb; two in a row do.
        run.done = !sustained(s) && run.steps.length > 1 && !sustained(run.steps.at(-2)!);
      }
      if (runs.every((r) => r.done)) break;
    }
    return runs;
  } finally {
    for (const run of runs) {
      run.clients.close();
      await run.setup.close();
    }
  }
}

const sustained = (s: Step) => s.delivered >= 0.99 * s.expected && s.p99 < 1000;
const best = (steps: readonly Step[]) => steps.filter(sustained).at(-1)?.rate ?? 0;

console.log(`remote adapter: ${SESSIONS} sessions (RAW, one item), rates ${RATES.join(', ')} updates/s, ${SECONDS} s per rate; latency at ${LATENCY_RATE} updates/s`);
const runs = await measure([...(SOURCES.has('publish') ? [publishSetup] : []), ...(SOURCES.has('remote') ? [remoteSetup] : [])]);
const ms = (v: number) => `${v.toFixed(2)} ms`;
console.log(`\n${machine()}\n`);
console.log(
  formatTable(
    ['source', `sustained updates/s (× ${SESSIONS} sessions)`, 'deliveries/s', 'origin CPU there', 'deliveries per origin CPU-s there', `p50 / p99 at ${LATENCY_RATE}/s`],
    runs.map((r) => {
      const top = r.steps.filter(sustained).at(-1);
      return [
        r.label,
        best(r.steps).toLocaleString('en-US'),
        (best(r.steps) * SESSIONS).toLocaleString('en-US'),
        top ? `${(100 * top.cpu).toFixed(0)}%` : '-',
        top ? deliveriesPerCpuSecond(top).toLocaleString('en-US') : '-',
        `${ms(r.latency!.p50)} / ${ms(r.latency!.p99)}`,
      ];
    }),
  ),
);
if (runs.length === 2) {
  const [bus, remote] = runs;
  // At the highest rate both sustained: the origin's cost per delivery and the latency the ARI hop adds under load.
  const shared = Math.min(best(bus.steps), best(remote.steps));
  const at = (r: Run) => r.steps.find((s) => s.rate === shared)!;
  const loaded =
    shared > 0
      ? `\nat ${shared} updates/s: deliveries per origin CPU-second remote / publish ${(deliveriesPerCpuSecond(at(remote)) / deliveriesPerCpuSecond(at(bus))).toFixed(2)}; latency added p50 ${ms(at(remote).p50 - at(bus).p50)}, p99 ${ms(at(remote).p99 - at(bus).p99)}`
      : '';
  console.log(
    `\nsustained rate remote / publish: ${(best(remote.steps) / Math.max(1, best(bus.steps))).toFixed(2)}; latency added at ${LATENCY_RATE}/s p50 ${ms(remote.latency!.p50 - bus.latency!.p50)}, p99 ${ms(remote.latency!.p99 - bus.latency!.p99)}${loaded}`,
  );
}
