/**
 * The one way anything at the edge reaches an origin shard. Today a shard is a URL (a local process
 * or a remote host). A Cloudflare Containers shard fits behind the same interface: its `fetch` would
 * be `env.SHARD_CONTAINER.get(env.SHARD_CONTAINER.idFromName(shard.id)).fetch(request)` (a
 * `@cloudflare/containers` Container class per shard instance), so the roster entry would carry a
 * container name instead of a URL and nothing above this file changes. WebSocket upgrades already go
 * through `fetch` with an `Upgrade` header, which Container stubs accept too.
 */
export interface ShardAddress {
  readonly id: string;
  readonly url: string;
}

export interface ShardTransport {
  /** `pathAndQuery` is origin-relative (`/lightstreamer/control.txt?LS_session=…`). */
  fetch(shard: ShardAddress, pathAndQuery: string, init: RequestInit): Promise<Response>;
}

export const urlTransport: ShardTransport = {
  fetch(shard, pathAndQuery, init) {
    const base = new URL(shard.url);
    const target = new URL(pathAndQuery, base);
    // `//host/…` (or `/\host/…`) is a relative URL naming another host: resolving it as given would
    // send the request, and the edge secret with it, wherever a client says.
    if (target.origin !== base.origin) throw new TypeError(`path ${JSON.stringify(pathAndQuery)} leaves shard ${shard.id}`);
    return fetch(target, init);
  },
};
