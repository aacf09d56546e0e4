import type { Endpoint } from './tlcp.ts';
import { conerr, linesOf, paramsOf, reqerr, SESSION_GONE } from './tlcp.ts';

/**
 * The answer for a request whose session lives on a shard that is dead, draining away or removed:
 * the codes that make the official client open a new session by itself (tlcp.md §E), at once, with
 * status 200 — a 502 or a hang would only delay that, and code 21 would stop the client for good.
 */
export function sessionGoneBody(endpoint: Endpoint, body: string): string {
  switch (endpoint) {
    case 'heartbeat':
      return 'REQOK\r\n';
    case 'control':
    case 'msg':
      return linesOf(body)
        .map((line) => reqerr(paramsOf(line).get('LS_reqId') ?? '', 20, SESSION_GONE))
        .join('');
    default:
      return conerr(20, SESSION_GONE);
  }
}

export function tlcpResponse(body: string): Response {
  return new Response(body, {
    headers: { 'content-type': 'text/enriched; charset=UTF-8', 'cache-control': 'no-store, no-cache, no-transform' },
  });
}

/** No shard can take a new session: a transport error the client retries with backoff. */
export function noShardResponse(): Response {
  return new Response('no shard available\r\n', { status: 503, headers: { 'retry-after': '2', 'cache-control': 'no-store' } });
}
