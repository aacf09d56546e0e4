import type { DomainConfig, Mode } from '../config.ts';
import type { EdgeRequest } from '../edge-request.ts';
import type { StreamOutcome } from '../relayed-stream.ts';
import { host } from './host.ts';
import { path } from './path.ts';
import { sessionId } from './session-id.ts';
import { pin } from './pin.ts';
import { cookie } from './cookie.ts';
import { ip } from './ip.ts';
import { partial } from './partial.ts';

/**
 * A way of keeping a session's control and rebind (CR) requests on the shard that holds it — one
 * file per mode, each saying what the mode does at the four moments routing has:
 * - S: a new session is being placed (`claim` before the balancer chooses, `settle` after);
 * - CR: a request names an existing session (`home`);
 * - CONOK: the edge writes the control link the client will follow (`controlLink`) and learns from
 *   the session it sees created or bound (`onConok`, and `onStreamClosed` when its stream ends);
 * - the create's response, which may carry what the client must send back (`createHeaders`).
 * A domain combines modes; where several speak, the stronger one (earlier in MODE_ORDER) wins.
 */

/** What routing knows of one request before any mode looks at it. */
export interface RoutingRequest {
  /** What precedes `/lightstreamer` in the URL: a control-link path, or ''. */
  readonly prefix: string;
  readonly cookieHeader: string | undefined;
  /** The session a CR request names (query string, body, bind frame); null for a create. */
  readonly sessionId: string | null;
}

export interface RoutingMode {
  readonly name: Mode;
  /**
   * Where a home lookup of this mode comes from: `request` (the URL, the session id, a signed
   * cookie: free) or `object` (a Durable Object: asked only when no other mode knew the home).
   */
  readonly source: 'request' | 'object';
  /** S: the shard the new session must go to, if this mode decides before balancing (among `usable`). */
  claim?(er: EdgeRequest, req: RoutingRequest, usable: readonly string[]): Promise<string | undefined> | string | undefined;
  /** S: the balancer proposed `proposed` (nobody claimed the session): the shard it really goes to. */
  settle?(er: EdgeRequest, proposed: string, usable: readonly string[]): Promise<string>;
  /** CR: the shard this mode says holds the session, if it knows. */
  home?(er: EdgeRequest, req: RoutingRequest): Promise<string | undefined> | string | undefined;
  /** The control link CONOK announces for sessions on `shard`, if this mode gives the shard an address. */
  controlLink?(er: EdgeRequest, shard: string): string | undefined;
  /** A CONOK passed: of a create (`created`) or of a bind. Resolves once what it learnt is durable. */
  onConok?(er: EdgeRequest, sessionId: string, shard: string, created: boolean): Promise<void> | void;
  /** A stream of the session, bound at `boundAt`, ended as `outcome`. */
  onStreamClosed?(er: EdgeRequest, sessionId: string, shard: string, outcome: StreamOutcome, boundAt: number): void;
  /** The shard this mode named as the session's home left the pool or was declared down. */
  onHomeLost?(er: EdgeRequest, sessionId: string): void;
  /**
   * The Set-Cookie a create's response carries for the client to send back, unless the client's
   * own cookie placed the session (`claimedByThisMode`).
   */
  setCookie?(er: EdgeRequest, shard: string, claimedByThisMode: boolean): Promise<string | null>;
  /**
   * A WebSocket's placement is settled at its upgrade, before its first frame says whether it
   * creates a session: the 101 carries `setCookie` (a cookie cannot be set later on a socket), and a
   * create refused by a full shard cannot move.
   */
  readonly placesSocketsAtUpgrade?: boolean;
}

/** Strongest first: what the URL says, then the session id, then what the edge remembers. */
const MODE_ORDER: readonly RoutingMode[] = [host, path, sessionId, pin, cookie, ip, partial];

const byDomain = new WeakMap<DomainConfig, readonly RoutingMode[]>();

/** The domain's modes, strongest first. */
export function modesOf(domain: DomainConfig): readonly RoutingMode[] {
  let modes = byDomain.get(domain);
  if (!modes) {
    modes = MODE_ORDER.filter((m) => domain.modes.includes(m.name));
    byDomain.set(domain, modes);
  }
  return modes;
}

/** A stream of a session ended: the domain's modes hear how (a pin follows its session's life). */
export function streamClosed(er: EdgeRequest, sessionId: string, shard: string, outcome: StreamOutcome, boundAt: number): void {
  for (const mode of modesOf(er.domain)) mode.onStreamClosed?.(er, sessionId, shard, outcome, boundAt);
}

/** The Set-Cookie headers of a create's response placed as `placement` says. */
export async function createCookies(er: EdgeRequest, placement: { readonly shard: string; readonly via: string }): Promise<string[]> {
  const cookies: string[] = [];
  for (const mode of modesOf(er.domain)) {
    const cookie = await mode.setCookie?.(er, placement.shard, placement.via === mode.name);
    if (cookie) cookies.push(cookie);
  }
  return cookies;
}
