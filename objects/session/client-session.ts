import * as n from '../../protocol/notifications.ts';
import { ConErr, EndCode, ReqErr } from '../../protocol/codes.ts';
import { ReplayLog } from '../../protocol/replay-log.ts';
import type { ServerLine } from '../../protocol/server-line.ts';
import type { ShardAddress, ShardTransport } from '../shard-transport.ts';
import type { ClientStream } from './client-stream.ts';
import type { StreamOptions } from '../../protocol/stream-options.ts';
import { MessageTable } from './messages.ts';
import { SubscriptionTable, type ClientSubscription, type Mode, type SubscriptionRecord } from './subscriptions.ts';
import { Upstream, type UpstreamCredentials, type UpstreamLoss } from './upstream.ts';

/**
 * One client's TLCP session, terminated at the edge: the client binds streams to it (WebSocket, HTTP
 * streaming, either polling), its data notifications are numbered and kept for recovery as an
 * origin keeps them, and everything it subscribes to or sends goes through one upstream session on
 * a shard. When that upstream is lost (the shard died, hung, ended it, or was drained) or must move
 * (the domain's maximum upstream age), the session opens one on another shard, issues every
 * subscription again and reconciles (subscriptions.ts): the client keeps its session id, its
 * subscriptions and its stream, and sees no error.
 */

/** Announced in CONOK: the largest body of batched control requests the client may send. */
const REQUEST_LIMIT_BYTES = 50_000;
/** Characters of written notifications kept for the client's recovery. */
const REPLAY_BUDGET_CHARS = 256 * 1024;
/**
 * A client that reads slower than its subscriptions produce: its stream may hold this many bytes
 * the client has not taken; beyond them notifications wait in the session, unwritten.
 */
const STREAM_QUEUE_BYTES = 64 * 1024;
/**
 * Unwritten notifications beyond which the session ends (END 32). A host's sessions share one
 * isolate's memory: with the stream's queue and the recovery budget, one session holds at most
 * about 600 KB however it behaves.
 */
const MAX_UNWRITTEN_CHARS = 256 * 1024;
const MAX_UNWRITTEN_LINES = 20_000;
/** Room kept in a streaming response's content length for the closing LOOP. */
const LOOP_RESERVE_BYTES = 16;
/** A session with no stream is kept this long for the client to bind again (recovery included). */
const UNBOUND_TTL_MS = 30_000;
const TICK_MS = 500;
/** A client's heartbeat may be this late before its stream is given up (LS_inactivity_millis). */
const INACTIVITY_GRACE_MS = 2_000;
/** How long a request waits for an upstream (during a move) before it is refused. */
const UPSTREAM_WAIT_MS = 10_000;
/** A shard that fails to take the session is skipped for this many placements in a row. */
const MAX_PLACEMENTS = 3;
/** While no shard can take a moving session, it tries again this often (up to UPSTREAM_WAIT_MS). */
const MOVE_RETRY_MS = 1_000;

export interface SessionServices {
  readonly sessionId: string;
  readonly clientIp: string | null;
  readonly edgeSecret: string | undefined;
  /** How the upstream reaches the shard `place` picks. */
  readonly transport: ShardTransport;
  /** CONOK's control link for this session (the edge's path to this object), or null for `*`. */
  readonly controlLink: string | null;
  /** A shard for the upstream, other than those in `avoid`; null when none can take it. */
  place(avoid: readonly string[]): Promise<ShardAddress | null>;
  /** How long an upstream may live before it moves to another shard; null: never. */
  upstreamLifetimeMs(): number | null;
  /** Counted for the status page. */
  count(counter: string, by?: number): void;
  /** The subscriptions the client holds changed: what a restored session issues again. */
  subscriptionsChanged(records: SubscriptionRecord[]): void;
  /** The session ended: the object may forget it. */
  closed(): void;
}

