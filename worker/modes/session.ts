import type { EdgeRequest } from '../edge-request.ts';
import type { Endpoint } from '../tlcp.ts';
import { sessionIdOf, splitBody } from '../../protocol/request.ts';
import { SESSION_HEADERS, SESSION_ID_PATTERN } from '../../objects/session-host.ts';
import type { HostName } from '../../objects/session-directory.ts';
import { sessionGoneResponse } from '../failover.ts';
import { clientHeadersToForward } from '../forwarding.ts';
import { admitCreate, createRefusedResponse } from '../create-rate-limit.ts';
import { count } from '../registry-client.ts';

/**
 * Mode `session`: the edge terminates client sessions in Durable Objects (objects/session-host.ts),
 * each of which keeps one upstream session per client session on a shard and moves it to another when
 * that shard dies, hangs or is drained — the client keeps its session. The Worker only hands requests
 * over: a create (or a socket on the balancing address) to the host the session directory names for
 * this domain and location, every other request to the host its session id names
 * (`E<object id>.<key>`, carried in LS_session and in the control link's path
 * `/<pathPrefix>/<session id>`, so later sockets reach the host without the Worker reading their
 * frames). An id that names no object of this namespace costs no object call.
 */

/** Hosts to try for one create: each refusal (full) brings the directory's next. */
const HOST_ATTEMPTS = 3;

/** Per directory, the host this isolate last sent a create to: asked again only once it is full. */
const hostInUse = new Map<string, HostName>();

export function isSessionDomain(er: EdgeRequest): boolean {
  return er.domain.modes.includes('session');
}

/** The host a session id names, or null for an id that cannot be one of ours. */
function hostOf(er: EdgeRequest, sessionId: string | null): DurableObjectId | null {
  const m = sessionId === null ? null : SESSION_ID_PATTERN.exec(sessionId);
  if (!m) return null;
  try {
    return er.env.SESSION_HOST.idFromString(m[1]);
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

/** Hands a TLCP request (HTTP or socket upgrade) to the host of its session, or to one with room. */
export async function handOver(er: EdgeRequest, request: Request, endpoint: Endpoint, prefix: string, search: string): Promise<Response> {
  const named = sessionOfPrefix(er, prefix);
  if (named === null) return new Response('not found\n', { status: 404 });
  const creating = endpoint === 'create_session' || (endpoint === 'websocket' && named === undefined);
  const body = endpoint === 'websocket' ? null : await request.text();
  const headers = clientHeadersToForward(request.headers, er.domain.cookieName);
  for (const h of ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions']) {
    const v = request.headers.get(h);
    if (v !== null) headers.set(h, v);
  }
  if (er.client.ip) headers.set(SESSION_HEADERS.clientIp, er.client.ip);
  headers.set(SESSION_HEADERS.domain, er.domain.host);
  headers.set(SESSION_HEADERS.controlBase, `${er.client.host}/${er.domain.pathPrefix}`);
  const path = endpoint === 'websocket' ? '/lightstreamer' : `/lightstreamer/${endpoint}.txt`;
  const forward = (id: DurableObjectId) => er.env.SESSION_HOST.get(id).fetch(`https://session${path}${search}`, { method: request.method, headers, body });

  if (creating) {
    const admission = await admitCreate(er);
    if (!admission.admitted) return createRefusedResponse(admission);
    count('s.session');
    return create(er, request, headers, forward);
  }
  const query = search.startsWith('?') ? search.slice(1) : search;
  const sessionId = named ?? sessionIdOf(query, endpoint === 'bind_session' && body !== null ? (splitBody(body)[0] ?? null) : null);
  const id = hostOf(er, sessionId);
  if (!id || sessionId === null) return sessionGoneResponse(endpoint, body ?? '');
  count('cr.session');
  headers.set(SESSION_HEADERS.session, sessionId);
  return forward(id);
}

/** A create goes to the host in use for the client's location; a full one sends it to the directory's next. */
async function create(er: EdgeRequest, request: Request, headers: Headers, forward: (id: DurableObjectId) => Promise<Response>): Promise<Response> {
  const colo = (request as { cf?: { colo?: unknown } }).cf?.colo;
  const directory = `${er.domain.host}@${typeof colo === 'string' ? colo : 'any'}`;
  const directoryStub = er.env.SESSION_DIRECTORY.get(er.env.SESSION_DIRECTORY.idFromName(directory));
  headers.set(SESSION_HEADERS.capacity, String(er.domain.sessionsPerObject));
  let full: HostName | null = null;
  for (let attempt = 0; attempt < HOST_ATTEMPTS; attempt++) {
    const host: HostName = (full === null ? hostInUse.get(directory) : undefined) ?? (await directoryStub.hostFor(directory, full));
    hostInUse.set(directory, host);
    headers.set(SESSION_HEADERS.host, host);
    const answer = await forward(er.env.SESSION_HOST.idFromName(host));
    if (answer.headers.get(SESSION_HEADERS.full) === null) return answer;
    await answer.body?.cancel();
    full = host;
  }
  return new Response('no session host has room for a new session; try again\n', { status: 503, headers: { 'retry-after': '1' } });
}
