import type { DurableObject } from 'cloudflare:workers';
import { Container } from '@cloudflare/containers';
import type { Env } from '../worker/env.ts';
import { SHARD_ID_HEADER } from './shard-transport.ts';

/**
 * An origin shard as a Cloudflare Containers instance: one Durable Object per `container` name of
 * SHARDS, running the image of `Dockerfile` (the origin, `dist/origin/main.js`). The edge reaches it
 * only through the shard transport, which names the shard in every request: the origin inside
 * must put the edge's shard id into its session ids, so it starts with that SHARD_ID.
 *
 * Configuration reaches the origin as environment, as for any other origin: the edge's secrets
 * (EDGE_SECRET, ORIGIN_ADMIN_TOKEN as ADMIN_TOKEN, PUBLISH_TOKEN, REDIS_URL) are the containers'.
 */
export const ORIGIN_PORT = 8080;

export class OriginContainer extends Container<Env> {
  override defaultPort = ORIGIN_PORT;
  /**
   * Open streams and sockets count as activity, and the registry probes every shard every few
   * seconds, so an instance in SHARDS stays up; this only matters once a shard leaves the roster.
   */
  override sleepAfter = '5m';
  /** A start in progress, shared by every request that finds the container stopped. */
  #starting: Promise<void> | null = null;

  constructor(ctx: DurableObject['ctx'], env: Env) {
    super(ctx, env);
    this.envVars = originEnvironment(env);
  }

  override async fetch(request: Request): Promise<Response> {
    const shardId = request.headers.get(SHARD_ID_HEADER);
    if (shardId) this.envVars = { ...this.envVars, SHARD_ID: shardId };
    if (!this.ctx.container?.running) {
      // Started apart from the request that found it stopped: a registry probe gives up after a
      // second, a container boots in several, and the start must outlive the probe that asked for it.
      this.#starting ??= this.startAndWaitForPorts(ORIGIN_PORT).finally(() => (this.#starting = null));
      try {
        await this.#starting;
      } catch (err) {
        // 503 is what the edge reads as "shard unreachable" (worker/origin-call.ts), never a client's answer.
        return new Response(`origin container ${this.ctx.id.name ?? ''} did not start: ${err instanceof Error ? err.message : String(err)}\n`, { status: 503 });
      }
    }
    return super.fetch(request);
  }

  /**
   * Never sleep while holding sessions: a polling client or one recovering its stream has no request
   * in flight for a moment, and stopping the container would end its session.
   */
  override async onActivityExpired(): Promise<void> {
    if (await this.#holdsSessions()) return; // the base class renews the timeout and asks again later
    await super.onActivityExpired();
  }

  async #holdsSessions(): Promise<boolean> {
    if (!this.ctx.container?.running) return false;
    try {
      const res = await this.containerFetch('http://container/api/status', {}, ORIGIN_PORT);
      const status = (await res.json()) as { sessions?: unknown };
      return typeof status.sessions !== 'number' || status.sessions > 0;
    } catch {
      // An origin that cannot say is kept: sessions lost by a wrong guess cannot be given back.
      return true;
    }
  }
}

/** The origin's environment inside the container (origin/config.ts reads it as it reads any origin's). */
function originEnvironment(env: Env): Record<string, string> {
  const vars: Record<string, string> = { HOST: '0.0.0.0', PORT: String(ORIGIN_PORT) };
  const pass: [string, string | undefined][] = [
    ['EDGE_SECRET', env.EDGE_SECRET],
    ['ADMIN_TOKEN', env.ORIGIN_ADMIN_TOKEN],
    ['PUBLISH_TOKEN', env.PUBLISH_TOKEN],
    ['REDIS_URL', env.REDIS_URL],
  ];
  for (const [name, value] of pass) if (value) vars[name] = value;
  return vars;
}
