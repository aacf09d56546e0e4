/**
 * One TLCP session: its stream (at most one, replaced by each bind), its numbered data notifications
 * (for recovery), its subscriptions and its message sequences.
 */
import type { Logger } from 'pino';
import * as n from '../../protocol/notifications.ts';
import { ConErr, EndCode } from '../../protocol/codes.ts';
import type { AdapterSet, TableInfo } from '../adapters/adapter.ts';
import { MessageSequencer, type ClientMessage } from '../messages/message-sequencer.ts';
import type { DeltaKind, ItemHub, ItemHubs } from '../subscriptions/item-hub.ts';
import { Subscription, type SubscriptionOutput, type SubscriptionSpec, type WriteBudget } from '../subscriptions/subscription.ts';
import type { Telemetry } from '../telemetry.ts';
import type { Stream } from '../transports/stream.ts';
import { ReplayLog } from '../../protocol/replay-log.ts';
import { bytesPerSecond, grantedBandwidth, type Bandwidth } from '../../protocol/bandwidth.ts';
import { TokenBucket } from './token-bucket.ts';

/** Announced in CONOK: the largest body of batched control requests the client may send. */
const REQUEST_LIMIT_BYTES = 50_000;
/** Characters of written notifications kept for recovery, per session. */
const REPLAY_BUDGET_CHARS = 64 * 1024;
/** Unwritten notifications beyond which live updates are held (conflated or queued) instead. */
const BACKLOG_LINES = 500;
/**
 * Unwritten notifications beyond which the session ends. Live updates and snapshots stop at
 * BACKLOG_LINES, so only a client that reads nothing and keeps sending requests (each answered by a
 * line or two: SUBOK, CONF, UNSUB, MSGDONE…) gets this far.
 */
const MAX_UNWRITTEN_LINES = 10_000;
/** Room kept in a streaming response's content length for the closing LOOP. */
const LOOP_RESERVE_BYTES = 16;
/** Keepalives go out this much before they are due: the registry's sweep runs every half second. */
const KEEPALIVE_SLACK_MS = 500;
/** A client's heartbeat may be this late (network, a busy event loop) before its stream is given up. */
const INACTIVITY_GRACE_MS = 2_000;
/**
 * Characters one pass over held subscriptions writes before it yields to the event loop (and to
 * every other session): snapshots and held updates go out in slices of this size.
 */
const RELEASE_SLICE_CHARS = 64 * 1024;

export interface SessionServices {
  readonly serverName: string;
  readonly controlLink: string | null;
  readonly writeDelayMs: number;
  /** Bytes of updates a session may hold for a client that cannot take them now. */
  readonly maxQueuedBytes: number;
  readonly maxSubscriptions: number;
  readonly maxItemsPerSubscription: number;
  /** Items of all subscriptions of the session together, adds still loading included. */
  readonly maxItems: number;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly hubs: ItemHubs;
  readonly adapterSet: AdapterSet;
  /** The metadata adapter asked to hear of this session's subscriptions (notifyNewTables). */
  readonly wantsTablesNotification: boolean;
  /** The user's bandwidth limit (notifyUser's grant): no request may exceed it. */
  readonly bandwidthCap: Bandwidth;
  /** The delta formats the client accepts (LS_supported_diffs); null: any. */
  readonly supportedDeltas: ReadonlySet<DeltaKind> | null;
  /** The registry forgets the session. */
  onClosed(session: Session): void;
}

export interface BindOptions {
  readonly polling: boolean;
  /** LOOP delay of a polling stream: when the client polls next. */
  readonly pollingMillis: number;
  /** How long a poll waits for data. */
  readonly idleMillis: number;
  readonly keepaliveMillis: number;
  readonly recoveryFrom: number | null;
  /** LS_inactivity_millis: the client promises a request at least this often on a stream; null = no promise. */
  readonly inactivityMillis: number | null;
}

export type BindResult = { readonly ok: true } | { readonly ok: false; readonly code: number; readonly message: string };

