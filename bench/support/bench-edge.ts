/**
 * A Worker under measurement in one of the two local runtimes, configured by one generated
 * wrangler.toml so both run the same code with the same vars:
 * - `miniflare`: scripts/local-edge.ts, what `npm start`, `npm run edge` and the tests run (workerd
 *   listening itself, a child of this process);
 * - `wrangler-dev`: `wrangler dev` (what `npm run edge:wrangler` runs), its dev proxy in front of the
 *   Worker's workerd.
 * The Worker is the edge (worker/index.ts, with the repository's Durable Object bindings and
 * migrations, read from its wrangler.toml), the minimal relay (support/minimal-relay-worker.ts: two sockets forwarding frames in
 * JavaScript, nothing else) or the pass-through (support/pass-through-worker.ts), which hands every
 * WebSocket upgrade to an origin and returns the origin's 101: the runtime relays that socket by itself.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { startLocalEdge } from '../../scripts/local-edge.ts';
import { freePort } from '../../test/support/ports.ts';
import type { EdgeSecrets } from '../../test/support/edge.ts';
import { ROOT, spawnManaged } from '../../test/support/process.ts';
import { descendantsNamed } from './process-resources.ts';

export type Runtime = 'miniflare' | 'wrangler-dev';
export type BenchWorker = 'edge' | 'minimal-relay' | 'pass-through';

export const RUNTIME_LABEL: Readonly<Record<Runtime, string>> = {
  miniflare: 'Miniflare (npm start)',
  'wrangler-dev': 'wrangler dev',
};

export interface BenchEdge {
  readonly runtime: Runtime;
  readonly worker: BenchWorker;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The same listener under a `*.localhost` name (test/support/edge.ts `resolveLocalhostNames`). */
  urlFor(hostname: string): string;
  /** The workerd processes this runtime started (wrangler dev's proxy included), for their memory and CPU. */
  workerdPids(): number[];
  /** Miniflare, when asked for: the port of workerd's V8 inspector (support/isolate-heap.ts). */
  readonly inspectorPort: number | null;
  stop(): Promise<void>;
}

export interface BenchEdgeOptions {
  /** Miniflare only: open workerd's V8 inspector, for the isolate's heap. */
  readonly inspector?: boolean;
}

const WRANGLER = path.join(ROOT, 'node_modules/.bin/wrangler');
const ENTRY: Readonly<Record<BenchWorker, string>> = {
  edge: path.join(ROOT, 'worker/index.ts'),
  'minimal-relay': path.join(ROOT, 'bench/support/minimal-relay-worker.ts'),
  'pass-through': path.join(ROOT, 'bench/support/pass-through-worker.ts'),
};

/** What every bench's edge is given beside its SHARDS and DOMAINS: the documented probe timing and the secrets. */
export function benchEdgeVars(secrets: EdgeSecrets): Record<string, string> {
  return {
    PROBE_INTERVAL_MS: '2000',
    SNAPSHOT_TTL_MS: '1000',
    ADMIN_SECRET: secrets.admin,
    COOKIE_SECRET: secrets.cookie,
    EDGE_SECRET: secrets.edge,
    ORIGIN_ADMIN_TOKEN: secrets.originAdmin,
    SESSION_SECRET: secrets.session,
  };
}

export async function startBenchEdge(runtime: Runtime, worker: BenchWorker, vars: Readonly<Record<string, string>>, options: BenchEdgeOptions = {}): Promise<BenchEdge> {
  if (options.inspector && runtime !== 'miniflare') throw new Error('the inspector is only opened on Miniflare');
  const port = await freePort();
  const inspectorPort = options.inspector ? await freePort() : null;
  const dir = await mkdtemp(path.join(os.tmpdir(), `edgepush-bench-${runtime}-`));
  const config = path.join(dir, 'wrangler.toml');
  await writeFile(config, wranglerToml(worker, vars));
  const started = runtime === 'miniflare' ? await startMiniflare(config, port, inspectorPort) : await startWranglerDev(config, port, dir);
  return {
    runtime,
    worker,
    port,
    url: `http://127.0.0.1:${port}`,
    urlFor: (hostname) => `http://${hostname}:${port}`,
    workerdPids: started.workerdPids,
    inspectorPort,
    async stop() {
      await started.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The repository's wrangler.toml for the given entry point, with `vars` as its only vars. */
function wranglerToml(worker: BenchWorker, vars: Readonly<Record<string, string>>): string {
  const repo = unstable_getMiniflareWorkerOptions(path.join(ROOT, 'wrangler.toml')).workerOptions;
  const lines = [
    `name = "edgepush-bench-${worker}"`,
    `main = ${JSON.stringify(ENTRY[worker])}`,
    `compatibility_date = ${JSON.stringify(repo.compatibilityDate)}`,
    `compatibility_flags = ${JSON.stringify(repo.compatibilityFlags ?? [])}`,
    '[vars]',
    ...Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
  ];
  if (worker === 'edge') lines.push(objectSections());
  lines.push('[dev]', 'enable_containers = false');
  return `${lines.join('\n')}\n`;
}

/**
 * The repository's Durable Object bindings and migrations, as wrangler.toml writes them (every
 * section from the first binding up to `[dev]`), so the bench's edge has every object the Worker uses.
 * The container's image is a path relative to the repository: this file is written elsewhere.
 */
function objectSections(): string {
  const toml = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8');
  const start = toml.indexOf('[[durable_objects.bindings]]');
  const end = toml.indexOf('\n[dev]');
  if (start < 0 || end < start) throw new Error('wrangler.toml: expected its Durable Object bindings and migrations before [dev]');
  return toml
    .slice(start, end)
    .trim()
    .replace(/^image = "(\.[^"]*)"$/m, (_, image: string) => `image = ${JSON.stringify(path.join(ROOT, image))}`);
}

interface Started {
  workerdPids(): number[];
  stop(): Promise<void>;
}

async function startMiniflare(config: string, port: number, inspectorPort: number | null): Promise<Started> {
  const before = new Set(descendantsNamed(process.pid, 'workerd'));
  const edge = await startLocalEdge({ port, config, ...(inspectorPort === null ? {} : { inspectorPort }) });
  // Miniflare spawns one workerd; anything that was there before belongs to another runtime.
  const pids = descendantsNamed(process.pid, 'workerd').filter((pid) => !before.has(pid));
  return { workerdPids: () => pids, stop: () => edge.stop() };
}

async function startWranglerDev(config: string, port: number, dir: string): Promise<Started> {
  const inspectorPort = await freePort();
  const proc = spawnManaged(
    WRANGLER,
    ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--persist-to', path.join(dir, 'state'), '--log-level', 'error', '--show-interactive-dev-session=false'],
    { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: '1' },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`wrangler dev exited with ${proc.child.exitCode}:\n${proc.output()}`);
    // Any HTTP answer will do: the edge answers 503 until its registry has seen a healthy shard.
    const answered = await fetch(`http://127.0.0.1:${port}/lightstreamer/healthcheck`).then(
      (res) => res.arrayBuffer().then(() => true),
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) throw new Error(`wrangler dev did not answer within 60 s:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { workerdPids: () => descendantsNamed(proc.child.pid!, 'workerd'), stop: () => proc.stop() };
}
