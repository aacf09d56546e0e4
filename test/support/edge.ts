import dns from 'node:dns';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { startLocalEdge } from '../../scripts/local-edge.ts';

/** A SHARDS entry: an origin at a URL, or a container instance (reached through `containerStandIn`). */
export type EdgeShard = { readonly id: string; readonly weight?: number } & ({ readonly url: string } | { readonly container: string });

/** A local origin answering for a container instance: where it listens and the shard id it was started with. */
export interface StandInOrigin {
  readonly url: string;
  readonly shard: string;
}

export interface EdgeOptions {
  readonly shards: readonly EdgeShard[];
  /** The DOMAINS var (see worker/config.ts). */
  readonly domains: readonly Record<string, unknown>[];
  readonly vars?: Record<string, string>;
  /** Secrets shared with origins started before the edge; fresh ones otherwise. */
  readonly secrets?: EdgeSecrets;
  /** Container name → the local origin that answers for it (test/workerd/container-stand-in.ts). */
  readonly containerStandIn?: Readonly<Record<string, StandInOrigin>>;
  /** Another wrangler.toml than the repository's. */
  readonly wranglerConfig?: string;
}

export interface EdgeSecrets {
  readonly admin: string;
  readonly cookie: string;
  readonly edge: string;
  readonly originAdmin: string;
  readonly session: string;
}

export function newSecrets(): EdgeSecrets {
  const secret = () => randomBytes(18).toString('base64url');
  return { admin: secret(), cookie: secret(), edge: secret(), originAdmin: secret(), session: secret() };
}

export interface EdgeHandle {
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The same edge under another loopback name: http://<name>:<port> (see `resolveLocalhostNames`). */
  urlFor(hostname: string): string;
  readonly secrets: EdgeSecrets;
  /** Where workerd keeps this edge's Durable Object state (SQLite files), for tests that look inside. */
  readonly persistDir: string;
  /** fetch of an admin endpoint with the admin secret. */
  admin(pathname: string, init?: RequestInit): Promise<Response>;
  /** Stops workerd and starts it again on the same port, with the Durable Objects' state kept. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the real Worker in workerd (scripts/local-edge.ts: Miniflare, bindings from wrangler.toml)
 * with the given shards and domains, fresh secrets and its own Durable Object storage, so state
 * never leaks between test files.
 */
export async function startEdge(options: EdgeOptions): Promise<EdgeHandle> {
  let port = await freePort();
  const persistDir = await mkdtemp(path.join(os.tmpdir(), 'edgepush-edge-state-'));
  const secrets = options.secrets ?? newSecrets();
  const vars: Record<string, string> = {
    SHARDS: JSON.stringify(options.shards),
    DOMAINS: JSON.stringify(options.domains),
    PROBE_INTERVAL_MS: '500',
    SNAPSHOT_TTL_MS: '300',
    ADMIN_SECRET: secrets.admin,
    COOKIE_SECRET: secrets.cookie,
    EDGE_SECRET: secrets.edge,
    ORIGIN_ADMIN_TOKEN: secrets.originAdmin,
    SESSION_SECRET: secrets.session,
    ...options.vars,
  };
  const containerStandIn = options.containerStandIn && {
    entry: path.join(import.meta.dirname, '../workerd/container-stand-in.ts'),
    className: 'OriginContainerStandIn',
    vars: { STAND_IN_ORIGINS: JSON.stringify(options.containerStandIn) },
  };
  const start = () => startLocalEdge({ port, vars, persistDir, containerStandIn, config: options.wranglerConfig });
  let edge: Awaited<ReturnType<typeof start>>;
  // The port was free a moment ago; a process of a test running beside this one may have taken it since.
  for (let attempt = 1; ; attempt++) {
    try {
      edge = await start();
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_ADDRESS_IN_USE' || attempt === 5) throw err;
      port = await freePort();
    }
  }
  const url = edge.url;
  return {
    port,
    url,
    urlFor: (hostname) => `http://${hostname}:${port}`,
    secrets,
    persistDir,
    admin: (pathname, init = {}) =>
      fetch(`${url}${pathname}`, { ...init, headers: { authorization: `Bearer ${secrets.admin}`, 'content-type': 'application/json', ...init.headers } }),
    async restart() {
      await edge.stop();
      edge = await start();
    },
    async stop() {
      await edge.stop();
      await rm(persistDir, { recursive: true, force: true });
    },
  };
}

/**
 * Lets the official client (and fetch) reach the edge under several names, as clients reach
 * `push.example.com` and `push1.example.com` in the guide: every `*.localhost` name resolves to
 * loopback (RFC 6761), in this process only.
 */
export function resolveLocalhostNames(): void {
  const original = dns.lookup;
  if ((original as { edgePatched?: boolean }).edgePatched) return;
  const patched = ((hostname: string, options: unknown, callback?: unknown) => {
    // The edge listens on 127.0.0.1 only, so never let `localhost` turn into ::1.
    if (typeof hostname === 'string' && (hostname === 'localhost' || hostname.endsWith('.localhost'))) hostname = '127.0.0.1';
    return (original as (...a: unknown[]) => unknown)(hostname, options, callback);
  }) as typeof dns.lookup;
  (patched as { edgePatched?: boolean }).edgePatched = true;
  dns.lookup = patched;
}