export class Session implements SubscriptionOutput {
  readonly createdAt = Date.now();
  unboundSince = Date.now();
  /** The delay the last LOOP told the client to wait before binding again: its absence is expected. */
  returnDelayMs = 0;
  #closed = false;
  #stream: Stream | null = null;
  #options: BindOptions | null = null;
  #streamLines = 0;
  #lastWriteAt = 0;
  /** Last request (control, msg, heartbeat) or bind from the client. */
  #lastHeardAt = 0;
  #pollTimer: NodeJS.Timeout | null = null;
  #flushTimer: NodeJS.Timeout | null = null;
  #releaseScheduled = false;
  #endScheduled = false;
  #slow = false;
  #queuedBytes = 0;
  readonly #log = new ReplayLog(REPLAY_BUDGET_CHARS);
  readonly #subs = new Map<number, Subscription>();
  readonly #hubsOf = new Map<number, ItemHub[]>();
  /** Adds waiting for their items, with their item count; `deleted` once a delete arrived meanwhile. */
  readonly #pending = new Map<number, { items: number; deleted: boolean }>();
  /** Subscriptions the metadata adapter was told of, to be told of their end. */
  readonly #tables = new Map<number, TableInfo>();
  /** The metadata adapter accepted the session (notifyNewSession): it hears of its close. */
  #announced = false;
  /** Items of the subscriptions and of the adds pending. */
  #itemCount = 0;
  readonly #held = new Set<Subscription>();
  // Most sessions never send a message: the sequencer comes with the first one.
  #messages: MessageSequencer | null = null;
  /** LS_requested_max_bandwidth, of the create or the latest constrain. */
  #requestedBandwidth: Bandwidth = null;
  /** Null when the granted bandwidth is unlimited: writes then cost nothing more. */
  #bucket: TokenBucket | null = null;
  /** Pending while the bucket is empty: it writes and releases again once bytes accrued. */
  #bandwidthTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    readonly clientIp: string,
    readonly user: string | null,
    private readonly services: SessionServices,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  get bound(): boolean {
    return this.#stream !== null;
  }

  get hubs(): ItemHubs {
    return this.services.hubs;
  }

  get adapterSet(): AdapterSet {
    return this.services.adapterSet;
  }

  get logger(): Logger {
    return this.services.logger;
  }

  get wantsTablesNotification(): boolean {
    return this.services.wantsTablesNotification;
  }

  get supportedDeltas(): ReadonlySet<DeltaKind> | null {
    return this.services.supportedDeltas;
  }

  /** The metadata adapter knows of the session now: its close will be notified. */
  announced(): void {
    this.#announced = true;
  }

