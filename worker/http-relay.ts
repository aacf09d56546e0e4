import type { EdgeRequest } from './edge-request.ts';
import type { Endpoint } from './tlcp.ts';
import { scanParam, sessionIdOf, splitBody } from '../protocol/request.ts';
import { clientHeaders, originHeaders } from './forwarding.ts';
import { homeOfSession, placeSession, GONE, type Placement, type RouteHints } from './session-routing.ts';
import { noShardResponse, sessionGoneResponse } from './failover.ts';
import { stickyCookieFor } from './affinity.ts';
import { controlLinkFor, onConok } from './conok.ts';
import { streamDeadline } from './max-session-duration.ts';
import { editFirstLine, endAt } from './stream-transforms.ts';
import { count, reportUnreachable } from './registry-client.ts';
import { urlTransport } from '../objects/shard-transport.ts';

/**
 * HTTP TLCP requests. Bodies are small (one create, one bind, a batch of control lines), so they are
 * read once — the bind's session id may only be in it, and a failover answer needs its request ids —
 * and the same bytes are forwarded. Responses stream through untouched apart from CONOK's first line.
 */

async function send(er: EdgeRequest, request: Request, shard: string, pathAndQuery: string, body: string): Promise<Response> {
  return urlTransport.fetch(er.config.shards.get(shard)!, pathAndQuery, {
    method: 'POST',
    headers: originHeaders(request.headers, er.client, er.env.EDGE_SECRET),
    body,
    redirect: 'manual',
  });
}

/**
 * A streaming create or bind ends at the domain's maximum session duration; a poll ends by itself.
 * Terminating the client side cancels the pipe, which closes the origin connection with it.
 */
function withDeadline(er: EdgeRequest, body: string, stream: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const polling = splitBody(body).some((l) => scanParam(l, 'LS_polling') === 'true');
  const deadline = polling ? null : streamDeadline(er);
  return deadline === null ? stream : stream.pipeThrough(endAt(deadline, () => count('maxDurationEnds')));
}

export async function relayHttp(er: EdgeRequest, request: Request, endpoint: Endpoint, pathAndQuery: string, hints: RouteHints): Promise<Response> {
  const body = await request.text();
  if (endpoint === 'create_session') return createSession(er, request, pathAndQuery, body, hints);

  const query = pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?') + 1) : null;
  const sessionId = sessionIdOf(query, endpoint === 'bind_session' ? (splitBody(body)[0] ?? null) : null);
  const home = await homeOfSession(er, { ...hints, sessionId });
  if (home === GONE) return sessionGoneResponse(endpoint, body);
  let res: Response;
  try {
    res = await send(er, request, home.shard, pathAndQuery, body);
  } catch {
    reportUnreachable(er.env, home.shard, er.waitUntil);
    return sessionGoneResponse(endpoint, body);
  }
  if (endpoint !== 'bind_session' || !res.body) return new Response(res.body, { status: res.status, headers: clientHeaders(res.headers) });
  let stream = res.body;
  if (controlLinkFor(er, home.shard) !== null) stream = stream.pipeThrough(editFirstLine((line) => onConok(er, home.shard, line, false)));
  return new Response(withDeadline(er, body, stream), { status: res.status, headers: clientHeaders(res.headers) });
}

/**
 * S: placed by stickiness or balancing. A create that could not connect is placed again once
 * (nothing reached an origin, so nothing is duplicated); one that reached an origin is never retried.
 */
async function createSession(er: EdgeRequest, request: Request, pathAndQuery: string, body: string, hints: RouteHints): Promise<Response> {
  let placement: Placement | null = null;
  let res: Response | undefined;
  for (let attempt = 0; attempt < 2 && !res; attempt++) {
    placement = await placeSession(er, hints);
    if (!placement) return noShardResponse();
    try {
      res = await send(er, request, placement.shard, pathAndQuery, body);
    } catch {
      reportUnreachable(er.env, placement.shard, er.waitUntil);
    }
  }
  if (!res || !placement) return noShardResponse();
  const shard = placement.shard;
  const headers = clientHeaders(res.headers);
  if (er.domain.modes.includes('cookie') && placement.via !== 'cookie') {
    const cookie = await stickyCookieFor(er, shard);
    if (cookie) headers.append('set-cookie', cookie);
  }
  if (!res.body) return new Response(null, { status: res.status, headers });
  const stream = res.body.pipeThrough(editFirstLine((line) => onConok(er, shard, line, true)));
  return new Response(withDeadline(er, body, stream), { status: res.status, headers });
}
