import type { EdgeRequest } from '../edge-request.ts';
import type { Endpoint } from '../tlcp.ts';
import { sessionIdOf, splitBody } from '../../protocol/request.ts';
import { SESSION_HEADERS } from '../../objects/edge-session.ts';
import { sessionGoneResponse } from '../failover.ts';
import { clientHeadersToForward } from '../forwarding.ts';
import { admitCreate, createRefusedResponse } from '../create-rate-limit.ts';
import { count } from '../registry-client.ts';

/**
 * Mode `session`: the edge terminates each client session in a Durable Object of its own
 * (objects/edge-session.ts), which keeps one upstream session on a shard and moves it to another
 * when that shard dies, hangs or is drained — the client keeps its session. The Worker only hands
 * requests over: a create (or a socket on the balancing address) to a new object, every other
 * request to the object its session id names (`E<object id>`, carried in LS_session and in the
 * control link's path `/<pathPrefix>/<session id>`, so later sockets reach the object without the
 * Worker reading their frames). An id that names no object of this namespace costs no object call.
 */

export function isSessionDomain(er: EdgeRequest): boolean {
  return er.domain.modes.includes('session');
}

/** The object a session id names, or null for an id that cannot be one of ours. */
function objectOf(er: EdgeRequest, sessionId: string | null): DurableObjectId | null {
  if (!sessionId || !/^E[0-9a-f]{64}$/.test(sessionId)) return null;
  try {
    return er.env.EDGE_SESSION.idFromString(sessionId.slice(1));
  } catch {
    return null;
  }
}

/** `/<pathPrefix>/<session id>` in front of `/lightstreamer`: the session the URL names; undefined for none. */
function sessionOfPrefix(er: EdgeRequest, prefix: string): string | null | undefined {
  if (prefix === '') return undefined;
  const m = /^\/([^/]+)\/([^/]+)$/.exec(prefix);
  return m && m[1] === er.domain.pathPrefix ? m[2] : null;
}

/** Hands a TLCP request (HTTP or socket upgrade) to the object of its session, or to a new one. */
export async function handOver(er: EdgeRequest, request: Request, endpoint: Endpoint, prefix: string, search: string): Promise<Response> {
  const named = sessionOfPrefix(er, prefix);
  if (named === null) return new Response('not found\n', { status: 404 });
  const creating = endpoint === 'create_session' || (endpoint === 'websocket' && named === undefined);
  const body = endpoint === 'websocket' ? null : await request.text();
  let id: DurableObjectId | null;
  if (creating) {
    const admission = await admitCreate(er);
    if (!admission.admitted) return createRefusedResponse(admission);
    id = er.env.EDGE_SESSION.newUniqueId();
    count('s.session');
  } else {
    const query = search.startsWith('?') ? search.slice(1) : search;
    const sessionId = named ?? sessionIdOf(query, endpoint === 'bind_session' && body !== null ? (splitBody(body)[0] ?? null) : null);
    id = objectOf(er, sessionId);
    if (!id) return sessionGoneResponse(endpoint, body ?? '');
    count('cr.session');
  }
  const headers = clientHeadersToForward(request.headers, er.domain.cookieName);
  for (const h of ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']) {
    const v = request.headers.get(h);
    if (v !== null) headers.set(h, v);
  }
  if (er.client.ip) headers.set(SESSION_HEADERS.clientIp, er.client.ip);
  headers.set(SESSION_HEADERS.domain, er.domain.host);
  headers.set(SESSION_HEADERS.controlLink, `${er.client.host}/${er.domain.pathPrefix}/E${id.toString()}`);
  const path = endpoint === 'websocket' ? '/lightstreamer' : `/lightstreamer/${endpoint}.txt`;
  return er.env.EDGE_SESSION.get(id).fetch(`https://session${path}${search}`, { method: request.method, headers, body });
}
