import { shardOfSessionId } from '../protocol/session-id.ts';
import type { Mode } from './config.ts';
import type { EdgeRequest } from './edge-request.ts';
import { cookieShard, ipShard, stickIp } from './affinity.ts';
import { forgetPin, pinnedShard } from './session-pins.ts';
import { isAlive, isServing, pickShard, usableShards } from './balance.ts';
import { count } from './registry-client.ts';
import { notePlaced } from './local-observations.ts';

/**
 * Where a request goes. New sessions (S) are placed; requests of an existing session (CR) are
 * homed. Only shards of the configuration are ever returned, whatever the client sent.
 */

export interface Placement {
  readonly shard: string;
  /** What decided it, for the routing counters. */
  readonly via: Mode | 'balance';
}

/** Only ids that could be a server's are looked up in pins: junk never costs a Durable Object call. */
const PLAUSIBLE_SESSION_ID = /^[A-Za-z0-9_.:-]{8,128}$/;

/** The session's home is dead, removed, or not knowable: the caller answers with `sessionGone`. */
export const GONE = 'gone' as const;

export interface RouteHints {
  /** Shard named by the URL: the per-shard hostname or the `/<prefix>/<shard>` path. */
  readonly fixed?: { shard: string; via: 'host' | 'path' };
  readonly sessionId?: string | null;
  readonly cookieHeader?: string;
  /** Already placed before the request was read (a cookie-mode socket that needed its cookie early). */
  readonly placed?: Placement;
  /** A shard that just refused this create as full: placed elsewhere even if stickiness names it. */
  readonly avoid?: string;
}

export function inPool(er: EdgeRequest, shard: string): boolean {
  return er.config.shards.has(shard) && (er.domain.shards.includes(shard) || er.hostShard === shard);
}

/** A new session: stickiness first where the domain uses LB stickiness, otherwise balancing. */
export async function placeSession(er: EdgeRequest, hints: RouteHints): Promise<Placement | null> {
  if (hints.placed) return hints.placed;
  const usable = usableShards(er.snapshot, er.domain.shards).filter((s) => s.id !== hints.avoid);
  const usableIds = usable.map((s) => s.id);
  let placement: Placement | null = null;
  if (hints.fixed && usableIds.includes(hints.fixed.shard)) placement = hints.fixed;
  if (!placement && er.domain.modes.includes('cookie')) {
    const shard = await cookieShard(er, hints.cookieHeader);
    if (shard && usableIds.includes(shard)) placement = { shard, via: 'cookie' };
  }
  if (!placement) {
    const shard = pickShard(usable);
    if (!shard) return null;
    placement = { shard, via: 'balance' };
  }
  if (er.domain.modes.includes('ip') && placement.via !== 'cookie' && !hints.fixed) {
    const shard = await stickIp(er, placement.shard, usableIds);
    if (shard !== placement.shard) placement = { shard, via: 'ip' };
  }
  notePlaced(placement.shard);
  count(`s.${placement.via}`);
  return placement;
}

/**
 * An existing session: every source of truth the domain enables, strongest first. When two disagree
 * the stronger wins and the disagreement is counted as a stickiness violation: that is the §4
 * situation where an LB association moved under a live session.
 */
export async function homeOfSession(er: EdgeRequest, hints: RouteHints): Promise<Placement | typeof GONE> {
  const modes = er.domain.modes;
  const candidates: Placement[] = [];
  if (hints.fixed) candidates.push(hints.fixed);
  const id = hints.sessionId;
  if (id && modes.includes('session-id')) {
    const shard = shardOfSessionId(id);
    if (shard) candidates.push({ shard, via: 'session-id' });
  }
  if (id && PLAUSIBLE_SESSION_ID.test(id) && modes.includes('pin') && candidates.length === 0) {
    const shard = await pinnedShard(er, id);
    if (shard) candidates.push({ shard, via: 'pin' });
  }
  if (modes.includes('cookie')) {
    const shard = await cookieShard(er, hints.cookieHeader);
    if (shard) candidates.push({ shard, via: 'cookie' });
  }
  if (modes.includes('ip') && candidates.length === 0) {
    const shard = await ipShard(er);
    if (shard) candidates.push({ shard, via: 'ip' });
  }
  const home = candidates[0];
  if (candidates.some((c) => c.shard !== home?.shard)) count('stickinessViolations');
  // An id that names one of our shards says where the session is, whatever the domain's modes: any
  // other shard would answer the fatal 21 (wrong instance), where "gone" makes the client re-create.
  const named = id ? shardOfSessionId(id) : null;
  const elsewhere = !!home && named !== null && er.config.shards.has(named) && named !== home.shard;
  if (!home || elsewhere || !inPool(er, home.shard) || !isServing(er.snapshot, home.shard)) {
    // A pin outlives a connection this isolate just failed to make (the registry has yet to rule on
    // the shard); it goes only when its shard left the pool or the registry declared it down.
    if (id && home?.via === 'pin' && !(inPool(er, home.shard) && isAlive(er.snapshot, home.shard))) forgetPin(er, id);
    return GONE;
  }
  count(`cr.${home.via}`);
  return home;
}
