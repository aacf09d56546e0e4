import { shardOfSessionId } from '../protocol/session-id.ts';
import type { Mode } from './config.ts';
import type { EdgeRequest } from './edge-request.ts';
import { createCookies, modesOf, type RoutingRequest } from './modes/mode.ts';
import { isAlive, isServing, pickShard, usableShards } from './balance.ts';
import { count } from './registry-client.ts';
import { notePlaced } from './local-observations.ts';

/**
 * Where a request goes. New sessions (S) are placed; requests of an existing session (CR) are
 * homed — by the domain's modes (modes/), strongest first. Only shards of the configuration are ever
 * returned, whatever the client sent.
 */

export interface Placement {
  readonly shard: string;
  /** What decided it, for the routing counters. */
  readonly via: Mode | 'balance';
}

/** The session's home is dead, removed, or not knowable: the caller answers with `sessionGone`. */
export const GONE = 'gone' as const;

export interface PlacementOptions {
  /** Already placed before the request was read (a socket whose placement is settled at its upgrade). */
  readonly placed?: Placement;
  /** A shard that just refused this create (full, or no answer): placed elsewhere even if a mode names it. */
  readonly avoid?: string;
}

export function inPool(er: EdgeRequest, shard: string): boolean {
  return er.config.shards.has(shard) && (er.domain.shards.includes(shard) || er.hostShard === shard);
}

/** The placement a mode of the domain claims for a new session, before any balancing. */
async function claimOf(er: EdgeRequest, req: RoutingRequest, usable: readonly string[]): Promise<Placement | null> {
  for (const mode of modesOf(er.domain)) {
    const shard = await mode.claim?.(er, req, usable);
    if (shard) return { shard, via: mode.name };
  }
  return null;
}

/**
 * A new session: a mode that claims it (the URL names a shard, a sticky cookie) decides; otherwise
 * the balancer proposes and the modes settle (an IP association made earlier wins, or is made now).
 */
export async function placeSession(er: EdgeRequest, req: RoutingRequest, options: PlacementOptions = {}): Promise<Placement | null> {
  if (options.placed) return options.placed;
  const usable = usableShards(er.snapshot, er.domain.shards).filter((s) => s.id !== options.avoid);
  const usableIds = usable.map((s) => s.id);
  const modes = modesOf(er.domain);
  let placement = await claimOf(er, req, usableIds);
  if (!placement) {
    const proposed = pickShard(usable);
    if (!proposed) return null;
    placement = { shard: proposed, via: 'balance' };
    for (const mode of modes) {
      const shard: string | undefined = await mode.settle?.(er, placement.shard, usableIds);
      if (shard !== undefined && shard !== placement.shard) placement = { shard, via: mode.name };
    }
  }
  notePlaced(placement.shard);
  count(`s.${placement.via}`);
  return placement;
}

/**
 * An existing session: every mode of the domain that knows a home says it, strongest first; modes
 * that must ask a Durable Object only when none knew. When two disagree the stronger wins and the
 * disagreement is counted as a stickiness violation: that is the §4 situation where an LB
 * association moved under a live session.
 */
export async function homeOfSession(er: EdgeRequest, req: RoutingRequest): Promise<Placement | typeof GONE> {
  const candidates: Placement[] = [];
  for (const mode of modesOf(er.domain)) {
    if (!mode.home || (mode.source === 'object' && candidates.length > 0)) continue;
    const shard = await mode.home(er, req);
    if (shard) candidates.push({ shard, via: mode.name });
  }
  const home = candidates[0];
  if (candidates.some((c) => c.shard !== home?.shard)) count('stickinessViolations');
  // An id that names one of our shards says where the session is, whatever the domain's modes: any
  // other shard would answer the fatal 21 (wrong instance), where "gone" makes the client re-create.
  const id = req.sessionId;
  const named = id ? shardOfSessionId(id) : null;
  const elsewhere = !!home && named !== null && er.config.shards.has(named) && named !== home.shard;
  if (!home || elsewhere || !inPool(er, home.shard) || !isServing(er.snapshot, home.shard)) {
    // What a mode remembers outlives a connection this isolate just failed to make (the registry has
    // yet to rule on the shard); it goes only when its shard left the pool or was declared down.
    if (id && home && !(inPool(er, home.shard) && isAlive(er.snapshot, home.shard))) {
      modesOf(er.domain)
        .find((m) => m.name === home.via)
        ?.onHomeLost?.(er, id);
    }
    return GONE;
  }
  count(`cr.${home.via}`);
  return home;
}

/**
 * A socket of a domain whose placement is settled at the upgrade (modes/mode.ts), with nothing in
 * the request that claims it already: placed now, with the cookies its 101 carries.
 */
export async function placeSocketAtUpgrade(er: EdgeRequest, req: RoutingRequest): Promise<{ placed?: Placement; cookies: string[] }> {
  if (!modesOf(er.domain).some((m) => m.placesSocketsAtUpgrade)) return { cookies: [] };
  const usable = usableShards(er.snapshot, er.domain.shards).map((s) => s.id);
  if (await claimOf(er, req, usable)) return { cookies: [] };
  const placed = await placeSession(er, req);
  return placed ? { placed, cookies: await createCookies(er, placed) } : { cookies: [] };
}
