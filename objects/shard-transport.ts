/**
 * The one way anything at the edge reaches an origin shard: client requests and their relays, the
 * registry's probes and its drain and shed calls, direct instance access and the session layer's
 * upstreams. A shard is either a URL (a process or host reached over the network) or a Cloudflare
 * Containers instance, a Durable Object of the `ORIGIN_CONTAINER` namespace named by the shard's
 * `container`; callers never tell them apart. WebSocket upgrades go through `fetch` with an
 * `Upgrade` header, which Container stubs relay too.
 */
export type ShardAddress = UrlShard | ContainerShard;

export interface UrlShard {
  readonly id: string;
  readonly url: string;
}

export interface ContainerShard {
  readonly id: string;
  /** The name of the container instance (its Durable Object) in the ORIGIN_CONTAINER namespace. */
  readonly container: string;
}

/** Anything with a `fetch` that takes a Request: a Container stub, or whatever stands in for one. */
export interface ContainerNamespace {
  getByName(name: string): { fetch(request: Request): Promise<Response> };
}

/** The bindings a transport may need: only container shards need one. */
export interface ShardBindings {
  readonly ORIGIN_CONTAINER?: ContainerNamespace;
}

/**
 * The edge's shard id, sent with every request to a container: the origin inside must carry it in
 * its session ids (SHARD_ID), and a container name alone does not say which shard the edge calls it.
 */
export const SHARD_ID_HEADER = 'x-edgepush-shard-id';

export interface ShardTransport {
  /** `pathAndQuery` is origin-relative (`/lightstreamer/control.txt?LS_session=…`). */
  fetch(shard: ShardAddress, pathAndQuery: string, init: RequestInit): Promise<Response>;
}

/** Where a shard is, for the status page and logs. */
export function describeShard(shard: ShardAddress): string {
  return 'url' in shard ? shard.url : `container ${shard.container}`;
}

/**
 * Resolves `pathAndQuery` against the shard's base. `//host/…` (or `/\host/…`) is a relative URL
 * naming another host: resolving it as given would send the request, and the edge secret with it,
 * wherever a client says.
 */
function target(shard: ShardAddress, base: URL, pathAndQuery: string): URL {
  const resolved = new URL(pathAndQuery, base);
  if (resolved.origin !== base.origin) throw new TypeError(`path ${JSON.stringify(pathAndQuery)} leaves shard ${shard.id}`);
  return resolved;
}

/** A container's origin is reached through its Durable Object: the host of the URL is never dialled. */
const CONTAINER_BASE = new URL('http://container/');

export function shardTransport(bindings: ShardBindings): ShardTransport {
  return {
    fetch(shard, pathAndQuery, init) {
      if ('url' in shard) return fetch(target(shard, new URL(shard.url), pathAndQuery), init);
      const namespace = bindings.ORIGIN_CONTAINER;
      // Configuration validation refuses container shards without the binding; this is the backstop.
      if (!namespace) return Promise.reject(new TypeError(`shard ${shard.id} is a container but the ORIGIN_CONTAINER binding is missing`));
      const request = new Request(target(shard, CONTAINER_BASE, pathAndQuery), init);
      request.headers.set(SHARD_ID_HEADER, shard.id);
      return namespace.getByName(shard.container).fetch(request);
    },
  };
}
