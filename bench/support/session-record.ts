/**
 * What one client session of the chaos bench lived through, as its application saw it, and what
 * that means for each fault window. Pure (no I/O): the client processes keep the records and run
 * the analysis where the records are, so only a small outcome per session and fault crosses IPC.
 *
 * The feed: every item carries a field `n`, the publisher's own counter (1, 2, 3, …), so a client
 * can tell exactly which updates of its item it got, and the bench knows when each was published.
 */

export type SubscriptionMode = 'DISTINCT' | 'RAW';
/**
 * The transport the client streams on when all is well. `WS-STREAMING`: the client as shipped (no
 * forced transport; WebSocket is its first choice). `HTTP-STREAMING`: forced transport `HTTP`, the
 * client where WebSocket is blocked: HTTP streaming, HTTP polling when streaming does not work.
 */
export type StreamingTransport = 'WS-STREAMING' | 'HTTP-STREAMING';

export interface SessionSpec {
  readonly index: number;
  /** Where the client connects: the edge, or (reference clients) one origin directly. */
  readonly url: string;
  readonly transport: StreamingTransport;
  readonly mode: SubscriptionMode;
  readonly item: string;
}

/** One fault, as the bench injected it. */
export interface FaultWindow {
  readonly name: string;
  /** When the fault was injected (ms epoch): signal sent, stop begun. */
  readonly at: number;
  /** When the next window begins: losses of updates published in [at, until) are this fault's. */
  readonly until: number;
  /** The sessions it hits: those on one shard at `at`, every one (Redis, the edge), or none (the control window). */
  readonly hits: { readonly shard: string } | 'all' | 'none';
}

/** When each `n` of each item was published (index n; entry 0 unused), as the publisher saw it succeed. */
export type PublishLog = Readonly<Record<string, readonly number[]>>;

export interface FaultOutcome {
  /** The session was hit by the fault (see FaultWindow.hits). */
  readonly affected: boolean;
  /** Its connection was interrupted (a status other than CONNECTED on a transport) or it was given another session, in the window. */
  readonly disrupted: boolean;
  /** Milliseconds from the fault until the session received data again; null when it never did in the window. */
  readonly backMs: number | null;
  /** At the end of the window the client was connected, but not streaming on its transport (e.g. fell back to polling). */
  readonly degraded: boolean;
  /** Milliseconds from the fault until the client saw its stream interrupted; null when it never was. */
  readonly interruptedMs: number | null;
  /** The client had to open a new session (code 20, END 48, …) instead of recovering its own. */
  readonly newSession: boolean;
  /** Updates published in the window that the client never received, over the whole run. */
  readonly lost: number;
  /** onServerError, a subscription error, or a final DISCONNECTED the bench did not ask for, in the window. */
  readonly fatal: readonly string[];
  /** What the client went through, seconds from the fault: statuses, new sessions (`session s2`), back. */
  readonly timeline: string;
}

/** Connected and able to receive: streaming, or polling (a client that found streaming unavailable). */
const CONNECTED = /^CONNECTED:(WS|HTTP)-(STREAMING|POLLING)$/;

export class SessionRecord {
  readonly statuses: Array<{ at: number; status: string }> = [];
  readonly sessionIds: Array<{ at: number; id: string }> = [];
  readonly fatal: Array<{ at: number; what: string }> = [];
  /** First arrival time of each `n`; holes for those never received. */
  readonly arrivals: number[] = [];
  /** The session (index in sessionIds) that first delivered each `n`. */
  readonly deliveredBy: number[] = [];
  /** An `n` delivered twice by the same session: the protocol must never do that (recovery replays exactly). */
  duplicatesInSession = 0;
  /** An `n` delivered again by a later session (a DISTINCT snapshot repeats what the client had): normal. */
  repeatedBySnapshot = 0;
  /** Updates the server said it dropped for this client (onItemLostUpdates: OV). */
  announcedLost = 0;
  connectAt = 0;
  maxReceived = 0;
  /** The bench closed the client: a final DISCONNECTED after this is not an error. */
  closing = false;

  constructor(readonly spec: SessionSpec) {}

  onStatus(status: string, at: number): void {
    this.statuses.push({ at, status });
    if (status === 'DISCONNECTED' && !this.closing) this.fatal.push({ at, what: 'DISCONNECTED (the client gave up)' });
  }

  onSessionId(id: string, at: number): void {
    if (this.sessionIds.at(-1)?.id !== id) this.sessionIds.push({ at, id });
  }

  onUpdate(n: number, at: number): void {
    if (!Number.isInteger(n) || n <= 0) {
      this.fatal.push({ at, what: `update without a valid n: ${n}` });
      return;
    }
    const session = this.sessionIds.length - 1;
    if (this.arrivals[n] === undefined) {
      this.arrivals[n] = at;
      this.deliveredBy[n] = session;
    } else if (this.deliveredBy[n] === session) {
      this.duplicatesInSession++;
    } else {
      this.repeatedBySnapshot++;
    }
    if (n > this.maxReceived) this.maxReceived = n;
  }

