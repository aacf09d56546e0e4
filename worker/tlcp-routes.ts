import type { Context } from 'hono';
import type { EdgeEnv, EdgeRequest } from './edge-request.ts';
import { endpointOf } from './tlcp.ts';
import { relayHttp } from './http-relay.ts';
import { relayWebSocket, TLCP_SUBPROTOCOL } from './websocket-relay.ts';
import { placeSocketAtUpgrade } from './session-routing.ts';
import type { RoutingRequest } from './modes/mode.ts';
import { pathShardOf } from './modes/path.ts';
import { handOver, isSessionDomain } from './modes/session.ts';
import { noShardResponse } from './failover.ts';
import { pickShard, usableShards } from './balance.ts';
import { clientHeaders, originHeaders } from './forwarding.ts';
import { callShard, ShardCallFailed } from './origin-call.ts';
import { withCors } from './cors.ts';

export async function tlcp(c: Context<EdgeEnv>): Promise<Response> {
  const url = new URL(c.req.url);
  const er = c.get('edge');
  const ep = endpointOf(url.pathname);
  if (!ep) return staticPage(c, er, url);
  if (isSessionDomain(er)) {
    if (ep.endpoint === 'websocket' && c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('WebSocket upgrade required', 426);
    if (ep.endpoint !== 'websocket' && c.req.method === 'OPTIONS') return withCors(c.req.raw, await anyShard(c, er, `/lightstreamer/${ep.endpoint}.txt${url.search}`));
    if (ep.endpoint !== 'websocket' && c.req.method !== 'POST') return c.text('TLCP requests are POSTs', 405, { allow: 'POST' });
    const answer = await handOver(er, c.req.raw, ep.endpoint, ep.prefix, url.search);
    return ep.endpoint === 'websocket' ? answer : withCors(c.req.raw, answer);
  }
  // A path in front of /lightstreamer that this domain does not serve is never forwarded anywhere.
  if (pathShardOf(er, ep.prefix) === null) return c.text('not found', 404);
  const req: RoutingRequest = { prefix: ep.prefix, cookieHeader: c.req.header('cookie'), sessionId: null };

  if (ep.endpoint === 'websocket') {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('WebSocket upgrade required', 426);
    // The 101 names the TLCP subprotocol, which a client that did not offer it must refuse (RFC 6455 §4.1).
    const offered = (c.req.header('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(TLCP_SUBPROTOCOL)) return c.text(`not a TLCP WebSocket (subprotocol ${TLCP_SUBPROTOCOL} required)\n`, 400);
    const { placed, cookies } = await placeSocketAtUpgrade(er, req);
    const headers = new Headers();
    for (const cookie of cookies) headers.append('set-cookie', cookie);
    return relayWebSocket(er, c.req.raw, req, placed, headers);
  }
  // A CORS preflight carries no session: any shard answers it as well as another.
  if (c.req.method === 'OPTIONS') return withCors(c.req.raw, await anyShard(c, er, `/lightstreamer/${ep.endpoint}.txt${url.search}`));
  if (c.req.method !== 'POST') return c.text('TLCP requests are POSTs', 405, { allow: 'POST' });
  return withCors(c.req.raw, await relayHttp(er, c.req.raw, ep.endpoint, `/lightstreamer/${ep.endpoint}.txt${url.search}`, req));
}

/**
 * Anything else on the balancing address (the demo pages the origins serve): read-only, balanced,
 * and never the origins' APIs or dashboards, which only the admin route reaches (guide §6).
 */
async function staticPage(c: Context<EdgeEnv>, er: EdgeRequest, url: URL): Promise<Response> {
  // A pathname of `//host/…` would be a relative URL naming another host, not a page of a shard.
  if ((c.req.method !== 'GET' && c.req.method !== 'HEAD') || er.hostShard || url.pathname.startsWith('//') || /^\/(api|dashboard|metrics|_edge)(\/|$)/.test(url.pathname)) {
    return c.text('not found', 404);
  }
  return anyShard(c, er, url.pathname + url.search);
}

/** A request bound to no session, to whichever shard balancing picks. */
async function anyShard(c: Context<EdgeEnv>, er: EdgeRequest, pathAndQuery: string): Promise<Response> {
  const shard = pickShard(usableShards(er.snapshot, er.domain.shards));
  if (!shard) return noShardResponse();
  try {
    const { res, deadline } = await callShard(er, shard, 'page', pathAndQuery, {
      method: c.req.method,
      headers: originHeaders(c.req.raw.headers, er.client, er.env.EDGE_SECRET, er.domain.cookieName),
      redirect: 'manual',
    });
    deadline.lift();
    return new Response(res.body, { status: res.status, headers: clientHeaders(res.headers) });
  } catch (err) {
    if (err instanceof ShardCallFailed) return noShardResponse();
    throw err;
  }
}
