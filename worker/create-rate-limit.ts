import type { EdgeRequest } from './edge-request.ts';
import { clientKeyOf } from './client-key.ts';
import { count } from './registry-client.ts';

/**
 * The per-client create rate limit: how many sessions one address (IPv6: one /64) may create on a
 * domain, so that one address cannot fill the shards' session slots, while a reconnect storm — every
 * client behind one NAT re-creating at once after a shard died — is shaped rather than refused.
 *
 * A generic cell rate algorithm per domain and client: each create takes the next slot of the
 * client's schedule (one per 60/createsPerMinute s); up to createBurst slots may be taken ahead of
 * time, so a burst passes at once; a create beyond the burst waits for its slot when that comes
 * within MAX_WAIT_MS, and only one that would wait longer — a sustained excess — is refused.
 *
 * Kept in the isolate, not in Cloudflare's rate-limiting binding nor in a Durable Object: shaping
 * needs to know when the next slot frees, and the binding only answers yes or no over fixed 10 or
 * 60 s windows, with one limit per binding fixed in wrangler.toml where domains each have their own;
 * a Durable Object would put a round trip to wherever the object lives on every create of every
 * mode. The price is scope: a client whose creates reach several isolates gets each isolate's
 * allowance (README, "Limits worth knowing").
 */

/**
 * The longest a create waits for its slot. The official client abandons a create that has not been
 * answered within its retry delay (4 s by default) and sends another, so a wait must end well before.
 */
const MAX_WAIT_MS = 2_000;
/** Clients remembered per isolate; the least recently seen go first, and a forgotten client starts afresh. */
const CLIENT_LIMIT = 100_000;

/** Per domain and client: when the client's next slot starts (its theoretical arrival time). */
const nextSlot = new Map<string, number>();

export type Admission = { readonly admitted: true } | { readonly admitted: false; readonly retryAfterSeconds: number };

const ADMITTED: Admission = { admitted: true };

/** A create's slot: taken, after `waitMs`; or refused, the client's slots being taken until `refusedForMs` from now. */
type Slot = { readonly waitMs: number } | { readonly refusedForMs: number };

function takeSlot(key: string, intervalMs: number, burst: number, now: number): Slot {
  const slot = Math.max(nextSlot.get(key) ?? now, now);
  const waitMs = slot - now - (burst - 1) * intervalMs;
  if (waitMs > MAX_WAIT_MS) return { refusedForMs: waitMs - MAX_WAIT_MS };
  nextSlot.delete(key); // re-inserted last: the Map's order is then least recently seen first
  if (nextSlot.size >= CLIENT_LIMIT) nextSlot.delete(nextSlot.keys().next().value as string);
  nextSlot.set(key, slot + intervalMs);
  return { waitMs: Math.max(waitMs, 0) };
}

/**
 * Resolves when the create may go ahead (at once, or after its wait), or with a refusal. Creates
 * without a client address (there is always one at Cloudflare) are not limited.
 */
export async function admitCreate(er: EdgeRequest): Promise<Admission> {
  const { createsPerMinute, createBurst } = er.domain;
  const client = createsPerMinute > 0 ? clientKeyOf(er.client.ip) : null;
  if (!client) return ADMITTED;
  const slot = takeSlot(`${er.domain.host}|${client}`, 60_000 / createsPerMinute, createBurst, Date.now());
  if ('refusedForMs' in slot) {
    count('createsRefused');
    return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil(slot.refusedForMs / 1000)) };
  }
  if (slot.waitMs > 0) {
    count('createsDelayed');
    await new Promise((resolve) => setTimeout(resolve, slot.waitMs));
  }
  return ADMITTED;
}

/**
 * A refused create over HTTP: a non-2xx answer is a transport error to the official client, which
 * retries the create one retry delay (4 s) after the last attempt began, doubling the delay after ten
 * attempts (tlcp.md §A, §E). No CONERR fits: 5 makes the client retry at once, and 7–10 (session or
 * load limits) make it give up.
 */
export function createRefusedResponse(refusal: Admission & { admitted: false }): Response {
  return new Response('too many new sessions from this address; retry later\r\n', {
    status: 429,
    headers: { 'retry-after': String(refusal.retryAfterSeconds), 'cache-control': 'no-store' },
  });
}

/** A refused create over WebSocket: the close is a transport error, retried like the HTTP answer. 1013 = try again later. */
export const CREATE_REFUSED_CLOSE = { code: 1013, reason: 'too many new sessions from this address' } as const;
