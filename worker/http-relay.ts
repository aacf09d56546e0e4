import type { EdgeRequest } from './edge-request.ts';
import type { Endpoint } from './tlcp.ts';
import { scanParam, sessionIdOf, splitBody } from '../protocol/request.ts';
import { ConErr } from '../protocol/codes.ts';
import { clientHeaders, originHeaders } from './forwarding.ts';
import { homeOfSession, placeSession, GONE, type Placement, type RouteHints } from './session-routing.ts';
import { noShardResponse, sessionGoneResponse } from './failover.ts';
import { stickyCookieFor } from './affinity.ts';
import { controlLinkFor, onConok } from './conok.ts';
import { conerrCodeOf } from './tlcp.ts';
import { streamDeadline } from './max-session-duration.ts';
import { editFirstLine, endAt, peekFirstLine } from './stream-transforms.ts';
import { count, reportUnreachable } from './registry-client.ts';
import { urlTransport } from '../objects/shard-transport.ts';
import { admitCreate, createRefusedResponse } from './create-rate-limit.ts';

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

/** A create's response, or null when the shard could not be reached (the registry hears of it). */
async function tryCreate(er: EdgeRequest, request: Request, shard: string, pathAndQuery: string, body: string): Promise<Response | null> {
  try {
    return await send(er, request, shard, pathAndQuery, body);
  } catch {
    reportUnreachable(er.env, shard, er.waitUntil);
    return null;
  }
}

/**
 * S: placed by stickiness or balancing, and placed once more on another shard when the first could
 * not take it: a create that could not connect reached no origin, and one answered `CONERR,5` was
 * refused by a full origin before it created anything, so neither retry duplicates a session. The
 * client would retry a 5 at once itself, but through the balancer, where stickiness or stale load
 * figures may send it straight back to the full shard. A create that reached an origin otherwise is
 * never retried.
 */
async function createSession(er: EdgeRequest, request: Request, pathAndQuery: string, body: string, hints: RouteHints): Promise<Response> {
  const admission = await admitCreate(er); // create rate limit (create-rate-limit.ts)
  if (!admission.admitted) return createRefusedResponse(admission); // create rate limit
  let refused: { res: Response; stream: ReadableStream<Uint8Array> } | null = null;
  let avoid: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const placement = await placeSession(er, { ...hints, avoid });
    if (!placement) break;
    if (refused) count('overloadedCreatesPlacedAgain');
    avoid = placement.shard;
    const res = await tryCreate(er, request, placement.shard, pathAndQuery, body);
    if (!res) continue;
    if (!res.body) return created(er, placement, res, null, body);
    const { line, stream } = await peekFirstLine(res.body);
    if (attempt === 0 && line !== null && conerrCodeOf(line) === ConErr.OVERLOADED) {
      refused = { res, stream };
      continue;
    }
    await refused?.stream.cancel();
    return created(er, placement, res, stream, body);
  }
  // Nowhere else to go: the full shard's own answer, which the client retries.
  if (refused) return new Response(refused.stream, { status: refused.res.status, headers: clientHeaders(refused.res.headers) });
  return noShardResponse();
}

/** The create's response for the client: its sticky cookie where the domain uses one, CONOK edited. */
async function created(er: EdgeRequest, placement: Placement, res: Response, stream: ReadableStream<Uint8Array> | null, body: string): Promise<Response> {
  const shard = placement.shard;
  const headers = clientHeaders(res.headers);
  if (er.domain.modes.includes('cookie') && placement.via !== 'cookie') {
    const cookie = await stickyCookieFor(er, shard);
    if (cookie) headers.append('set-cookie', cookie);
  }
  if (!stream) return new Response(null, { status: res.status, headers });
  const edited = stream.pipeThrough(editFirstLine((line) => onConok(er, shard, line, true)));
  return new Response(withDeadline(er, body, edited), { status: res.status, headers });
}
