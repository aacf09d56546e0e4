import type { EdgeRequest } from './edge-request.ts';
import { snapshotOf } from './registry-client.ts';
import { isAlive } from './balance.ts';
import { shardFailed } from './origin-call.ts';
import { streamDeadline } from './max-session-duration.ts';

/**
 * The edge's watch over one stream it relays (an HTTP streaming or polling response, or a WebSocket).
 * Once a second it asks two questions the stream cannot answer by itself:
 * - Is the shard still alive? When the registry declares it down, its sessions are lost wherever the
 *   client is: the stream ends at once with END 48, which makes the official client open a new
 *   session immediately, instead of waiting out its own keepalive timeout on a shard that will never
 *   write again (12–14 s against a stopped process).
 * - Has the stream outlived the domain's maximum session duration (guide §5)? Then it ends the same
 *   way, so the client re-creates through the balancer.
 * A stream silent for longer than its keepalive allows is reported, once, so the registry probes the
 * shard now rather than at its next tick; the registry alone decides that a shard is down.
 */

export type EdgeEnding = 'shard-lost' | 'max-duration';

const WATCH_EVERY_MS = 1_000;
/** On top of the keepalive the origin announced: its event loop may be busy, and PROBEs take a moment. */
const SILENCE_GRACE_MS = 3_000;

export class StreamWatch {
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly deadline: number | null;
  private lastBytesAt = Date.now();
  private silenceLimitMs: number | null = null;
  private silenceReported = false;
  private stopped = false;

  /** `polling` streams end by themselves within their idle time: no session duration applies. */
  constructor(
    private readonly er: EdgeRequest,
    private readonly shard: string,
    polling: boolean,
    private readonly onEnding: (ending: EdgeEnding) => void,
  ) {
    this.deadline = polling ? null : streamDeadline(er);
    this.timer = setInterval(() => void this.check(), WATCH_EVERY_MS);
  }

  sawBytes(): void {
    this.lastBytesAt = Date.now();
  }

  /** From the CONOK: the origin writes at least every `keepaliveMs` (a poll answers within it). */
  expectKeepalive(keepaliveMs: number): void {
    if (Number.isFinite(keepaliveMs) && keepaliveMs > 0) this.silenceLimitMs = keepaliveMs + Math.max(SILENCE_GRACE_MS, keepaliveMs / 2);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    const now = Date.now();
    if (this.deadline !== null && now >= this.deadline) return this.end('max-duration');
    // A registry that cannot be asked right now says nothing about the shard: ask again next time.
    const snapshot = await snapshotOf(this.er.env, this.er.config, this.er.waitUntil).catch(() => null);
    if (this.stopped || !snapshot) return;
    if (!isAlive(snapshot, this.shard)) return this.end('shard-lost');
    if (this.silenceLimitMs !== null && !this.silenceReported && now - this.lastBytesAt > this.silenceLimitMs) {
      this.silenceReported = true;
      shardFailed(this.er, this.shard, 'silent');
    }
  }

  private end(ending: EdgeEnding): void {
    if (this.stopped) return;
    this.stop();
    this.onEnding(ending);
  }
}
