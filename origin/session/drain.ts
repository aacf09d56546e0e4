/**
 * A rollout's SIGTERM (Cloudflare Containers, Kubernetes, the local supervisor): the origin stops
 * taking sessions and moves the ones it holds to other shards, a few at a time, before it exits.
 *
 * Creates are refused with CONERR 5, which the edge places on another shard (and the official
 * client retries at once), while the healthcheck still answers: a shard the registry saw down
 * would have every relayed stream ended at the same moment, the herd this avoids. Sessions end
 * with END 48 (the client opens a new session at once, through the edge, elsewhere), oldest
 * first, at `ratePerSecond` — faster only when that rate would not empty the origin before the
 * grace period runs out, since whatever is left when the platform kills the process is lost at once.
 */
import type { Logger } from 'pino';
import { EndCode } from '../../protocol/codes.ts';
import type { SessionRegistry } from './registry.ts';

export interface DrainOptions {
  readonly ratePerSecond: number;
  /** From SIGTERM to the platform's SIGKILL. */
  readonly graceMs: number;
}

/** Sessions are ended on this beat: small batches, never one burst. */
const TICK_MS = 50;
/** The last sessions end this long before the grace runs out, so their ENDs are written before exit. */
const FINISH_MARGIN_MS = 1_000;

/** Resolves once the registry holds no session, or the time left for them is up. */
export async function drainSessions(registry: SessionRegistry, options: DrainOptions, logger: Logger): Promise<void> {
  registry.stopAdmitting();
  const start = Date.now();
  const finishBy = start + Math.max(0, options.graceMs - FINISH_MARGIN_MS);
  logger.info({ sessions: registry.size, ratePerSecond: options.ratePerSecond, graceMs: options.graceMs }, 'draining');
  let owed = 0;
  let last = start;
  while (registry.size > 0) {
    const now = Date.now();
    const left = finishBy - now;
    if (left <= 0) break;
    // The configured rate, or the one that still empties the origin in the time left.
    const rate = Math.max(options.ratePerSecond, (registry.size * 1000) / left);
    owed += ((now - last) * rate) / 1000;
    last = now;
    const batch = Math.floor(owed);
    if (batch > 0) owed -= registry.endOldest(batch, EndCode.MAX_DURATION, 'server shutting down: session moved');
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  const left = registry.endAll(EndCode.MAX_DURATION, 'server shutting down');
  logger.info({ ms: Date.now() - start, endedAtTheDeadline: left }, 'drained');
}
