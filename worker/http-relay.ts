import type { EdgeRequest } from './edge-request.ts';
import type { Endpoint } from './tlcp.ts';
import { scanParam, sessionIdOf, splitBody } from '../protocol/request.ts';
import { ConErr } from '../protocol/codes.ts';
import { clientHeaders, originHeaders } from './forwarding.ts';
import { homeOfSession, placeSession, GONE, type Placement } from './session-routing.ts';
import { createCookies, streamClosed, type RoutingRequest } from './modes/mode.ts';
import { noShardResponse, sessionGoneResponse } from './failover.ts';
import { onConok } from './conok.ts';
import { conerrCodeOf, conokOf } from './tlcp.ts';
import { count } from './registry-client.ts';
import { callShard, callShardForText, shardFailed, ShardCallFailed, type CallKind } from './origin-call.ts';
import { OriginStream } from './relayed-stream.ts';
import { admitCreate, createRefusedResponse } from './create-rate-limit.ts';

/**
 * HTTP TLCP requests. Bodies are small (one create, one bind, a batch of control lines; the edge
 * refuses larger ones before routing), so they are read once — the bind's session id may only be in
 * it, and a failover answer needs its request ids — and the same bytes are forwarded. Control, msg
 * and heartbeat answers are read whole; create and bind responses stream through, the edge acting
 * only on their first line (relayed-stream.ts).
 */

function requestTo(er: EdgeRequest, request: Request, body: string): RequestInit {
  return { method: 'POST', headers: originHeaders(request.headers, er.client, er.env.EDGE_SECRET, er.domain.cookieName), body, redirect: 'manual' };
}

const isPolling = (body: string) => splitBody(body).some((l) => scanParam(l, 'LS_polling') === 'true');

export async function relayHttp(er: EdgeRequest, request: Request, endpoint: Endpoint, pathAndQuery: string, req: RoutingRequest): Promise<Response> {
  const body = await request.text();
  if (endpoint === 'create_session') return createSession(er, request, pathAndQuery, body, req);

  const query = pathAndQuery.includes('?') ? pathAndQuery.slice(pathAndQuery.indexOf('?') + 1) : null;
  const sessionId = sessionIdOf(query, endpoint === 'bind_session' ? (splitBody(body)[0] ?? null) : null);
  const home = await homeOfSession(er, { ...req, sessionId });
  if (home === GONE) return sessionGoneResponse(endpoint, body);
  if (endpoint === 'bind_session') return bindSession(er, request, home.shard, pathAndQuery, body, sessionId);
  try {
    const { res, text } = await callShardForText(er, home.shard, 'control', pathAndQuery, requestTo(er, request, body));
    return new Response(text, { status: res.status, headers: clientHeaders(res.headers) });
  } catch (err) {
    if (err instanceof ShardCallFailed) return sessionGoneResponse(endpoint, body);
    throw err;
  }
}

interface Opened {
  readonly res: Response;
  readonly stream: OriginStream;
  /** The origin's first line (CONOK, CONERR, …); null when its answer had none. */
  readonly first: string | null;
}

/**
 * A create or bind sent to `shard`, answered at least up to its first line within the call's
 * deadline; null when the shard could not be reached or did not answer in time (already reported).
 * An answer other than 2xx, or without a body, comes back as it is, with no first line.
 */
async function open(er: EdgeRequest, request: Request, shard: string, kind: CallKind, pathAndQuery: string, body: string): Promise<Opened | Response | null> {
  let call;
  try {
    call = await callShard(er, shard, kind, pathAndQuery, requestTo(er, request, body));
  } catch (err) {
    if (err instanceof ShardCallFailed) return null;
    throw err;
  }
  const { res, deadline } = call;
  if (!res.ok || !res.body) {
    deadline.lift();
    return new Response(res.body, { status: res.status, headers: clientHeaders(res.headers) });
  }
  const stream = new OriginStream(res.body);
  try {
    return { res, stream, first: await stream.firstLine() };
  } catch {
    shardFailed(er, shard, deadline.expired ? 'timeout' : 'broken');
    await stream.cancel();
    return null;
  } finally {
    deadline.lift();
  }
}

async function bindSession(er: EdgeRequest, request: Request, shard: string, pathAndQuery: string, body: string, sessionId: string | null): Promise<Response> {
  const opened = await open(er, request, shard, 'bind', pathAndQuery, body);
  if (opened === null) return sessionGoneResponse('bind_session', body);
  if (opened instanceof Response) return opened;
  const first = opened.first === null ? null : await onConok(er, shard, opened.first, false);
  const boundAt = Date.now();
  const stream = opened.stream.toClient(er, shard, first, {
    polling: isPolling(body),
    onClosed: (outcome) => sessionId && streamClosed(er, sessionId, shard, outcome, boundAt),
  });
  return new Response(stream, { status: opened.res.status, headers: clientHeaders(opened.res.headers) });
}

/**
 * S: placed by stickiness or balancing, and placed once more on another shard when the first could
 * not take it: a create that could not connect or got no answer in time is not known to the client,
 * and one answered `CONERR,5` was refused by a full origin before it created anything, so neither
 * retry gives the client two sessions (an origin that was only slow drops the one it made at its
 * unbound timeout). The client would retry a 5 at once itself, but through the balancer, where
 * stickiness or stale load figures may send it straight back to the full shard. A create that
 * reached an origin otherwise is never retried.
 */
async function createSession(er: EdgeRequest, request: Request, pathAndQuery: string, body: string, req: RoutingRequest): Promise<Response> {
  const admission = await admitCreate(er);
  if (!admission.admitted) return createRefusedResponse(admission);
  let refused: { placement: Placement; opened: Opened } | null = null;
  let avoid: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    const placement = await placeSession(er, req, { avoid });
    if (!placement) break;
    if (refused) count('overloadedCreatesPlacedAgain');
    avoid = placement.shard;
    const opened = await open(er, request, placement.shard, 'create', pathAndQuery, body);
    if (opened === null) continue;
    if (opened instanceof Response) return opened;
    if (attempt === 0 && opened.first !== null && conerrCodeOf(opened.first) === ConErr.OVERLOADED) {
      refused = { placement, opened };
      continue;
    }
    await refused?.opened.stream.cancel();
    return created(er, placement, opened, body);
  }
  // Nowhere else to go: the full shard's own answer, which the client retries.
  if (refused) return created(er, refused.placement, refused.opened, body);
  return noShardResponse();
}

/** The create's response for the client: its sticky cookie where the domain uses one, CONOK edited. */
async function created(er: EdgeRequest, placement: Placement, opened: Opened, body: string): Promise<Response> {
  const { shard } = placement;
  const headers = clientHeaders(opened.res.headers);
  for (const cookie of await createCookies(er, placement)) headers.append('set-cookie', cookie);
  const first = opened.first === null ? null : await onConok(er, shard, opened.first, true);
  const sessionId = first === null ? null : (conokOf(first)?.session ?? null);
  const boundAt = Date.now();
  const stream = opened.stream.toClient(er, shard, first, {
    polling: isPolling(body),
    onClosed: (outcome) => sessionId && streamClosed(er, sessionId, shard, outcome, boundAt),
  });
  return new Response(stream, { status: opened.res.status, headers });
}