export type Refusal = { readonly code: number; readonly message: string };
export type Answer = { readonly line: string | null; readonly after?: () => void };

type UpstreamState =
  | { readonly kind: 'ready'; readonly upstream: Upstream }
  /** Lost, a replacement being opened; requests wait for it. */
  | { readonly kind: 'moving' }
  | { readonly kind: 'closed' };

export class ClientSession {
  #upstream: UpstreamState;
  /** The SERVNAME each CONOK carries: the current upstream's shard name. */
  #servername = '';
  /** What the client asked for last (create, then constrain): a new upstream is asked for it too. */
  #requestedBandwidth: string | null;
  #stream: ClientStream | null = null;
  #options: StreamOptions | null = null;
  #streamLines = 0;
  #lastWriteAt = 0;
  #lastHeardAt = Date.now();
  #unboundSince = Date.now();
  #returnDelayMs = 0;
  #pollTimer: ReturnType<typeof setTimeout> | null = null;
  #moveTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #tick: ReturnType<typeof setInterval>;
  #closed = false;
  readonly #log: ReplayLog;
  readonly #subs = new SubscriptionTable({
    emit: (line) => this.#emit(line),
    changed: () => this.services.subscriptionsChanged(this.#subs.records()),
    reconciled: (updates, lost) => {
      this.services.count('itemsReconciled');
      if (updates > 0) this.services.count('reconciliationUpdates', updates);
      if (lost > 0) this.services.count('distinctEventsLost', lost);
    },
  });
  readonly #messages = new MessageTable((line) => this.#emit(line));
  /** Upstream request ids awaiting REQOK or REQERR. */
  readonly #awaiting = new Map<number, (line: ServerLine | null) => void>();
  /** Client adds awaiting an upstream's verdict, by client subscription id. */
  readonly #addAnswers = new Map<number, { readonly promise: Promise<Refusal | null>; readonly resolve: (refusal: Refusal | null) => void }>();
  #readyWaiters: Array<() => void> = [];

  private constructor(
    private readonly services: SessionServices,
    private readonly credentials: UpstreamCredentials,
    upstream: Upstream,
    /** What the client counts already: a restored session's numbering goes on from there. */
    startAt: number,
  ) {
    this.#log = new ReplayLog(REPLAY_BUDGET_CHARS, startAt);
    this.#requestedBandwidth = credentials.requestedBandwidth ?? null;
    this.#upstream = { kind: 'ready', upstream };
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#armMove();
  }

  get id(): string {
    return this.services.sessionId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The shard of the current upstream, or null while it moves. */
  get shard(): string | null {
    return this.#upstream.kind === 'ready' ? this.#upstream.upstream.shard : null;
  }

  /**
   * create_session: an upstream session on a shard the balancer picks, with the client's credentials.
   * A shard that cannot be reached, or is full (CONERR 5), is passed over for another; any other
   * refusal (bad credentials, unknown adapter set) is the client's answer.
   */
  static async open(services: SessionServices, credentials: UpstreamCredentials): Promise<ClientSession | Refusal> {
    return ClientSession.#start(services, credentials, 0, []);
  }

  /**
   * The session of an object that restarted (a deploy restarts every object): a new upstream with
   * the credentials kept, the subscriptions the client holds issued there again — their items
   * unknown to the client, so sent whole (subscriptions.ts) — and the numbering of notifications
   * going on from what the client counts (its recovery's `LS_recovery_from`, or 0 when it did not say).
   */
  static async restore(services: SessionServices, credentials: UpstreamCredentials, records: readonly SubscriptionRecord[], startAt: number): Promise<ClientSession | Refusal> {
    return ClientSession.#start(services, credentials, startAt, records);
  }

  static async #start(services: SessionServices, credentials: UpstreamCredentials, startAt: number, records: readonly SubscriptionRecord[]): Promise<ClientSession | Refusal> {
    let session: ClientSession | null = null;
    const opened = await openUpstream(services, credentials, [], {
      onLine: (line) => {
        if (session) session.#onUpstreamLine(line);
      },
      onLost: (loss) => {
        if (session) session.#onUpstreamLost(loss);
      },
    });
    if ('code' in opened) return opened;
    session = new ClientSession(services, credentials, opened, startAt);
    if (records.length > 0) {
      session.#subs.restore(records);
      for (const sub of session.#subs.upstreamLost()) void session.#issueAdd(sub);
    }
    return session;
  }

  /** Attaches a stream, replacing the current one quietly, and starts writing to it. */
  bind(stream: ClientStream, options: StreamOptions): Refusal | null {
    if (this.#closed) return { code: ConErr.SESSION_NOT_FOUND, message: 'session closed' };
    if (options.recoveryFrom !== null && !this.#log.canResumeFrom(options.recoveryFrom)) {
      return { code: ConErr.RECOVERY_DATA_LOST, message: 'recovery data no longer available' };
    }
    this.#detach()?.abandon();
    // Polling connections announce their idle time where streams announce their keepalive.
    const keepalive = options.polling ? options.idleMillis : options.keepaliveMillis;
    if (this.#upstream.kind === 'ready') this.#servername = this.#upstream.upstream.servername;
    let head = n.conok(this.id, REQUEST_LIMIT_BYTES, keepalive, this.services.controlLink) + n.servname(this.#servername);
    if (this.services.clientIp) head += n.clientip(this.services.clientIp);
    head += n.cons(this.#upstream.kind === 'ready' ? this.#upstream.upstream.bandwidth : 'unlimited');
    if (options.recoveryFrom !== null) {
      this.#log.resumeFrom(options.recoveryFrom);
      head += n.prog(options.recoveryFrom);
    }
    this.#stream = stream;
    this.#options = options;
    this.#streamLines = 0;
    this.#lastHeardAt = Date.now();
    stream.onLost(() => {
      if (this.#stream === stream) this.#detach();
    });
    this.#write(stream, head);
    this.#pump();
    if (this.#stream === stream && options.polling) {
      this.#pollTimer = setTimeout(() => this.#endPoll(), options.idleMillis);
    }
    return null;
  }

  /** Any request of the client: it keeps the promise LS_inactivity_millis made. */
  heard(): void {
    this.#lastHeardAt = Date.now();
  }

  /** One control line. `params` without LS_reqId; `ack` false: answer only errors (WebSocket, LS_ack=false). */
  async control(reqId: string, params: Map<string, string>, ack: boolean): Promise<Answer> {
    const ok = (after?: () => void): Answer => ({ line: ack ? n.reqok(reqId) : null, after });
    const fail = (code: number, message: string): Answer => ({ line: n.reqerr(reqId, code, message) });
    const op = params.get('LS_op');
    params.delete('LS_op');
    params.delete('LS_ack');
    const subId = Number(params.get('LS_subId'));
    params.delete('LS_subId');
    switch (op) {
      case 'add': {
        const mode = params.get('LS_mode') as Mode | undefined;
        if (!Number.isSafeInteger(subId) || subId <= 0) return fail(ReqErr.MALFORMED, 'bad LS_subId');
        if (mode !== 'MERGE' && mode !== 'DISTINCT' && mode !== 'COMMAND' && mode !== 'RAW') return fail(ReqErr.MALFORMED, 'bad LS_mode');
        const snapshot = (params.get('LS_snapshot') ?? 'false') !== 'false' && mode !== 'RAW';
        const sub = this.#subs.add({ clientId: subId, mode, params, snapshot });
        const refusal = sub ? await this.#issueAdd(sub) : await this.#addAgain(subId, params);
        return refusal ? fail(refusal.code, refusal.message) : ok();
      }
      case 'delete': {
        const sub = this.#subs.get(subId);
        if (!sub) return fail(ReqErr.BAD_SUBSCRIPTION_ID, 'no such subscription');
        const line = this.#subs.delete(sub, this.#upstream.kind === 'ready');
        if (line !== null) this.#send('control', line);
        return ok();
      }
      case 'reconf': {
        const sub = this.#subs.get(subId);
        if (!sub) return fail(ReqErr.BAD_SUBSCRIPTION_ID, 'no such subscription');
        const line = this.#subs.reconf(sub, params);
        if (line !== null) this.#send('control', line);
        return ok();
      }
      case 'constrain':
        this.#requestedBandwidth = params.get('LS_requested_max_bandwidth') ?? this.#requestedBandwidth;
        this.#send('control', `LS_op=constrain&${encodeParams(params)}`);
        return ok();
      case 'force_rebind':
        return ok(() => this.#forceRebind(Number(params.get('LS_polling_millis') ?? 0)));
      case 'destroy': {
        const code = Number(params.get('LS_cause_code') ?? EndCode.DESTROYED);
        return ok(() => this.end(Number.isSafeInteger(code) ? code : EndCode.DESTROYED, params.get('LS_cause_message') ?? 'destroyed by the client'));
      }
      default:
        return fail(ReqErr.INVALID_REQUEST, `unknown LS_op ${String(op).slice(0, 40)}`);
    }
  }

  /** One msg line; `params` without LS_reqId and LS_ack. */
  async message(reqId: string, params: Map<string, string>, ack: boolean): Promise<Answer> {
    const upstream = await this.#ready();
    if (!upstream) return { line: n.reqerr(reqId, ReqErr.INTERNAL, 'no server instance can take the session now') };
    const answer = await this.#request(upstream, 'msg', this.#messages.forward(params));
    // An upstream lost before it answered: accepted here all the same, its outcome is the MSGFAIL sent.
    if (answer === null || answer.tag === 'REQOK') return { line: ack ? n.reqok(reqId) : null };
    return answer.tag === 'REQERR' ? { line: n.reqerr(reqId, answer.code, answer.message) } : { line: n.reqerr(reqId, ReqErr.INTERNAL, 'unexpected answer') };
  }

  /** Ends the session: pending data, END, the stream closed, the upstream destroyed. */
  end(code: number, message: string): void {
    if (this.#closed) return;
    const stream = this.#detach();
    if (stream) {
      this.#pumpTo(stream);
      stream.finish(n.end(code, message), true);
    }
    this.close();
  }

  /** Forgets the session without a word (expired, or its END already sent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach()?.abandon();
    clearInterval(this.#tick);
    if (this.#moveTimer) clearTimeout(this.#moveTimer);
    if (this.#upstream.kind === 'ready') this.#upstream.upstream.destroy();
    this.#upstream = { kind: 'closed' };
    for (const resolve of this.#awaiting.values()) resolve(null);
    this.#awaiting.clear();
    for (const waiter of this.#readyWaiters) waiter();
    this.services.closed();
  }

  // Upstream

  #onUpstreamLine(line: ServerLine): void {
    if (this.#subs.onUpstreamLine(line) || this.#messages.onUpstreamLine(line)) return;
    switch (line.tag) {
      case 'REQOK':
      case 'REQERR':
        if (line.reqId !== null) {
          this.#awaiting.get(line.reqId)?.(line);
          this.#awaiting.delete(line.reqId);
        }
        return;
      case 'CONS':
        if (this.#stream && this.#upstream.kind === 'ready') this.#write(this.#stream, n.cons(this.#upstream.upstream.bandwidth));
        return;
      default:
        return;
    }
  }

  #onUpstreamLost(loss: UpstreamLoss): void {
    if (this.#closed || this.#upstream.kind !== 'ready') return;
    const lost = this.#upstream.upstream.shard;
    this.services.count(loss.kind === 'ended' ? 'upstreamsEnded' : 'upstreamsLost');
    // A session the client's own request ended upstream ends here too; any other end is the shard's.
    if (loss.kind === 'ended' && loss.code === EndCode.DESTROYED) return this.end(loss.code, loss.message);
    this.#move([lost]).catch(() => this.end(EndCode.INTERNAL, 'the session could not move to another server instance'));
  }

  /**
   * Moves the session to a new upstream on another shard: every subscription issued again there and
   * reconciled, every message without an outcome failed, requests waiting meanwhile served there.
   */
  async #move(avoid: string[]): Promise<void> {
    const previous = this.#upstream.kind === 'ready' ? this.#upstream.upstream : null;
    this.#upstream = { kind: 'moving' };
    previous?.abandon();
    this.#messages.upstreamLost();
    for (const [reqId, resolve] of this.#awaiting) {
      resolve(null);
      this.#awaiting.delete(reqId);
    }
    const subs = this.#subs.upstreamLost();
    const handlers = { onLine: (line: ServerLine) => this.#onUpstreamLine(line), onLost: (loss: UpstreamLoss) => this.#onUpstreamLost(loss) };
    // A moment with no shard to take the session (the others still coming back) is waited out, as
    // long as a request may wait for an upstream; the client's stream meanwhile gets its PROBEs.
    const giveUpAt = Date.now() + UPSTREAM_WAIT_MS;
    const credentials = { ...this.credentials, requestedBandwidth: this.#requestedBandwidth };
    let opened = await openUpstream(this.services, credentials, avoid, handlers);
    while ('code' in opened && opened.code === ConErr.OVERLOADED && Date.now() < giveUpAt && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, MOVE_RETRY_MS));
      opened = await openUpstream(this.services, credentials, [], handlers);
    }
    if (this.#closed) {
      if (!('code' in opened)) opened.destroy();
      return;
    }
    if ('code' in opened) {
      // No shard can take the session: the client is told to open a new one, which a shard may take later.
      this.services.count('sessionsLostNoShard');
      return this.end(EndCode.MAX_DURATION, 'no server instance can take the session now');
    }
    this.services.count('upstreamMoves');
    this.#upstream = { kind: 'ready', upstream: opened };
    // The official clients take SERVNAME at any point of a stream: the client names its server right.
    this.#servername = opened.servername;
    if (this.#stream) this.#write(this.#stream, n.servname(this.#servername));
    this.#armMove();
    for (const sub of subs) void this.#issueAdd(sub);
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter();
  }

  /** The domain's maximum upstream age: the session moves on (not the client). */
  #armMove(): void {
    if (this.#moveTimer) clearTimeout(this.#moveTimer);
    const lifetime = this.services.upstreamLifetimeMs();
    if (lifetime === null) return;
    this.#moveTimer = setTimeout(() => {
      if (this.#upstream.kind !== 'ready') return;
      this.services.count('upstreamsAged');
      this.#move([this.#upstream.upstream.shard]).catch(() => this.end(EndCode.INTERNAL, 'the session could not move to another server instance'));
    }, lifetime);
  }

  /**
   * Issues a subscription on the current upstream (waiting for one during a move). Resolves with the
   * upstream's refusal, if any, once an upstream answered: a move before that issues it again, and
   * the client's add gets the next upstream's answer. A subscription the client already holds that
   * a new upstream refuses ends with UNSUB: the client learns it is gone.
   */
  #issueAdd(sub: ClientSubscription): Promise<Refusal | null> {
    let answered = this.#addAnswers.get(sub.clientId);
    if (!answered) {
      let resolve!: (refusal: Refusal | null) => void;
      const promise = new Promise<Refusal | null>((r) => (resolve = r));
      answered = { promise, resolve };
      this.#addAnswers.set(sub.clientId, answered);
    }
    const settle = (refusal: Refusal | null) => {
      this.#addAnswers.get(sub.clientId)?.resolve(refusal);
      this.#addAnswers.delete(sub.clientId);
    };
    void this.#ready().then(async (upstream) => {
      if (!upstream) {
        this.#subs.refused(sub);
        return settle({ code: ReqErr.INTERNAL, message: 'no server instance can take the session now' });
      }
      const answer = await this.#request(upstream, 'control', this.#subs.issue(sub, upstream.servername.startsWith('edgepush ')));
      if (answer === null) return;
      if (answer.tag === 'REQERR') {
        const held = sub.phase === 'confirmed';
        this.#subs.refused(sub);
        if (held) this.#emit(n.unsub(sub.clientId));
        settle({ code: answer.code, message: answer.message });
      } else settle(null);
    });
    return answered.promise;
  }

  /**
   * An add for a subscription id the client holds already. The official client sends an add again
   * when its answer is late (over HTTP, after its retry delay, as when an upstream must be replaced
   * first): the same add is the same subscription, answered as the first one is. Any other is refused.
   */
  async #addAgain(subId: number, params: ReadonlyMap<string, string>): Promise<Refusal | null> {
    const held = this.#subs.get(subId);
    const same = held !== undefined && held.phase !== 'deleting' && held.request.params.size === params.size && [...params].every(([k, v]) => held.request.params.get(k) === v);
    if (!same) return { code: ReqErr.BAD_SUBSCRIPTION_ID, message: `subscription ${subId} already exists` };
    return (await this.#addAnswers.get(subId)?.promise) ?? null;
  }

  /** Sends a request upstream; resolves with its REQOK or REQERR, or null when the upstream was lost first. */
  #request(upstream: Upstream, kind: 'control' | 'msg', line: string): Promise<ServerLine | null> {
    return new Promise((resolve) => {
      const reqId = upstream.send(kind, line);
      if (reqId === null) resolve(null);
      else this.#awaiting.set(reqId, resolve);
    });
  }

  /** Sends what needs no answer to the client (delete, reconf, constrain) to the current upstream, if any. */
  #send(kind: 'control', line: string): void {
    if (this.#upstream.kind !== 'ready') return;
    this.#upstream.upstream.send(kind, line);
  }

  /** The current upstream, once there is one (a move may be under way), or null when none came in time. */
  #ready(): Promise<Upstream | null> {
    if (this.#upstream.kind === 'ready') return Promise.resolve(this.#upstream.upstream);
    if (this.#upstream.kind === 'closed') return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), UPSTREAM_WAIT_MS);
      this.#readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(this.#upstream.kind === 'ready' ? this.#upstream.upstream : null);
      });
    });
  }

  // Client stream

  #emit(line: string): void {
    if (this.#closed) return;
    // Over the bound the session is ending (below): nothing more is kept for it.
    if (this.#unreadOverBound()) return;
    this.#log.append(line);
    if (this.#unreadOverBound()) {
      this.services.count('unreadSessionsEnded');
      queueMicrotask(() => this.end(EndCode.CLOSED_BY_SERVER, 'too many notifications left unread'));
      return;
    }
    this.#pump();
  }

  #unreadOverBound(): boolean {
    return this.#log.pendingChars > MAX_UNWRITTEN_CHARS || this.#log.pending > MAX_UNWRITTEN_LINES;
  }

  #pump(): void {
    const stream = this.#stream;
    if (!stream || this.#log.pending === 0) return;
    const mustLoop = this.#pumpTo(stream);
    if (mustLoop) this.#loop(stream);
    else if (stream.polling && this.#streamLines > 0) this.#scheduleEndPoll();
  }

  /** Writes pending notifications as far as the stream's content length allows; true when it must LOOP. */
  #pumpTo(stream: ClientStream): boolean {
    const bounded = stream.remaining !== Infinity;
    const budget = stream.remaining - LOOP_RESERVE_BYTES;
    let chunk = '';
    let bytes = 0;
    let count = 0;
    for (let line = this.#log.peek(); line !== undefined; line = this.#log.peek()) {
      // The rest waits for the client to take what it was given (#onTick writes again).
      if (stream.queuedBytes + chunk.length > STREAM_QUEUE_BYTES) break;
      if (bounded) {
        const size = byteLength(line);
        // One line always goes out, however small the budget, or the client would re-bind forever.
        if (bytes + size > budget && this.#streamLines + count > 0) {
          this.#flush(stream, chunk, count);
          return true;
        }
        bytes += size;
      }
      chunk += line;
      count++;
      this.#log.advance();
    }
    this.#flush(stream, chunk, count);
    return false;
  }

  #flush(stream: ClientStream, chunk: string, count: number): void {
    if (count === 0) return;
    this.#streamLines += count;
    this.#write(stream, chunk);
  }

  #write(stream: ClientStream, text: string): void {
    stream.write(text);
    this.#lastWriteAt = Date.now();
  }

  #onTick(): void {
    const now = Date.now();
    const stream = this.#stream;
    if (!stream) {
      const wait = UNBOUND_TTL_MS + this.#returnDelayMs;
      if (now - this.#unboundSince > wait) this.close();
      return;
    }
    // Notifications held back while the client was slow to take its stream's queue.
    this.#pump();
    if (stream.polling || !this.#options) return;
    const inactivity = this.#options.inactivityMillis;
    if (inactivity !== null && now - this.#lastHeardAt > inactivity + INACTIVITY_GRACE_MS) {
      // The client's heartbeats stopped reaching us: its connection is likely half-open. Drop the
      // stream, keep the session: a live client recovers it.
      this.#detach()?.abandon();
      return;
    }
    if (now - this.#lastWriteAt >= this.#options.keepaliveMillis - TICK_MS) {
      if (stream.remaining - LOOP_RESERVE_BYTES < n.PROBE.length) this.#loop(stream);
      else this.#write(stream, n.PROBE);
    }
  }

  #forceRebind(delayMs: number): void {
    const stream = this.#stream;
    if (!stream) return;
    this.#pumpTo(stream);
    this.#detach();
    stream.finish(n.loop(Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0));
  }

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

  #loop(stream: ClientStream): void {
    const delay = stream.polling ? (this.#options?.pollingMillis ?? 0) : 0;
    this.#detach();
    this.#returnDelayMs = delay;
    stream.finish(n.loop(delay));
  }

  #detach(): ClientStream | null {
    const stream = this.#stream;
    if (!stream) return null;
    this.#stream = null;
    this.#options = null;
    this.#unboundSince = Date.now();
    this.#returnDelayMs = 0;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    return stream;
  }
}

