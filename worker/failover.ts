import { ConErr, ReqErr } from '../protocol/codes.ts';
import { error, reqerr, reqok } from '../protocol/notifications.ts';
import { isRequestId, scanParam, splitBody } from '../protocol/request.ts';
import type { Endpoint } from './tlcp.ts';
import { SESSION_GONE, SESSION_GONE_MESSAGE } from './tlcp.ts';
import { count } from './registry-client.ts';

/**
 * The answer for a request whose session lives on a shard that is dead, draining away, removed or
 * unreachable: the codes that make the official client open a new session by itself (tlcp.md §E), at
 * once — a 502 or a hang would only delay that, and code 21 would stop the client for good. Every such
 * answer is a failover, whichever way the edge found out the session's shard is lost.
 */
export function sessionGone(endpoint: Endpoint, body: string): string {
  count('failovers');
  switch (endpoint) {
    case 'heartbeat':
      return reqok();
    case 'control':
    case 'msg':
      // A line without a well-formed request id gets what an origin answers it: nothing of it is echoed.
      return splitBody(body)
        .map((line) => {
          const reqId = scanParam(line, 'LS_reqId');
          return isRequestId(reqId) ? reqerr(reqId, ReqErr.SESSION_NOT_FOUND, SESSION_GONE_MESSAGE) : error(ConErr.MALFORMED, 'missing or bad LS_reqId');
        })
        .join('');
    default:
      return SESSION_GONE;
  }
}

/** `sessionGone` as the HTTP response: status 200, so the client reads the code instead of retrying. */
export function sessionGoneResponse(endpoint: Endpoint, body: string): Response {
  return new Response(sessionGone(endpoint, body), {
    headers: { 'content-type': 'text/enriched; charset=UTF-8', 'cache-control': 'no-store, no-cache, no-transform' },
  });
}

/** No shard can take a new session: a transport error the client retries with backoff. */
export function noShardResponse(): Response {
  return new Response('no shard available\r\n', { status: 503, headers: { 'retry-after': '2', 'cache-control': 'no-store' } });
}
