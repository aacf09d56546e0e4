import type { EdgeRequest } from '../edge-request.ts';
import type { Pin } from '../../objects/session-pin.ts';
import { shardOfSessionId } from '../../protocol/session-id.ts';
import { remember } from '../bounded-cache.ts';
import type { RoutingMode } from './mode.ts';

/**
 * Mode `pin`: for origins whose session ids do not name their shard (a genuine Lightstreamer Server,
 * or `SESSION_ID_STYLE=opaque`), the edge learns each session's home from the CONOK it relays and
 * keeps it in a SessionPin object (objects/session-pin.ts), cached in the isolate: a session costs at
 * most one object read per isolate, and an id no pin knows (stale or made up) one read per
 * ABSENT_TTL_MS, not one per request. The pin follows the session's life on the streams the edge
 * relays: binds renew it, an END deletes it, a stream that breaks leaves it GRACE_MS to be recovered.
 */
export const pin: RoutingMode = {
  name: 'pin',
  source: 'object',
  async home(er, req) {
    if (!req.sessionId || !PLAUSIBLE_SESSION_ID.test(req.sessionId)) return undefined;
    return (await pinnedShard(er, req.sessionId)) ?? undefined;
  },
  async onConok(er, sessionId, shard, created) {
    if (!needsPin(er, sessionId, shard)) return;
    // Resolves once the pin is durable: the client must not learn its session id before any isolate can route it.
    if (created) await learnPin(er, sessionId, shard);
    else renewPin(er, sessionId, shard, Date.now());
  },
  onStreamClosed(er, sessionId, shard, outcome, boundAt) {
    if (!needsPin(er, sessionId, shard) || outcome === 'loop') return;
    if (outcome === 'end') return forgetPin(er, sessionId);
    const cached = pins.get(sessionId);
    if (cached) pins.set(sessionId, { ...cached, expiresAt: Math.min(cached.expiresAt, Date.now() + GRACE_MS) });
    er.waitUntil(pinObject(er, sessionId).release(boundAt, GRACE_MS).catch(() => undefined));
  },
  onHomeLost: (er, sessionId) => forgetPin(er, sessionId),
};

/** Only ids that could be a server's are looked up: junk never costs a Durable Object call. */
const PLAUSIBLE_SESSION_ID = /^[A-Za-z0-9_.:-]{8,128}$/;
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

/** A session whose id names its shard already, in a domain that reads ids, needs no pin. */
function needsPin(er: EdgeRequest, sessionId: string, shard: string): boolean {
  return !(er.domain.modes.includes('session-id') && shardOfSessionId(sessionId) === shard);
}

async function pinnedShard(er: EdgeRequest, sessionId: string): Promise<string | null> {
  const now = Date.now();
  const cached = pins.get(sessionId);
  if (cached && cached.expiresAt > now) return cached.shard;
  if ((absent.get(sessionId) ?? 0) > now) return null;
  const found = await pinObject(er, sessionId).lookup();
  if (found) {
    remember(pins, PIN_CACHE_LIMIT, sessionId, found);
    absent.delete(sessionId);
  } else {
    pins.delete(sessionId);
    remember(absent, ABSENT_CACHE_LIMIT, sessionId, now + ABSENT_TTL_MS);
  }
  return found?.shard ?? null;
}

async function learnPin(er: EdgeRequest, sessionId: string, shard: string): Promise<void> {
  remember(pins, PIN_CACHE_LIMIT, sessionId, { shard, expiresAt: Date.now() + er.domain.pinSeconds * 1000 });
  absent.delete(sessionId);
  await pinObject(er, sessionId).pin(shard, er.domain.pinSeconds * 1000);
}

/** A bind of the session was answered with CONOK at `boundAt`: the session lives on. */
function renewPin(er: EdgeRequest, sessionId: string, shard: string, boundAt: number): void {
  const ttlMs = er.domain.pinSeconds * 1000;
  remember(pins, PIN_CACHE_LIMIT, sessionId, { shard, expiresAt: boundAt + ttlMs });
  er.waitUntil(pinObject(er, sessionId).renew(boundAt, ttlMs).catch(() => undefined));
}

/** The session or the shard the pin named is gone: the pin can only mislead from now on. */
function forgetPin(er: EdgeRequest, sessionId: string): void {
  pins.delete(sessionId);
  remember(absent, ABSENT_CACHE_LIMIT, sessionId, Date.now() + ABSENT_TTL_MS);
  er.waitUntil(pinObject(er, sessionId).unpin().catch(() => undefined));
}
