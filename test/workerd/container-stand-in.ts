import { DurableObject } from 'cloudflare:workers';

/**
 * Stands in for Cloudflare Containers in tests (workerd runs no containers here): a Durable Object
 * class of a Worker of its own, bound as the edge's ORIGIN_CONTAINER in place of OriginContainer
 * (scripts/local-edge.ts, `containerStandIn`). The instance named `<container>` forwards every
 * request, WebSocket upgrades included, to the local origin process STAND_IN_ORIGINS names for it,
 * as a container instance would to the origin inside it. Never part of the deployed Worker.
 *
 * It also holds the edge to what OriginContainer needs: each request names the edge's shard id,
 * which must be the one the origin behind this container was started with.
 */
interface StandInEnv {
  /** JSON: `{ "<container name>": { "url": "http://127.0.0.1:…", "shard": "<shard id>" } }` */
  readonly STAND_IN_ORIGINS: string;
}

export class OriginContainerStandIn extends DurableObject<StandInEnv> {
  override async fetch(request: Request): Promise<Response> {
    const name = this.ctx.id.name ?? '';
    const origin = (JSON.parse(this.env.STAND_IN_ORIGINS) as Record<string, { url: string; shard: string }>)[name];
    if (!origin) return new Response(`no origin stands in for container "${name}"\n`, { status: 500 });
    const shardId = request.headers.get('x-edgepush-shard-id');
    if (shardId !== origin.shard) return new Response(`container "${name}" was called as shard ${shardId}, its origin is ${origin.shard}\n`, { status: 500 });
    const url = new URL(request.url);
    return fetch(new Request(`${origin.url}${url.pathname}${url.search}`, request));
  }
}

export default { fetch: () => new Response('container stand-in\n', { status: 404 }) };
