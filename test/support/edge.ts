import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { ROOT, spawnManaged, type Managed } from './process.ts';

export interface EdgeShard {
  readonly id: string;
  readonly url: string;
  readonly weight?: number;
}

export interface EdgeOptions {
  readonly shards: readonly EdgeShard[];
  /** The DOMAINS var (see worker/config.ts). */
  readonly domains: readonly Record<string, unknown>[];
  readonly vars?: Record<string, string>;
}

export interface EdgeHandle extends Managed {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The same edge under another loopback name: http://<name>:<port> (see `resolveLocalhostNames`). */
  urlFor(hostname: string): string;
  readonly secrets: { readonly admin: string; readonly cookie: string; readonly edge: string; readonly originAdmin: string };
  /** fetch of an admin endpoint with the admin secret. */
  admin(pathname: string, init?: RequestInit): Promise<Response>;
}

const WRANGLER = path.join(ROOT, 'node_modules/.bin/wrangler');

/**
 * Starts the real Worker in workerd (`wrangler dev`) with a generated configuration: the repo's
 * wrangler.toml bindings, the given shards and domains, fresh secrets, its own persistence directory
 * (Durable Object state never leaks between files) and its own inspector port (files run in parallel).
 */
export async function startEdge(options: EdgeOptions): Promise<EdgeHandle> {
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgepush-edge-'));
  const secret = () => Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  const secrets = { admin: secret(), cookie: secret(), edge: secret(), originAdmin: secret() };
  const vars: Record<string, string> = {
    SHARDS: JSON.stringify(options.shards),
    DOMAINS: JSON.stringify(options.domains),
    PROBE_INTERVAL_MS: '500',
    SNAPSHOT_TTL_MS: '300',
    ADMIN_SECRET: secrets.admin,
    COOKIE_SECRET: secrets.cookie,
    EDGE_SECRET: secrets.edge,
    ORIGIN_ADMIN_TOKEN: secrets.originAdmin,
    ...options.vars,
  };
  const config = path.join(dir, 'wrangler.toml');
  await writeFile(
    config,
    [
      'name = "edgepush-test"',
      `main = ${JSON.stringify(path.join(ROOT, 'worker/index.ts'))}`,
      'compatibility_date = "2026-11-01"',
      '[vars]',
      ...Object.entries(vars).map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
      ...['REGISTRY:ShardRegistry', 'STICK_TABLE:StickTable', 'SESSION_PIN:SessionPin'].flatMap((b) => {
        const [name, cls] = b.split(':');
        return ['[[durable_objects.bindings]]', `name = "${name}"`, `class_name = "${cls}"`];
      }),
      '[[migrations]]',
      'tag = "v1"',
      'new_sqlite_classes = ["ShardRegistry", "StickTable", "SessionPin"]',
      '[dev]',
      'enable_containers = false',
    ].join('\n'),
  );
  const proc = spawnManaged(
    WRANGLER,
    ['dev', '-c', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--persist-to', path.join(dir, 'state'), '--log-level', 'warn', '--show-interactive-dev-session=false'],
    { WRANGLER_SEND_METRICS: 'false', CI: '1' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForAnswer(`${url}/lightstreamer/healthcheck`, proc);
  const stop = proc.stop;
  return {
    ...proc,
    async stop() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    port,
    url,
    urlFor: (hostname) => `http://${hostname}:${port}`,
    secrets,
    admin: (pathname, init = {}) =>
      fetch(`${url}${pathname}`, { ...init, headers: { authorization: `Bearer ${secrets.admin}`, 'content-type': 'application/json', ...init.headers } }),
  };
}

/** Any HTTP answer will do: the edge answers 503 until its registry has seen a healthy shard. */
async function waitForAnswer(url: string, proc: Managed, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`wrangler dev exited with ${proc.child.exitCode}:\n${proc.output()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the edge did not answer ${url} within ${timeoutMs} ms:\n${proc.output()}`);
}
