import type { EdgeRequest } from './edge-request.ts';
import type { Snapshot } from '../objects/registry-types.ts';
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
 *
 * One timer per isolate asks for every stream: a timer each cost every stream memory and the isolate
 * a callback per stream per second. workerd ties a timer to the request context that created it and
 * lets only a stream's own context write to it, so the timer runs in the context of one watched
 * stream (its host) and only decides; a stream that must act is woken through a promise of its own
 * context, which workerd settles there. The timer dies with its host's context: the host hands it to
 * another stream when it stops, and a stream that sees it silent (its host's context ended some other
 * way) starts a new one. The isolate's list holds streams weakly: as with a timer of its own, a
 * stream whose context is gone costs nothing once collected, even if nothing stopped its watch.
 */

export type EdgeEnding = 'shard-lost' | 'max-duration';

const WATCH_EVERY_MS = 1_000;
/** On top of the keepalive the origin announced: its event loop may be busy, and PROBEs take a moment. */
const SILENCE_GRACE_MS = 3_000;
/** A timer that has not ticked for this long is gone with its host's context. */
const TICKER_LOST_MS = 3 * WATCH_EVERY_MS;
/**
 * Streams a stopping host asks to take the timer over: one of them may be ending in the same moment
 * (its context then drops the request); the first to act takes it, the others find it running.
 */
const HANDOVER_CANDIDATES = 3;

/** What the timer asks a stream to do in the stream's own request context. */
type Due = 'host-ticker' | 'report-silence' | EdgeEnding;

interface Ticker {
  readonly host: StreamWatch;
  readonly timer: ReturnType<typeof setInterval>;
  lastTickAt: number;
}

export class StreamWatch {
  /** Every stream this isolate watches. */
  private static readonly watched = new Set<WeakRef<StreamWatch>>();
  private static ticker: Ticker | null = null;

  private readonly deadline: number | null;
  private lastBytesAt = Date.now();
  private silenceLimitMs: number | null = null;
  private silence: 'unreported' | 'reported' = 'unreported';
  private state: 'watching' | 'stopped' = 'watching';
  private readonly ref = new WeakRef(this);
  private readonly due = new Set<Due>();
  /** Settles the pending promise of this stream's context; null while it is already settled. */
  private wake: (() => void) | null = null;

  /** `polling` streams end by themselves within their idle time: no session duration applies. */
  constructor(
    private readonly er: EdgeRequest,
    private readonly shard: string,
    polling: boolean,
    private readonly onEnding: (ending: EdgeEnding) => void,
  ) {
    this.deadline = polling ? null : streamDeadline(er);
    this.arm();
    StreamWatch.watched.add(this.ref);
    if (StreamWatch.tickerLost()) this.hostTicker();
  }

  sawBytes(): void {
    this.lastBytesAt = Date.now();
    // A relay may still see bytes of a stream it has closed: its context is ending, no place for the timer.
    if (this.state === 'watching' && StreamWatch.tickerLost()) this.hostTicker();
  }

  /** From the CONOK: the origin writes at least every `keepaliveMs` (a poll answers within it). */
  expectKeepalive(keepaliveMs: number): void {
    if (Number.isFinite(keepaliveMs) && keepaliveMs > 0) this.silenceLimitMs = keepaliveMs + Math.max(SILENCE_GRACE_MS, keepaliveMs / 2);
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.wake = null;
    StreamWatch.watched.delete(this.ref);
    const ticker = StreamWatch.ticker;
    if (ticker?.host !== this) return;
    clearInterval(ticker.timer);
    StreamWatch.ticker = null;
    let asked = 0;
    for (const watch of StreamWatch.live()) {
      watch.notify('host-ticker');
      if (++asked === HANDOVER_CANDIDATES) break;
    }
  }

  /** The watched streams still reachable; the others' entries go. */
  private static *live(): Generator<StreamWatch> {
    for (const ref of StreamWatch.watched) {
      const watch = ref.deref();
      if (watch) yield watch;
      else StreamWatch.watched.delete(ref);
    }
  }

  private static tickerLost(): boolean {
    return StreamWatch.ticker === null || Date.now() - StreamWatch.ticker.lastTickAt > TICKER_LOST_MS;
  }

  /** Runs in the host's context; a timer superseded by another (its host's context was slow, not gone) stops itself. */
  private static async tick(ticker: Ticker): Promise<void> {
    if (StreamWatch.ticker !== ticker) return clearInterval(ticker.timer);
    ticker.lastTickAt = Date.now();
    const { er } = ticker.host;
    // A registry that cannot be asked right now says nothing about the shards: ask again next time.
    const snapshot = await snapshotOf(er.env, er.config, er.waitUntil).catch(() => null);
    const now = Date.now();
    for (const watch of StreamWatch.live()) watch.check(now, snapshot);
  }

  /** The timer starts over in this stream's context. */
  private hostTicker(): void {
    const ticker: Ticker = { host: this, lastTickAt: Date.now(), timer: setInterval(() => void StreamWatch.tick(ticker), WATCH_EVERY_MS) };
    StreamWatch.ticker = ticker;
  }

  /** In the host's context: decides only. */
  private check(now: number, snapshot: Snapshot | null): void {
    if (this.deadline !== null && now >= this.deadline) return this.notify('max-duration');
    if (!snapshot) return;
    if (!isAlive(snapshot, this.shard)) return this.notify('shard-lost');
    if (this.silenceLimitMs !== null && this.silence === 'unreported' && now - this.lastBytesAt > this.silenceLimitMs) {
      this.silence = 'reported';
      this.notify('report-silence');
    }
  }

  private notify(due: Due): void {
    this.due.add(due);
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** A promise of this stream's context for the timer to settle; what follows runs in this context. */
  private arm(): void {
    void new Promise<void>((resolve) => (this.wake = resolve)).then(() => this.act());
  }

  private act(): void {
    if (this.state === 'stopped') return;
    const due = [...this.due];
    this.due.clear();
    this.arm();
    for (const d of due) {
      if (d === 'host-ticker') {
        if (StreamWatch.tickerLost()) this.hostTicker();
      } else if (d === 'report-silence') {
        shardFailed(this.er, this.shard, 'silent');
      } else {
        this.stop();
        return this.onEnding(d);
      }
    }
  }
}
