import type { Context } from 'hono';
import type { EdgeEnv, EdgeRequest } from './edge-request.ts';
import { edgeRequestOf } from './edge-request.ts';
import { endpointOf } from './tlcp.ts';
import { relayHttp } from './http-relay.ts';
import { relayWebSocket, TLCP_SUBPROTOCOL } from './websocket-relay.ts';
import { placeSession, type RouteHints } from './session-routing.ts';
import { stickyCookieFor, cookieShard } from './affinity.ts';
import { noShardResponse } from './failover.ts';
import { pickShard, usableShards } from './balance.ts';
import { clientHeaders, originHeaders } from './forwarding.ts';
import { callShard, ShardCallFailed } from './origin-call.ts';
import { withCors } from './cors.ts';

/**
 * The shard a URL names by itself: the per-shard hostname (mode `host`) or `/<prefix>/<shard>` in
 * front of `/lightstreamer` (mode `path`). `undefined` = the balancing address; null = a prefix this
 * domain does not serve, which is never forwarded anywhere.
 */
function fixedShardOf(er: EdgeRequest, prefix: string): RouteHints['fixed'] | null | undefined {
  if (er.hostShard) return prefix === '' ? { shard: er.hostShard, via: 'host' } : null;
  if (prefix === '') return undefined;
  const m = /^\/([^/]+)\/([^/]+)$/.exec(prefix);
  if (!m || m[1] !== er.domain.pathPrefix || !er.domain.modes.includes('path')) return null;
  return { shard: m[2], via: 'path' };
}

export async function tlcp(c: Context<EdgeEnv>): Promise<Response> {
  const url = new URL(c.req.url);
  const er = await edgeRequestOf(c);
  // Names the host so an operator can tell a DOMAINS entry is missing from a wrong DNS record.
  if (!er) return c.text(`no domain is configured for host ${url.hostname}\n`, 404);
  const ep = endpointOf(url.pathname);
  if (!ep) return staticPage(c, er, url);
  const fixed = fixedShardOf(er, ep.prefix);
  if (fixed === null) return c.text('not found', 404);
  const hints: RouteHints = { fixed, cookieHeader: c.req.header('cookie') };

  if (ep.endpoint === 'websocket') {
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('WebSocket upgrade required', 426);
    // The 101 names the TLCP subprotocol, which a client that did not offer it must refuse (RFC 6455 §4.1).
    const offered = (c.req.header('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(TLCP_SUBPROTOCOL)) return c.text(`not a TLCP WebSocket (subprotocol ${TLCP_SUBPROTOCOL} required)\n`, 400);
    const socket = await cookieForSocket(er, hints);
    return relayWebSocket(er, c.req.raw, socket.hints, socket.headers);
  }
  // A CORS preflight carries no session: any shard answers it as well as another.
  if (c.req.method === 'OPTIONS') return withCors(c.req.raw, await anyShard(c, er, `/lightstreamer/${ep.endpoint}.txt${url.search}`));
  if (c.req.method !== 'POST') return c.text('TLCP requests are POSTs', 405, { allow: 'POST' });
  return withCors(c.req.raw, await relayHttp(er, c.req.raw, ep.endpoint, `/lightstreamer/${ep.endpoint}.txt${url.search}`, hints));
}

/**
 * A cookie-mode socket without a valid cookie must get its cookie in the 101, before the edge knows
 * whether it will create a session: place it now, and let a create frame follow that placement.
 */
async function cookieForSocket(er: EdgeRequest, hints: RouteHints): Promise<{ hints: RouteHints; headers: Headers }> {
  const headers = new Headers();
  if (!er.domain.modes.includes('cookie') || hints.fixed || (await cookieShard(er, hints.cookieHeader))) return { hints, headers };
  const placed = await placeSession(er, hints);
  if (!placed) return { hints, headers };
  const cookie = await stickyCookieFor(er, placed.shard);
  if (cookie) headers.append('set-cookie', cookie);
  return { hints: { ...hints, placed }, headers };
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
