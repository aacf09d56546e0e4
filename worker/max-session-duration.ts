import type { EdgeRequest } from './edge-request.ts';

/**
 * Per-domain maximum session duration (guide §5). The edge cannot end an origin's session, but it
 * owns every stream it relays: when a stream outlives the domain's limit it sends the client END 48,
 * which makes the client open a new session through the balancer at once, and closes the origin leg
 * (the origin drops the abandoned session at its unbound timeout). The limit counts from the
 * stream's start: a session lives in one stream except across LOOP rebinds (50 MB of data by default)
 * and recoveries, so this bounds session age in practice without per-session state at the edge.
 * Jitter spreads the reconnections of a cohort that started together.
 */
/** This stream's deadline under the domain's maximum session duration, jittered per stream; null when off. */
export function streamDeadline(er: EdgeRequest, now = Date.now()): number | null {
  const { maxSessionMinutes, maxSessionJitter } = er.domain;
  if (maxSessionMinutes <= 0) return null;
  const jitter = 1 + maxSessionJitter * (2 * Math.random() - 1);
  return now + maxSessionMinutes * 60_000 * jitter;
}
