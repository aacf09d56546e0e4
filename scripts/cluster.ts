/**
 * `npm start`: the whole local cluster on one machine — two origin shards with the demo data and the
 * edge Worker in workerd — with one URL to point clients at.
 *
 * If `redis-server` is installed (or REDIS_URL is set) the shards share one feed through it;
 * otherwise each shard runs the embedded bus and nothing but Node is needed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'node_modules/.bin');
const EDGE_PORT = Number(process.env.EDGE_PORT ?? 8787);
const SHARDS = [
  { id: 's1', port: Number(process.env.SHARD1_PORT ?? 8081) },
  { id: 's2', port: Number(process.env.SHARD2_PORT ?? 8082) },
];
const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6390);

// Fresh secrets per run: nothing guessable is ever listening, even on loopback.
const secret = () => randomBytes(24).toString('base64url');
const ADMIN_SECRET = process.env.ADMIN_SECRET ?? secret();
const EDGE_SECRET = secret();
const COOKIE_SECRET = secret();
const ORIGIN_ADMIN_TOKEN = secret();
const PUBLISH_TOKEN = process.env.PUBLISH_TOKEN ?? secret();

/**
 * Every pinning mode on one edge, one hostname each. Browsers resolve `*.localhost` to loopback by
 * themselves; for other clients map these names to 127.0.0.1 in /etc/hosts.
 */
const LOCAL_DOMAINS = [
  { host: '*', modes: ['path', 'session-id'], note: 'path prefix + session id (default)' },
  { host: 'push.localhost', modes: ['host'], shardHosts: Object.fromEntries(SHARDS.map((s) => [`${s.id}.localhost`, s.id])), note: 'per-shard host names' },
  { host: 'cookie.localhost', modes: ['cookie'], stickySeconds: 3600, note: 'signed sticky cookie' },
  { host: 'ip.localhost', modes: ['ip'], stickySeconds: 3600, note: 'source-IP affinity' },
  { host: 'pin.localhost', modes: ['pin'], note: 'learned session pins' },
  { host: 'partial.localhost', modes: ['partial'], controlLink: 'origin', note: 'only S through the edge' },
];

const children: { name: string; child: ChildProcess }[] = [];
let stopping = false;

function step(message: string): void {
  process.stdout.write(`• ${message}\n`);
}

function start(name: string, command: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (line: string) => (line.trim() ? `[${name}] ${line}\n` : '');
  const relay = (stream: NodeJS.WriteStream) => (chunk: Buffer) =>
    stream.write(chunk.toString('utf8').split('\n').map(prefix).join(''));
  child.stdout!.on('data', relay(process.stdout));
  child.stderr!.on('data', relay(process.stderr));
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`${name} exited (${signal ?? code}); stopping the cluster\n`);
    void shutdown(1);
  });
  children.push({ name, child });
  return child;
}

async function waitFor(url: string, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not answer at ${url} within ${timeoutMs / 1000} s`);
}

async function shutdown(code: number): Promise<never> {
  stopping = true;
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
  process.exit(code);
}

function redisUrl(): string | undefined {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  step(`redis-server found: starting it on 127.0.0.1:${REDIS_PORT} so the shards share one feed`);
  start('redis', 'redis-server', ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', '/dev/null'], {});
  return `redis://127.0.0.1:${REDIS_PORT}`;
}

async function main(): Promise<void> {
  process.once('SIGINT', () => void shutdown(0));
  process.once('SIGTERM', () => void shutdown(0));

  const redis = redisUrl();
  if (!redis) step('no redis-server: each shard runs the embedded bus (set REDIS_URL to share one feed)');

  for (const shard of SHARDS) {
    step(`starting origin ${shard.id} on http://127.0.0.1:${shard.port}`);
    start(shard.id, process.execPath, ['--import', 'tsx', 'origin/main.ts'], {
      PORT: String(shard.port),
      SHARD_ID: shard.id,
      // Only the `partial` domain lets this through: there CR traffic goes straight to the origin.
      CONTROL_LINK: `127.0.0.1:${shard.port}`,
      EDGE_SECRET,
      ADMIN_TOKEN: ORIGIN_ADMIN_TOKEN,
      PUBLISH_TOKEN,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      ...(redis ? { REDIS_URL: redis } : {}),
    });
  }
  await Promise.all(SHARDS.map((s) => waitFor(`http://127.0.0.1:${s.port}/lightstreamer/healthcheck`, `origin ${s.id}`)));
  step('origins answer');

  step(`starting the edge Worker in workerd on http://127.0.0.1:${EDGE_PORT}`);
  const vars: Record<string, string> = {
    SHARDS: JSON.stringify(SHARDS.map((s) => ({ id: s.id, url: `http://127.0.0.1:${s.port}` }))),
    DOMAINS: JSON.stringify(LOCAL_DOMAINS.map(({ note: _, ...domain }) => domain)),
    ADMIN_SECRET,
    EDGE_SECRET,
    COOKIE_SECRET,
    ORIGIN_ADMIN_TOKEN,
  };
  start(
    'edge',
    path.join(BIN, 'wrangler'),
    ['dev', '--ip', '127.0.0.1', '--port', String(EDGE_PORT), '--log-level', 'warn', ...Object.entries(vars).flatMap(([k, v]) => ['--var', `${k}:${v}`])],
    // No network here or in many deployments' CI: skip fetching the Request.cf template.
    { WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  );
  await waitFor(`http://127.0.0.1:${EDGE_PORT}/lightstreamer/healthcheck`, 'the edge', 90_000);

  const edge = `http://127.0.0.1:${EDGE_PORT}`;
  process.stdout.write(
    [
      '',
      `  demo page          ${edge}/`,
      `  edge status page   ${edge}/_edge/status   (admin secret: ${ADMIN_SECRET})`,
      ...SHARDS.map((s) => `  dashboard ${s.id}       http://127.0.0.1:${s.port}/dashboard`),
      `  publish token      ${PUBLISH_TOKEN}`,
      '',
      '  every pinning mode (browsers resolve *.localhost; other clients need /etc/hosts entries):',
      ...LOCAL_DOMAINS.map((d) => `    ${(d.host === '*' ? `http://127.0.0.1:${EDGE_PORT}` : `http://${d.host}:${EDGE_PORT}`).padEnd(36)} ${d.note}`),
      '',
      `ready: ${edge}`,
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});
