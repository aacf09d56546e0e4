import type { EdgeRequest } from './edge-request.ts';
import type { Pin } from '../objects/session-pin.ts';
import { shardOfSessionId } from '../protocol/session-id.ts';
import { remember } from './affinity.ts';
import type { StreamOutcome } from './relayed-stream.ts';

/**
 * Mode `pin`: the learned home of each session whose id does not name its shard, one SessionPin
 * object per session (objects/session-pin.ts), cached in the isolate — a session costs at most one
 * object read per isolate, and an id no pin knows (a stale or made-up one) costs one read per
 * ABSENT_TTL_MS, not one per request. The edge follows each session's life on the streams it relays:
 * binds renew the pin, an END deletes it, a broken stream leaves it GRACE_MS to be recovered.
 */

const pins = new Map<string, Pin>();
const absent = new Map<string, number>();
const PIN_CACHE_LIMIT = 50_000;
const ABSENT_CACHE_LIMIT = 50_000;
const ABSENT_TTL_MS = 2_000;
/**
 * How long a pin outlives a stream that broke without LOOP or END. Origins keep an unbound session
 * for recovery (edgepush 30 s, Lightstreamer's default less); the client recovers within seconds.
 */
const GRACE_MS = 120_000;

function pinObject(er: EdgeRequest, sessionId: string) {
  return er.env.SESSION_PIN.get(er.env.SESSION_PIN.idFromName(sessionId));
}

/** Whether the session needs a pin at all: the domain pins, and its id does not name the shard already. */
export function isPinned(er: EdgeRequest, sessionId: string, shard: string): boolean {
  const modes = er.domain.modes;
  return modes.includes('pin') && !(modes.includes('session-id') && shardOfSessionId(sessionId) === shard);
}

export async function pinnedShard(er: EdgeRequest, sessionId: string): Promise<string | null> {
  const now = Date.now();
  const cached = pins.get(sessionId);
  if (cached && cached.expiresAt > now) return cached.shard;
  if ((absent.get(sessionId) ?? 0) > now) return null;
  const pin = await pinObject(er, sessionId).lookup();
  if (pin) {
    remember(pins, PIN_CACHE_LIMIT, sessionId, pin);
    absent.delete(sessionId);
  } else {
    pins.delete(sessionId);
    remember(absent, ABSENT_CACHE_LIMIT, sessionId, now + ABSENT_TTL_MS);
  }
  return pin?.shard ?? null;
}

/** Resolves once the pin is durable: the client must not learn its session id before any isolate can route it. */
export async function learnPin(er: EdgeRequest, sessionId: string, shard: string): Promise<void> {
  remember(pins, PIN_CACHE_LIMIT, sessionId, { shard, expiresAt: Date.now() + er.domain.pinSeconds * 1000 });
  absent.delete(sessionId);
  await pinObject(er, sessionId).pin(shard, er.domain.pinSeconds * 1000);
}

/** A bind of the session was answered with CONOK at `boundAt`: the session lives on. */
export function renewPin(er: EdgeRequest, sessionId: string, shard: string, boundAt: number): void {
  const ttlMs = er.domain.pinSeconds * 1000;
  remember(pins, PIN_CACHE_LIMIT, sessionId, { shard, expiresAt: boundAt + ttlMs });
  er.waitUntil(pinObject(er, sessionId).renew(boundAt, ttlMs).catch(() => undefined));
}

/** The session or the shard the pin named is gone: the pin can only mislead from now on. */
export function forgetPin(er: EdgeRequest, sessionId: string): void {
  pins.delete(sessionId);
  remember(absent, ABSENT_CACHE_LIMIT, sessionId, Date.now() + ABSENT_TTL_MS);
  er.waitUntil(pinObject(er, sessionId).unpin().catch(() => undefined));
}

/** A stream of a pinned session, bound at `boundAt`, is over: what its end says about the session. */
export function pinnedStreamClosed(er: EdgeRequest, sessionId: string, shard: string, outcome: StreamOutcome, boundAt: number): void {
  if (!isPinned(er, sessionId, shard)) return;
  if (outcome === 'end') return forgetPin(er, sessionId);
  if (outcome === 'loop') return;
  const cached = pins.get(sessionId);
  if (cached) pins.set(sessionId, { ...cached, expiresAt: Math.min(cached.expiresAt, Date.now() + GRACE_MS) });
  er.waitUntil(pinObject(er, sessionId).release(boundAt, GRACE_MS).catch(() => undefined));
}