/** An upstream session on a shard the balancer picks; a shard that cannot take it is passed over for another. */
async function openUpstream(
  services: SessionServices,
  credentials: UpstreamCredentials,
  avoid: string[],
  handlers: { onLine(line: ServerLine): void; onLost(loss: UpstreamLoss): void },
): Promise<Upstream | Refusal> {
  const skipped = [...avoid];
  let last: Refusal = { code: ConErr.OVERLOADED, message: 'no server instance can take the session now' };
  for (let attempt = 0; attempt < MAX_PLACEMENTS; attempt++) {
    const shard = await services.place(skipped);
    if (!shard) break;
    const opened = await Upstream.open({ shard, transport: services.transport, clientIp: services.clientIp, edgeSecret: services.edgeSecret }, credentials, handlers);
    if (opened.ok) return opened.upstream;
    if (opened.kind === 'refused' && opened.code !== ConErr.OVERLOADED) return { code: opened.code, message: opened.message };
    skipped.push(shard.id);
    last = opened.kind === 'refused' ? { code: opened.code, message: opened.message } : { code: ConErr.OVERLOADED, message: opened.message };
  }
  return last;
}

const encoder = new TextEncoder();
const byteLength = (text: string): number => encoder.encode(text).length;

function encodeParams(params: ReadonlyMap<string, string>): string {
  return [...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
}