  /** Attaches a new stream, replacing the current one quietly, and starts writing to it. */
  bind(stream: Stream, options: BindOptions): BindResult {
    if (this.#closed) return { ok: false, code: ConErr.SESSION_NOT_FOUND, message: 'session closed' };
    if (options.recoveryFrom !== null && !this.#log.canResumeFrom(options.recoveryFrom)) {
      return { ok: false, code: ConErr.RECOVERY_DATA_LOST, message: 'recovery data no longer available' };
    }
    this.#detach()?.abandon();
    const { services } = this;
    // Polling connections announce their idle time where streams announce their keepalive.
    const keepalive = options.polling ? options.idleMillis : options.keepaliveMillis;
    let head =
      n.conok(this.id, REQUEST_LIMIT_BYTES, keepalive, services.controlLink) +
      n.servname(services.serverName) +
      n.clientip(this.clientIp) +
      n.cons(this.grantedBandwidth);
    if (options.recoveryFrom !== null) {
      this.#log.resumeFrom(options.recoveryFrom);
      head += n.prog(options.recoveryFrom);
    }
    this.#stream = stream;
    this.#options = options;
    this.#streamLines = 0;
    this.#lastHeardAt = Date.now();
    services.telemetry.boundByTransport[stream.transport]++;
    stream.onLost(() => {
      if (this.#stream === stream) this.#detach();
    });
    this.#write(stream, head);
    this.#pump();
    if (this.#stream === stream) this.#releaseHeld();
    if (this.#stream === stream && options.polling && this.#pollTimer === null) {
      this.#pollTimer = setTimeout(() => this.#endPoll(), options.idleMillis);
    }
    return { ok: true };
  }

  // SubscriptionOutput

  accepting(): boolean {
    const s = this.#stream;
    return s !== null && !s.congested && this.#log.pending < BACKLOG_LINES && (this.#bucket === null || this.#bucket.available(Date.now()) > 0);
  }

  emit(line: string): void {
    if (this.#closed) return;
    this.#log.append(line);
    if (this.#log.pending > MAX_UNWRITTEN_LINES) this.#endUnread();
    if (this.#stream === null) return;
    // WRITE_DELAY_MS=0 (the default) writes each notification as it comes: the lowest latency, and
    // the fan-out already writes every socket once per update. A few ms lets a busy session send
    // many updates in one write, trading that delay for far fewer syscalls and frames.
    if (this.services.writeDelayMs === 0) this.#pump();
    else this.#flushTimer ??= setTimeout(() => {
      this.#flushTimer = null;
      this.#pump();
    }, this.services.writeDelayMs);
  }

  hold(sub: Subscription): void {
    this.#held.add(sub);
    if (this.accepting()) this.#scheduleRelease();
  }

  conflated(count: number): void {
    this.services.telemetry.updatesConflated += count;
  }

  queued(bytes: number): void {
    this.#queuedBytes += bytes;
    this.services.telemetry.queuedBytes += bytes;
  }

  queueRoom(): number {
    return this.services.maxQueuedBytes - this.#queuedBytes;
  }

  // Control requests

  /** Any request of the client: it keeps the promise LS_inactivity_millis made. */
  heard(): void {
    this.#lastHeardAt = Date.now();
  }

  /** Items one subscription may name. */
  get maxItemsPerSubscription(): number {
    return this.services.maxItemsPerSubscription;
  }

  /**
   * Registers an add while its items are resolved and fetched, so a delete arriving meanwhile is
   * honoured; adds still pending count toward the limits, or a burst of them could overshoot them.
   */
  reserveSubscription(id: number): 'reserved' | 'duplicate' | 'subscription-limit' {
    if (this.#subs.has(id) || this.#pending.has(id)) return 'duplicate';
    if (this.#subs.size + this.#pending.size >= this.services.maxSubscriptions) return 'subscription-limit';
    this.#pending.set(id, { items: 0, deleted: false });
    return 'reserved';
  }

  /** Counts a reserved add's items toward the session's limit; false when they do not fit. */
  countItems(id: number, items: number): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    if (this.#itemCount + items > this.services.maxItems) return false;
    pending.items += items;
    this.#itemCount += items;
    return true;
  }

  /** Completes an add: snapshot and live data start now, unless it was deleted meanwhile. */
  startSubscription(spec: SubscriptionSpec, hubs: ItemHub[], table: TableInfo | null): void {
    const pending = this.#pending.get(spec.id);
    this.#pending.delete(spec.id);
    if (this.#closed || pending === undefined || pending.deleted) {
      if (pending !== undefined) this.#itemCount -= pending.items;
      for (const hub of hubs) this.services.hubs.release(hub);
      if (table) this.tableClosed(table);
      if (pending?.deleted && !this.#closed) this.emit(n.unsub(spec.id));
      return;
    }
    const sub = new Subscription(spec, this);
    this.#subs.set(spec.id, sub);
    this.#hubsOf.set(spec.id, hubs);
    if (table) this.#tables.set(spec.id, table);
    this.services.telemetry.subscriptions++;
    sub.start(hubs);
  }

  /** Tells the metadata adapter a subscription it was told of is over. */
  tableClosed(table: TableInfo): void {
    const { metadata } = this.services.adapterSet;
    if (!metadata.notifyTablesClose) return;
    const log = (err: unknown) => this.services.logger.error({ err, session: this.id }, 'metadata adapter failed on notifyTablesClose');
    try {
      Promise.resolve(metadata.notifyTablesClose({ user: this.user, sessionId: this.id, tables: [table] })).catch(log);
    } catch (err) {
      log(err);
    }
  }

  /** An add that could not complete: forget its reservation. */
  abandonSubscription(id: number): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    this.#itemCount -= pending.items;
  }

  deleteSubscription(id: number): boolean {
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      pending.deleted = true;
      return true;
    }
    const sub = this.#subs.get(id);
    if (!sub) return false;
    this.#removeSubscription(sub);
    this.emit(n.unsub(id));
    return true;
  }

  reconfigureSubscription(id: number, maxFrequency: number | null): boolean {
    const sub = this.#subs.get(id);
    if (!sub) return false;
    sub.reconfigure(maxFrequency);
    // A raised limit may free updates held back by the old one.
    this.hold(sub);
    return true;
  }

  submitMessage(message: ClientMessage): string | null {
    this.services.telemetry.messagesReceived++;
    if (!this.#messages) {
      const { services, id, user, clientIp } = this;
      this.#messages = new MessageSequencer(
        async (message) => services.adapterSet.metadata.notifyUserMessage({ user, sessionId: id, clientIp, message }),
        (line) => this.emit(line),
        (err) => services.logger.error({ err, session: id }, 'message adapter failed'),
      );
    }
    return this.#messages.submit(message);
  }

  /** force_rebind: the client opens a new stream after the LOOP. */
  forceRebind(delayMs: number): void {
    const stream = this.#stream;
    if (!stream) return;
    this.#pump();
    this.#detach();
    stream.finish(n.loop(delayMs));
  }

  /** The bandwidth the session gets now (kbps; null: unlimited), as CONS announces it. */
  get grantedBandwidth(): Bandwidth {
    return grantedBandwidth(this.#requestedBandwidth, this.services.bandwidthCap);
  }

  /**
   * LS_requested_max_bandwidth of a create (before the first bind) or of a constrain (undefined:
   * the constrain asked for no change). A constrain's CONS goes out before anything sent at the new
   * rate; an unbound session's next bind announces it.
   */
  requestBandwidth(requested: Bandwidth | undefined, announce: boolean): void {
    if (this.#closed) return;
    if (requested !== undefined) this.#requestedBandwidth = requested;
    const granted = this.grantedBandwidth;
    if (granted === null) this.#bucket = null;
    else if (this.#bucket?.bytesPerSecond !== bytesPerSecond(granted)) this.#bucket = new TokenBucket(bytesPerSecond(granted), Date.now());
    if (announce && this.#stream) this.#write(this.#stream, n.cons(granted));
    // A wider limit lets out at once what the narrower one held back.
    if (this.#bandwidthTimer) clearTimeout(this.#bandwidthTimer);
    this.#bandwidthTimer = null;
    this.#pump();
    this.#releaseHeld();
  }

  /** Ends the session: pending data, then END, then the stream closes. */
  end(code: number, message: string): void {
    if (this.#closed) return;
    const stream = this.#stream;
    if (stream) {
      this.#pump();
      this.#detach();
      stream.finish(n.end(code, message), true);
    }
    this.close();
  }

  /** Forgets the session without a word (expired, or its END already sent). */
  close(): void {
    if (this.#closed) return;
    this.#detach()?.abandon();
    this.#closed = true;
    for (const sub of [...this.#subs.values()]) this.#removeSubscription(sub);
    this.#messages?.close();
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    if (this.#bandwidthTimer) clearTimeout(this.#bandwidthTimer);
    this.services.onClosed(this);
    if (this.#announced) this.#notifyClose();
  }

  /** Periodic duties, driven by the registry's sweep. */
  tick(now: number): void {
    const stream = this.#stream;
    if (!stream || stream.polling || !this.#options) return;
    const inactivity = this.#options.inactivityMillis;
    if (inactivity !== null && now - this.#lastHeardAt > inactivity + INACTIVITY_GRACE_MS) {
      // The client's heartbeats stopped reaching us: its connection is likely half-open. Drop the
      // stream, keep the session: a live client recovers it.
      this.services.logger.debug({ session: this.id, inactivity }, 'no request within LS_inactivity_millis; stream dropped');
      this.#detach()?.abandon();
      return;
    }
    if (now - this.#lastWriteAt >= this.#options.keepaliveMillis - KEEPALIVE_SLACK_MS) {
      if (stream.remaining - LOOP_RESERVE_BYTES < n.PROBE.length) this.#loop(stream);
      else this.#write(stream, n.PROBE);
    }
  }

  #notifyClose(): void {
    const { metadata } = this.services.adapterSet;
    if (!metadata.notifySessionClose) return;
    const log = (err: unknown) => this.services.logger.error({ err, session: this.id }, 'metadata adapter failed on notifySessionClose');
    try {
      Promise.resolve(metadata.notifySessionClose(this.id)).catch(log);
    } catch (err) {
      log(err);
    }
  }

  #removeSubscription(sub: Subscription): void {
    const table = this.#tables.get(sub.id);
    if (table) {
      this.#tables.delete(sub.id);
      this.tableClosed(table);
    }
    sub.stop();
    this.#subs.delete(sub.id);
    this.#held.delete(sub);
    const hubs = this.#hubsOf.get(sub.id) ?? [];
    for (const hub of hubs) this.services.hubs.release(hub);
    this.#itemCount -= hubs.length;
    this.#hubsOf.delete(sub.id);
    this.services.telemetry.subscriptions--;
  }

  /** Writes pending notifications as far as the stream takes them. */
  #pump(): void {
    const stream = this.#stream;
    if (!stream || this.#log.pending === 0) return;
    if (stream.congested) {
      this.#markSlow(stream);
      return;
    }
    const bucket = this.#bucket;
    const now = bucket === null ? 0 : Date.now();
    const allowance = bucket === null ? Infinity : bucket.available(now);
    if (allowance <= 0) {
      this.#awaitBandwidth(bucket!);
      return;
    }
    const bounded = stream.remaining !== Infinity;
    const measured = bounded || bucket !== null;
    const budget = stream.remaining - LOOP_RESERVE_BYTES;
    let chunk = '';
    let bytes = 0;
    let count = 0;
    let mustLoop = false;
    for (let line = this.#log.peek(); line !== undefined; line = this.#log.peek()) {
      if (measured) {
        // The bandwidth's allowance may be overdrawn by the line that crosses it: lines are not split.
        if (bytes >= allowance) break;
        const size = Buffer.byteLength(line);
        // One line always goes out, however small the budget, or the client would re-bind forever.
        if (bounded && bytes + size > budget && this.#streamLines + count > 0) {
          mustLoop = true;
          break;
        }
        bytes += size;
      }
      chunk += line;
      count++;
      this.#log.advance();
    }
    if (bucket !== null) {
      bucket.spend(bytes, now);
      if (bucket.available(now) <= 0) this.#awaitBandwidth(bucket);
    }
    if (count > 0) {
      this.#streamLines += count;
      this.services.telemetry.notificationsSent += count;
      this.#write(stream, chunk);
      // From here on updates are held rather than written; the drain releases them.
      if (stream.congested) this.#markSlow(stream);
    }
    if (mustLoop) this.#loop(stream);
    else if (stream.polling && count > 0) this.#scheduleEndPoll();
    else if (this.#held.size > 0 && this.accepting()) this.#scheduleRelease();
  }

  /** Writes and releases again once the bucket has bytes to spend; the session holds updates meanwhile. */
  #awaitBandwidth(bucket: TokenBucket): void {
    if (this.#bandwidthTimer) return;
    this.#bandwidthTimer = setTimeout(() => {
      this.#bandwidthTimer = null;
      if (this.#bucket !== bucket) return;
      this.#pump();
      this.#releaseHeld();
    }, bucket.msUntilAvailable(Date.now()));
  }

  #write(stream: Stream, text: string): void {
    this.services.telemetry.bytesSent += stream.write(text);
    this.#lastWriteAt = Date.now();
  }

  /** Slowness belongs to the current stream: `#detach` clears it, so a drain of an older one is ignored. */
  #markSlow(stream: Stream): void {
    if (this.#slow) return;
    this.#slow = true;
    this.services.telemetry.slowConsumers++;
    stream.onDrain(() => {
      if (this.#stream !== stream || !this.#slow) return;
      this.#slow = false;
      this.services.telemetry.slowConsumers--;
      this.#pump();
      this.#releaseHeld();
    });
  }

  /** Ends the session after the current request: its caller may be in the middle of a subscription. */
  #endUnread(): void {
    if (this.#endScheduled) return;
    this.#endScheduled = true;
    setImmediate(() => this.end(EndCode.CLOSED_BY_SERVER, 'too many notifications left unread'));
  }

  #scheduleRelease(): void {
    if (this.#releaseScheduled) return;
    this.#releaseScheduled = true;
    setImmediate(() => {
      this.#releaseScheduled = false;
      this.#releaseHeld();
    });
  }

  #releaseHeld(): void {
    const budget: WriteBudget = { chars: RELEASE_SLICE_CHARS };
    for (const sub of this.#held) {
      if (!this.accepting()) return;
      if (budget.chars <= 0) break;
      if (sub.release(budget)) this.#held.delete(sub);
    }
    // The slice is spent with more to write: the rest goes in a later turn of the event loop.
    if (budget.chars <= 0 && this.#held.size > 0) this.#scheduleRelease();
  }

  /** A poll answers with what is there: once data went out, close the cycle after this turn. */
  #scheduleEndPoll(): void {
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => this.#endPoll(), 0);
  }

  #endPoll(): void {
    this.#pollTimer = null;
    const stream = this.#stream;
    if (!stream || !stream.polling) return;
    this.#loop(stream);
  }

  #loop(stream: Stream): void {
    const delay = stream.polling ? (this.#options?.pollingMillis ?? 0) : 0;
    this.#detach();
    this.returnDelayMs = delay;
    stream.finish(n.loop(delay));
  }

  /** Unbinds the current stream without ending it; returns it for the caller to end. */
  #detach(): Stream | null {
    const stream = this.#stream;
    if (!stream) return null;
    this.#stream = null;
    this.#options = null;
    this.unboundSince = Date.now();
    this.returnDelayMs = 0;
    this.services.telemetry.boundByTransport[stream.transport]--;
    if (this.#slow) {
      this.#slow = false;
      this.services.telemetry.slowConsumers--;
    }
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    return stream;
  }
}
