import type { EdgeRequest } from '../edge-request.ts';
import type { RoutingMode } from './mode.ts';

/**
 * Mode `path` (guide 2.B.1.3, 2.B.2.x with one hostname): CONOK's control link is the balancing
 * host plus `/<pathPrefix>/<shard>`, and the client sends every later request and socket under that
 * prefix. One hostname and one certificate stand in for per-shard addresses.
 */
export const path: RoutingMode = {
  name: 'path',
  source: 'request',
  claim: (er, req, usable) => {
    const shard = pathShardOf(er, req.prefix);
    return shard && usable.includes(shard) ? shard : undefined;
  },
  home: (er, req) => pathShardOf(er, req.prefix) ?? undefined,
  controlLink: (er, shard) => `${er.client.host}/${er.domain.pathPrefix}/${shard}`,
};

/**
 * The shard a `/<pathPrefix>/<shard>` prefix names; undefined for no prefix; null for a prefix this
 * domain does not serve (another prefix, or any on a shard's own hostname), which goes nowhere.
 */
export function pathShardOf(er: EdgeRequest, prefix: string): string | null | undefined {
  if (prefix === '') return undefined;
  const m = /^\/([^/]+)\/([^/]+)$/.exec(prefix);
  if (!m || m[1] !== er.domain.pathPrefix || er.hostShard || !er.domain.modes.includes('path')) return null;
  return m[2];
}