  get connected(): boolean {
    return CONNECTED.test(this.statuses.at(-1)?.status ?? '');
  }

  /** Connected, but not streaming on its own transport. */
  get degraded(): boolean {
    return this.connected && this.statuses.at(-1)?.status !== `CONNECTED:${this.spec.transport}`;
  }

  /** The shard that held the session at `at`, from the session id (`<shard>.<random>`). */
  shardAt(at: number): string | null {
    let id: string | null = null;
    for (const s of this.sessionIds) if (s.at <= at) id = s.id;
    return id === null ? null : (/^([^.]+)\./.exec(id)?.[1] ?? null);
  }

  /** Connect to the first update received: the bench's reference for "time back". */
  firstUpdateMs(): number | null {
    let first = Infinity;
    for (const at of this.arrivals) if (at !== undefined && at < first) first = at;
    return first === Infinity ? null : first - this.connectAt;
  }

  /**
   * What `fault` did to this session.
   *
   * Back: the arrival of the first update published after the fault that reached the client once it
   * was connected again after its last interruption in the window (a status other than CONNECTED on
   * a streaming or polling transport), i.e. when its connection delivered data again for good. A
   * session that recovers its own session gets the missed updates replayed during the recovery
   * poll, before it is connected again: it is back on its first update after that. Whether it came
   * back on its own streaming transport or fell back to polling is `degraded`.
   *
   * Lost: updates of its item published in [at, until) that the client never received during the
   * whole run (a later snapshot that delivers one counts as received).
   */
  outcome(fault: FaultWindow, published: PublishLog): FaultOutcome {
    const inWindow = (at: number) => at >= fault.at && at < fault.until;
    const affected = fault.hits === 'all' || (fault.hits !== 'none' && this.shardAt(fault.at) === fault.hits.shard);
    const interruptions = this.statuses.filter((s) => inWindow(s.at) && !CONNECTED.test(s.status));
    const newSession = this.sessionIds.some((s) => inWindow(s.at));
    // Connected again: the first CONNECTED status after the last interruption (the fault itself when
    // the connection was never interrupted); null when the window ends before it.
    const lastInterruption = interruptions.at(-1)?.at;
    const resumed =
      lastInterruption === undefined ? fault.at : (this.statuses.find((s) => s.at > lastInterruption && inWindow(s.at) && CONNECTED.test(s.status))?.at ?? null);
    const finalStatus = this.statuses.filter((s) => s.at < fault.until).at(-1)?.status ?? '';
    const times = published[this.spec.item] ?? [];
    let back = Infinity;
    let lost = 0;
    for (let n = 1; n < times.length; n++) {
      const publishedAt = times[n];
      if (publishedAt === undefined || publishedAt < fault.at) continue;
      const arrival = this.arrivals[n];
      if (publishedAt < fault.until && arrival === undefined) lost++;
      if (resumed !== null && arrival !== undefined && arrival >= resumed && arrival < fault.until && arrival < back) back = arrival;
    }
    const since = (at: number) => `+${((at - fault.at) / 1000).toFixed(2)}`;
    const timeline = [
      ...this.statuses.filter((s) => inWindow(s.at)).map((s) => ({ at: s.at, what: s.status })),
      ...this.sessionIds.filter((s) => inWindow(s.at)).map((s) => ({ at: s.at, what: `session ${/^[^.]+/.exec(s.id)?.[0]}` })),
      ...this.fatal.filter((f) => inWindow(f.at)).map((f) => ({ at: f.at, what: `FATAL ${f.what}` })),
      ...(back === Infinity ? [] : [{ at: back, what: 'back' }]),
    ]
      .sort((a, b) => a.at - b.at)
      .map((e) => `${since(e.at)} ${e.what}`)
      .join(', ');
    return {
      timeline,
      interruptedMs: interruptions.length > 0 ? interruptions[0].at - fault.at : null,
      affected,
      degraded: CONNECTED.test(finalStatus) && finalStatus !== `CONNECTED:${this.spec.transport}`,
      disrupted: interruptions.length > 0 || newSession,
      backMs: back === Infinity ? null : back - fault.at,
      newSession,
      lost,
      fatal: this.fatal.filter((f) => inWindow(f.at)).map((f) => f.what),
    };
  }

  /** Reference clients: from `at` to the client's first status that is not CONNECTED (its own detection), and that status. */
  detection(at: number): { ms: number; status: string } | null {
    const first = this.statuses.find((s) => s.at >= at && !CONNECTED.test(s.status));
    return first ? { ms: first.at - at, status: first.status } : null;
  }
}
