/**
 * The origin's JSON API: load status for the edge's shard registry, the publish entry point for
 * external feeds, and session ending for the edge's drain and shed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { EndCode } from '../protocol/codes.ts';
import type { Bus, BusStatus } from './bus/bus.ts';
import { BodyTooLarge, readBody } from './http-body.ts';
import { PublishInterrupted, parsePublishBody, publishUpdates } from './publish.ts';
import type { SessionRegistry } from './session/registry.ts';
import type { Telemetry, TransportName } from './telemetry.ts';

export interface OriginStatus {
  readonly shard: string;
  readonly serverName: string;
  readonly sessions: number;
  readonly sessionsByTransport: Record<TransportName, number>;
  readonly subscriptions: number;
  readonly items: number;
  /** Data notifications written per second, averaged over the last few seconds. */
  readonly updatesPerSecond: number;
  readonly uptimeSeconds: number;
  /** Shutting down (SIGTERM): refusing creates while its sessions move away. */
  readonly draining: boolean;
  readonly bus: BusStatus;
  readonly wrongInstance: number;
  readonly startedAt: string;
}

export interface ApiOptions {
  readonly shard: string;
  readonly serverName: string;
  readonly publishToken: string | null;
  readonly adminToken: string | null;
  readonly telemetry: Telemetry;
  readonly registry: SessionRegistry;
  readonly bus: Bus;
}

const RATE_WINDOW_SECONDS = 5;
/** Redis reconnects with a backoff of at most a few seconds. */
const RETRY_AFTER_SECONDS = 2;

const endBody = z
  .union([
    z.object({ count: z.number().int().min(0), code: z.number().int().min(1).max(99).optional() }).strict(),
    z.object({ all: z.literal(true), code: z.number().int().min(1).max(99).optional() }).strict(),
  ])
  .describe('{"count": n} or {"all": true}, optionally with "code"');

export interface Api {
  status(): OriginStatus;
  /** Serves `/api/*`; false for other paths. */
  handle(path: string, req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

export function createApi(options: ApiOptions): Api {
  const t = options.telemetry;
  // One sample per second: any number of pollers read the same rate, none of them resets it.
  const samples: number[] = [t.notificationsSent];
  const sampler = setInterval(() => {
    samples.push(t.notificationsSent);
    if (samples.length > RATE_WINDOW_SECONDS + 1) samples.shift();
  }, 1000);
  sampler.unref();

  const status = (): OriginStatus => ({
    shard: options.shard,
    serverName: options.serverName,
    sessions: t.sessions,
    sessionsByTransport: { ...t.boundByTransport },
    subscriptions: t.subscriptions,
    items: t.items,
    updatesPerSecond: samples.length > 1 ? (samples[samples.length - 1] - samples[0]) / (samples.length - 1) : 0,
    uptimeSeconds: Math.floor((Date.now() - t.startedAt) / 1000),
    draining: options.registry.admission === 'draining',
    bus: options.bus.status(),
    wrongInstance: t.wrongInstance,
    startedAt: new Date(t.startedAt).toISOString(),
  });

  const routes: Record<string, { method: string; run: (req: IncomingMessage, res: ServerResponse) => Promise<void> | void }> = {
    '/api/status': { method: 'GET', run: (_req, res) => json(res, 200, status()) },
    '/api/publish': {
      method: 'POST',
      async run(req, res) {
        if (!authorized(req, res, options.publishToken, 'PUBLISH_TOKEN')) return;
        const body = await jsonBody(req, res);
        if (body === null) return;
        const parsed = parsePublishBody(body);
        if (!parsed.ok) return json(res, 400, { error: parsed.message });
        try {
          json(res, 200, { published: await publishUpdates(options.bus, parsed.updates) });
        } catch (err) {
          if (!(err instanceof PublishInterrupted)) throw err;
          // The feed's fault is none: it should retry the updates not published, a little later.
          res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
          json(res, 503, { error: `bus unavailable, retry later: ${err.message}`, published: err.published });
        }
      },
    },
    '/api/sessions/end': {
      method: 'POST',
      async run(req, res) {
        if (!authorized(req, res, options.adminToken, 'ADMIN_TOKEN')) return;
        const body = await jsonBody(req, res);
        if (body === null) return;
        let parsed;
        try {
          parsed = endBody.safeParse(JSON.parse(body));
        } catch {
          return json(res, 400, { error: 'body is not JSON' });
        }
        if (!parsed.success) return json(res, 400, { error: `expected ${endBody.description}` });
        const code = parsed.data.code ?? EndCode.MAX_DURATION;
        const message = 'session moved by the operator';
        const ended =
          'all' in parsed.data ? options.registry.endAll(code, message) : options.registry.endOldest(parsed.data.count, code, message);
        json(res, 200, { ended, remaining: options.registry.size });
      },
    },
  };

  return {
    status,
    handle(path, req, res) {
      const route = routes[path];
      if (!route) return false;
      if (req.method !== route.method) {
        res.writeHead(405, { allow: route.method }).end();
        return true;
      }
      Promise.resolve(route.run(req, res)).catch((err: unknown) => {
        if (!res.headersSent) json(res, 500, { error: err instanceof Error ? err.message : String(err) });
        else res.destroy();
      });
      return true;
    },
    close: () => clearInterval(sampler),
  };
}

function authorized(req: IncomingMessage, res: ServerResponse, token: string | null, variable: string): boolean {
  if (token === null) {
    json(res, 403, { error: `disabled: set ${variable} to enable this endpoint` });
    return false;
  }
  const header = req.headers.authorization ?? '';
  const presented = header.startsWith('Bearer ') ? header.slice(7) : null;
  if (presented === null || !sameSecret(presented, token)) {
    res.setHeader('www-authenticate', 'Bearer');
    json(res, 401, { error: 'missing or wrong bearer token' });
    return false;
  }
  return true;
}

// Hashing first compares equal-length values, so timing says nothing about the token, not even its length.
function sameSecret(a: string, b: string): boolean {
  const hash = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(hash(a), hash(b));
}

async function jsonBody(req: IncomingMessage, res: ServerResponse): Promise<string | null> {
  try {
    return (await readBody(req)).toString('utf8');
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      if (err.unread) res.setHeader('connection', 'close');
      json(res, 413, { error: err.message });
      return null;
    }
    throw err;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
