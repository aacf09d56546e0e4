/**
 * `npm start`: the whole local cluster on one machine — two origin shards with the demo data and the
 * edge Worker in workerd — with one URL to point clients at.
 *
 * If `redis-server` is installed (or REDIS_URL is set) the shards share one feed through it;
 * otherwise each shard runs the embedded bus and nothing but Node is needed.
 *
 * Once the cluster is up, a process that dies is reported and restarted (scripts/supervisor.ts): kill
 * a shard and watch its clients fail over and the shard come back. Ctrl-C stops everything.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Supervisor } from './supervisor.ts';

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
// Survives a restart of the edge, so that sessions of the session layer do too.
const SESSION_SECRET = process.env.SESSION_SECRET ?? secret();
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
  { host: 'session.localhost', modes: ['session'], note: 'sessions terminated at the edge: they outlive their shard' },
];

const supervisor = new Supervisor({
  report: (line) => process.stdout.write(`${line}\n`),
  launchFailed: (name, cause) => {
    process.stderr.write(`${name} exited (${cause}) before it was up; stopping the cluster\n`);
    void shutdown(1);
  },
});
let stopping: Promise<never> | undefined;

function step(message: string): void {
  process.stdout.write(`• ${message}\n`);
}

/** Whether `url` answers at all, or answers 200 when `okOnly`. */
async function answers(url: string, okOnly: boolean): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.ok || !okOnly;
  } catch {
    return false;
  }
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(2_000, () => done(false));
  });
}

async function upWithin(name: string, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} was not up within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([supervisor.whenUp(name), late]);
  } finally {
    clearTimeout(timer);
  }
}

function shutdown(code: number): Promise<never> {
  stopping ??= supervisor.stop().then(() => process.exit(code));
  return stopping;
}

function redisUrl(): string | undefined {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  if (spawnSync('redis-server', ['--version']).status !== 0) return undefined;
  step(`redis-server found: starting it on 127.0.0.1:${REDIS_PORT} so the shards share one feed`);
  supervisor.start({
    name: 'redis',
    command: 'redis-server',
    args: ['--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', '/dev/null'],
    env: {},
    isUp: () => acceptsTcp(REDIS_PORT),
  });
  return `redis://127.0.0.1:${REDIS_PORT}`;
}

async function main(): Promise<void> {
  // A terminal's Ctrl-C reaches npm and this process both, and npm forwards it once more: one stop.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void shutdown(0));

  const redis = redisUrl();
  if (!redis) step('no redis-server: each shard runs the embedded bus (set REDIS_URL to share one feed)');

  for (const shard of SHARDS) {
    step(`starting origin ${shard.id} on http://127.0.0.1:${shard.port}`);
    supervisor.start({
      name: shard.id,
      command: process.execPath,
      args: ['--import', 'tsx', 'origin/main.ts'],
      env: {
        PORT: String(shard.port),
        SHARD_ID: shard.id,
        // Only the `partial` domain lets this through: there CR traffic goes straight to the origin.
        CONTROL_LINK: `127.0.0.1:${shard.port}`,
        EDGE_SECRET,
        ADMIN_TOKEN: ORIGIN_ADMIN_TOKEN,
        PUBLISH_TOKEN,
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
        ...(redis ? { REDIS_URL: redis } : {}),
      },
      isUp: () => answers(`http://127.0.0.1:${shard.port}/lightstreamer/healthcheck`, true),
    });
  }
  await Promise.all(SHARDS.map((s) => upWithin(s.id, 60_000)));
  step('origins answer');

  step(`starting the edge Worker in workerd on http://127.0.0.1:${EDGE_PORT}`);
  const vars: Record<string, string> = {
    SHARDS: JSON.stringify(SHARDS.map((s) => ({ id: s.id, url: `http://127.0.0.1:${s.port}` }))),
    DOMAINS: JSON.stringify(LOCAL_DOMAINS.map(({ note: _, ...domain }) => domain)),
    ADMIN_SECRET,
    EDGE_SECRET,
    COOKIE_SECRET,
    SESSION_SECRET,
    ORIGIN_ADMIN_TOKEN,
  };
  const healthcheck = `http://127.0.0.1:${EDGE_PORT}/lightstreamer/healthcheck`;
  supervisor.start({
    name: 'edge',
    command: process.execPath,
    args: ['--import', 'tsx', 'scripts/edge.ts'],
    // Vars and secrets through the environment: never on a command line that `ps` shows.
    env: { ...vars, EDGE_PORT: String(EDGE_PORT), WRANGLER_SEND_METRICS: 'false' },
    // The edge process is up when it answers; 503 only says no shard is healthy right now.
    isUp: () => answers(healthcheck, false),
  });
  await upWithin('edge', 90_000);
  const deadline = Date.now() + 30_000;
  while (!(await answers(healthcheck, true))) {
    if (Date.now() > deadline) throw new Error(`the edge found no healthy shard within 30 s (${healthcheck})`);
    await new Promise((r) => setTimeout(r, 200));
  }

  const edge = `http://127.0.0.1:${EDGE_PORT}`;
  process.stdout.write(
    [
      '',
      `  demo page          ${edge}/`,
      `  edge status page   ${edge}/_edge/status   (admin secret: ${ADMIN_SECRET})`,
      ...SHARDS.map((s) => `  dashboard ${s.id}       http://127.0.0.1:${s.port}/dashboard`),
      `  publish token      ${PUBLISH_TOKEN}`,
      `  watch a failover   kill -9 ${supervisor.pidOf(SHARDS[0].id)}   (shard ${SHARDS[0].id}; it is restarted)`,
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
