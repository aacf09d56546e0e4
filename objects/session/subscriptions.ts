import * as n from '../../protocol/notifications.ts';
import { decodeUpdateValues, encodeUpdateValues, type UpdateValue } from '../../protocol/update-line.ts';
import type { ServerLine } from '../../protocol/server-line.ts';
import { FEED_POSITION_FIELD, parseFeedPosition, type FeedPosition } from '../../protocol/feed-position.ts';

/**
 * A session-layer session's subscriptions: the client's own (its ids, its view of every item) on
 * one side, the upstream session's on the other, and the translation between them. Pure: the session
 * feeds it the upstream's lines and writes out what it emits.
 *
 * Every update is decoded into full values and encoded again against what the client last got, so
 * the client's unchanged markers never depend on which upstream an update came from. That is what
 * makes a move to a new upstream invisible: the subscriptions are issued again there, and what the
 * new upstream's snapshot says is reconciled with what the client holds instead of replayed —
 * MERGE: only fields that differ, as an ordinary update; COMMAND: the ADD/UPDATE/DELETE that turn the
 * client's rows into the snapshot's; DISTINCT: the events of the new history after the last one the
 * client got — told by each event's position in the shared feed where the origin gives it (edgepush
 * origins on Redis), else by content (identical events then look alike) — and OV for those older than
 * the whole new history; RAW: no snapshot, so what was published during the move is lost. SUBOK, CONF
 * and EOS the client already has are not sent again.
 */

export type Mode = 'MERGE' | 'DISTINCT' | 'COMMAND' | 'RAW';
type Values = (string | null)[];
/** An upstream update: the client's fields, and where the feed gives it, the event's position. */
type UpstreamEvent = { readonly values: Values; readonly position: FeedPosition | null };

/** DISTINCT events kept per item to find where the client is in a new upstream's history. */
const DISTINCT_TAIL = 200;

export interface SubscriptionRequest {
  readonly clientId: number;
  readonly mode: Mode;
  /** The add's parameters as the client sent them, but LS_reqId, LS_subId and LS_ack. */
  readonly params: ReadonlyMap<string, string>;
  /** The client asked for a snapshot (DISTINCT: of any length). */
  readonly snapshot: boolean;
}

type ItemPhase =
  /** Updates go to the client as they come. */
  | { readonly kind: 'live' }
  /** A new upstream's MERGE snapshot is the next update: reconciled with the client's values. */
  | { readonly kind: 'merge-snapshot' }
  /** A new upstream's DISTINCT or COMMAND snapshot, collected until its EOS. */
  | { readonly kind: 'collecting'; readonly events: UpstreamEvent[] };

class ItemView {
  /**
   * What the client holds of the item is not known (its session was restored after the object
   * restarted): values go out whole, rows are cleared first, history is not sent again.
   */
  unknownToClient = false;
  /** The current upstream's last values of the item: what its unchanged markers refer to. */
  upstream: Values | null = null;
  /** What the client last got: what the next update's unchanged markers refer to. */
  client: Values | null = null;
  /** COMMAND: the client's rows by key. */
  readonly rows = new Map<string, Values>();
  /** DISTINCT: the client's last events, oldest first. */
  tail: string[] = [];
  /** DISTINCT: the position in the shared feed of the last event the client got, when known. */
  lastPosition: FeedPosition | null = null;
  phase: ItemPhase = { kind: 'live' };
  /** The client got this item's EOS (DISTINCT, COMMAND). */
  endOfSnapshotSent = false;
}

type SubscriptionPhase =
  /** Issued to the upstream, not confirmed to the client yet. */
  | 'requested'
  /** Confirmed to the client (SUBOK/SUBCMD sent). */
  | 'confirmed'
  /** The client deleted it; its UNSUB is owed. */
  | 'deleting';

export class ClientSubscription {
  phase: SubscriptionPhase = 'requested';
  /** Its id on the current upstream session; null until issued there. */
  upstreamId: number | null = null;
  /** On the current upstream it has one more field after the client's: each event's feed position. */
  positioned = false;
  /** The client's fields. */
  fields = 0;
  keyPos = 0;
  cmdPos = 0;
  items: ItemView[] = [];

  constructor(readonly request: SubscriptionRequest) {}

  get clientId(): number {
    return this.request.clientId;
  }
}

/** What survives an object restart of a subscription the client holds. */
export interface SubscriptionRecord {
  readonly request: { readonly clientId: number; readonly mode: Mode; readonly params: [string, string][]; readonly snapshot: boolean };
  readonly fields: number;
  readonly keyPos: number;
  readonly cmdPos: number;
  readonly items: number;
}

export interface SubscriptionEvents {
  /** A data notification for the client. */
  emit(line: string): void;
  /** The subscriptions the client holds changed (one confirmed, or gone): records() to keep. */
  changed?(): void;
  /** An upstream line named a subscription nobody knows (a bug, or a late line of a deleted one). */
  stray?(line: ServerLine): void;
  /**
   * An item the client holds was brought up to date with a new upstream: `updates` sent for it (0:
   * nothing had changed), `lost` DISTINCT events older than the new history (reported with OV).
   */
  reconciled?(updates: number, lost: number): void;
}

export class SubscriptionTable {
  readonly #byClient = new Map<number, ClientSubscription>();
  readonly #byUpstream = new Map<number, ClientSubscription>();
  #nextUpstreamId = 1;

  constructor(private readonly events: SubscriptionEvents) {}

  get size(): number {
    return this.#byClient.size;
  }

  has(clientId: number): boolean {
    return this.#byClient.has(clientId);
  }

  get(clientId: number): ClientSubscription | undefined {
    return this.#byClient.get(clientId);
  }

  /** Registers the client's add; null when its id is taken. */
  add(request: SubscriptionRequest): ClientSubscription | null {
    if (this.#byClient.has(request.clientId)) return null;
    const sub = new ClientSubscription(request);
    this.#byClient.set(request.clientId, sub);
    return sub;
  }

  /**
   * The add request (without LS_reqId) that issues `sub` on the current upstream under a fresh id.
   * A subscription the client already holds asks for the snapshot whatever the client asked, to
   * reconcile with (RAW has none). `feedPositions`: the upstream is an origin that gives events'
   * positions in its feed (edgepush): DISTINCT asks for them.
   */
  issue(sub: ClientSubscription, feedPositions: boolean): string {
    if (sub.upstreamId !== null) this.#byUpstream.delete(sub.upstreamId);
    sub.upstreamId = this.#nextUpstreamId++;
    this.#byUpstream.set(sub.upstreamId, sub);
    const params = new Map(sub.request.params);
    sub.positioned = feedPositions && sub.request.mode === 'DISTINCT' && params.has('LS_schema');
    if (sub.positioned) params.set('LS_schema', `${params.get('LS_schema')} ${FEED_POSITION_FIELD}`);
    if (sub.phase === 'confirmed' && sub.request.mode !== 'RAW') params.set('LS_snapshot', 'true');
    return [`LS_op=add`, `LS_subId=${sub.upstreamId}`, ...[...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`)].join('&');
  }

  /** The subscriptions the client holds, to keep across an object restart. */
  records(): SubscriptionRecord[] {
    return [...this.#byClient.values()]
      .filter((sub) => sub.phase === 'confirmed')
      .map((sub) => ({
        request: { clientId: sub.clientId, mode: sub.request.mode, params: [...sub.request.params], snapshot: sub.request.snapshot },
        fields: sub.fields,
        keyPos: sub.keyPos,
        cmdPos: sub.cmdPos,
        items: sub.items.length,
      }));
  }

  /**
   * The subscriptions a restored session's client holds, as confirmed, their items unknown to the
   * client: to be issued on the new upstream like after any move.
   */
  restore(records: readonly SubscriptionRecord[]): void {
    for (const record of records) {
      const sub = new ClientSubscription({ ...record.request, params: new Map(record.request.params) });
      sub.phase = 'confirmed';
      sub.fields = record.fields;
      sub.keyPos = record.keyPos;
      sub.cmdPos = record.cmdPos;
      sub.items = Array.from({ length: record.items }, () => {
        const item = new ItemView();
        item.unknownToClient = true;
        item.endOfSnapshotSent = true;
        return item;
      });
      this.#byClient.set(sub.clientId, sub);
    }
  }

  /** The upstream refused the add: the client hears it as a REQERR of its own add; the subscription goes. */
  refused(sub: ClientSubscription): void {
    this.#forget(sub);
  }

  /**
   * The client's delete: the delete request for the upstream, or null when the subscription is not
   * there (never issued, or the upstream is being replaced): its UNSUB is then sent here and now.
   */
  delete(sub: ClientSubscription, upstreamReady: boolean): string | null {
    const wasConfirmed = sub.phase === 'confirmed';
    sub.phase = 'deleting';
    if (upstreamReady && sub.upstreamId !== null) return `LS_op=delete&LS_subId=${sub.upstreamId}`;
    this.#forget(sub);
    if (wasConfirmed) this.events.emit(n.unsub(sub.clientId));
    return null;
  }

  /** The client's reconf, for the upstream: the same parameters under the upstream's id. */
  reconf(sub: ClientSubscription, params: ReadonlyMap<string, string>): string | null {
    if (sub.upstreamId === null) return null;
    return [`LS_op=reconf`, `LS_subId=${sub.upstreamId}`, ...[...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`)].join('&');
  }

  /**
   * The upstream is gone: every subscription is to be issued again on the next one (those being
   * deleted are done: their UNSUB goes out now), and each item the client holds will be reconciled
   * with the new upstream's snapshot. Returns the subscriptions to issue, in the client's order.
   */
  upstreamLost(): ClientSubscription[] {
    this.#byUpstream.clear();
    const again: ClientSubscription[] = [];
    for (const sub of [...this.#byClient.values()]) {
      sub.upstreamId = null;
      if (sub.phase === 'deleting') {
        this.#forget(sub);
        this.events.emit(n.unsub(sub.clientId));
        continue;
      }
      for (const item of sub.items) {
        item.upstream = null;
        const mode = sub.request.mode;
        item.phase = mode === 'MERGE' ? { kind: 'merge-snapshot' } : mode === 'RAW' ? { kind: 'live' } : { kind: 'collecting', events: [] };
      }
      again.push(sub);
    }
    return again;
  }

  /** Feeds a line of the upstream's stream; false when it is not about subscriptions. */
  onUpstreamLine(line: ServerLine): boolean {
    switch (line.tag) {
      case 'SUBOK':
      case 'SUBCMD':
      case 'CONF':
      case 'UNSUB':
      case 'U':
      case 'EOS':
      case 'CS':
      case 'OV':
        break;
      default:
        return false;
    }
    const sub = this.#byUpstream.get(line.subId);
    if (!sub) {
      this.events.stray?.(line);
      return true;
    }
    switch (line.tag) {
      case 'SUBOK':
      case 'SUBCMD':
        this.#confirmed(sub, line);
        break;
      case 'CONF':
        // A resubscription's CONF restates what the client was told, unless the shards differ.
        if (sub.phase === 'confirmed') this.events.emit(n.conf(sub.clientId, line.maxFrequency === 'unlimited' ? 'unlimited' : Number(line.maxFrequency), line.filtered));
        break;
      case 'UNSUB':
        this.#forget(sub);
        this.events.emit(n.unsub(sub.clientId));
        break;
      case 'U':
        this.#update(sub, line.item, line.values);
        break;
      case 'EOS':
        this.#endOfSnapshot(sub, line.item);
        break;
      case 'CS':
        this.#clear(sub, line.item);
        break;
      case 'OV':
        if (sub.phase !== 'deleting') this.events.emit(n.ov(sub.clientId, line.item, line.lost));
        break;
    }
    return true;
  }

  #confirmed(sub: ClientSubscription, line: Extract<ServerLine, { tag: 'SUBOK' | 'SUBCMD' }>): void {
    if (sub.items.length > 0) return; // a resubscription: the client has had its SUBOK
    sub.fields = line.fields - (sub.positioned ? 1 : 0);
    if (line.tag === 'SUBCMD') {
      sub.keyPos = line.keyPos;
      sub.cmdPos = line.cmdPos;
    }
    sub.items = Array.from({ length: line.items }, () => new ItemView());
    if (sub.phase !== 'requested') return;
    sub.phase = 'confirmed';
    this.events.emit(line.tag === 'SUBCMD' ? n.subcmd(sub.clientId, line.items, sub.fields, line.keyPos, line.cmdPos) : n.subok(sub.clientId, line.items, sub.fields));
    this.events.changed?.();
  }

  #update(sub: ClientSubscription, index: number, encoded: string): void {
    const item = sub.items[index - 1];
    if (!item) return;
    const decoded = decodeUpdateValues(encoded);
    const upstream: Values = Array.from({ length: sub.fields + (sub.positioned ? 1 : 0) }, (_, i) => {
      const v = decoded[i];
      if (v === undefined) return item.upstream?.[i] ?? null;
      // Delta deliveries (JSON Patch, TLCP-diff): the layer's upstream asks for none
      // (LS_supported_diffs empty), so a delta here is a server's mistake: the value stays as it was.
      return typeof v === 'object' && v !== null ? (item.upstream?.[i] ?? null) : v;
    });
    item.upstream = upstream;
    const values = sub.positioned ? upstream.slice(0, sub.fields) : upstream;
    const position = sub.positioned ? parseFeedPosition(upstream[sub.fields]) : null;
    if (sub.phase === 'deleting') return;
    switch (item.phase.kind) {
      case 'live':
        return this.#deliver(sub, index, item, values, position);
      case 'merge-snapshot': {
        item.phase = { kind: 'live' };
        // Nothing to reconcile with when the client holds no values and asked for no snapshot: it
        // waits for real updates, as it would have.
        const same = !item.unknownToClient && (item.client === null ? !sub.request.snapshot : values.every((v, i) => v === item.client![i]));
        item.unknownToClient = false;
        this.events.reconciled?.(same ? 0 : 1, 0);
        if (!same) this.#deliver(sub, index, item, values);
        return;
      }
      case 'collecting':
        item.phase.events.push({ values, position });
        return;
    }
  }

  #endOfSnapshot(sub: ClientSubscription, index: number): void {
    const item = sub.items[index - 1];
    if (!item || sub.phase === 'deleting') return;
    if (item.phase.kind === 'collecting') {
      const { events } = item.phase;
      item.phase = { kind: 'live' };
      if (sub.request.mode === 'COMMAND') this.#reconcileRows(sub, index, item, events.map((e) => e.values));
      else this.#reconcileHistory(sub, index, item, events);
    }
    // A resubscription asks for the snapshot even where the client did not: its EOS is not the client's.
    if (!item.endOfSnapshotSent && sub.request.snapshot) {
      item.endOfSnapshotSent = true;
      this.events.emit(n.eos(sub.clientId, index));
    }
  }

  #clear(sub: ClientSubscription, index: number): void {
    const item = sub.items[index - 1];
    if (!item || sub.phase === 'deleting') return;
    item.rows.clear();
    item.tail = [];
    // The client's values of the item are gone with the CS: the next update carries every field.
    item.client = null;
    if (item.phase.kind === 'collecting') item.phase = { kind: 'collecting', events: [] };
    this.events.emit(n.cs(sub.clientId, index));
  }

  /**
   * The ADD, UPDATE and DELETE lines that turn the client's rows into the new snapshot's. A client
   * that asked for no snapshot never gets rows it did not see added: those it knows are brought up
   * to date, one added during the move shows at its next update. Rows a restored session's client
   * holds are not known: they are cleared (CS) and the snapshot's added again.
   */
  #reconcileRows(sub: ClientSubscription, index: number, item: ItemView, snapshot: Values[]): void {
    if (item.unknownToClient) {
      item.unknownToClient = false;
      this.#clear(sub, index);
    }
    const key = sub.keyPos - 1;
    const command = sub.cmdPos - 1;
    const fresh = new Map(snapshot.map((v) => [v[key] ?? '', v]));
    const changes: Values[] = [];
    for (const [k, row] of fresh) {
      const held = item.rows.get(k);
      if (!held) {
        if (sub.request.snapshot) changes.push(withCommand(row, command, 'ADD'));
      } else if (row.some((v, i) => i !== command && v !== held[i])) changes.push(withCommand(row, command, 'UPDATE'));
    }
    for (const [k, held] of item.rows) {
      if (!fresh.has(k)) changes.push(withCommand(held.map((_, i) => (i === key ? k : null)), command, 'DELETE'));
    }
    for (const values of changes) this.#deliver(sub, index, item, values);
    this.events.reconciled?.(changes.length, 0);
  }

  /**
   * The events of the new history after the last one the client got. A restored session's client
   * gets none of it: where it stands is not known, and a repeated event is worse than a missed one.
   */
  #reconcileHistory(sub: ClientSubscription, index: number, item: ItemView, history: UpstreamEvent[]): void {
    let from = 0;
    let lost = 0;
    if (item.unknownToClient) {
      item.unknownToClient = false;
      from = history.length;
    } else if (item.tail.length === 0) {
      // The client has none of this item's events: a snapshot it asked for is due now, else nothing.
      if (!sub.request.snapshot) from = history.length;
    } else {
      const byPosition = item.lastPosition && placeByPosition(history, item.lastPosition);
      if (byPosition) {
        ({ from, lost } = byPosition);
        if (lost > 0) this.events.emit(n.ov(sub.clientId, index, lost));
      } else {
        from = afterOverlap(history.map((e) => eventKey(e.values)), item.tail);
      }
    }
    for (const { values, position } of history.slice(from)) this.#deliver(sub, index, item, values, position);
    this.events.reconciled?.(history.length - from, lost);
  }

  #deliver(sub: ClientSubscription, index: number, item: ItemView, values: Values, position: FeedPosition | null = null): void {
    const previous = item.client;
    const encoded: UpdateValue[] = previous === null ? values : values.map((v, i) => (v === previous[i] ? undefined : v));
    item.client = values;
    if (sub.request.mode === 'COMMAND') {
      const k = values[sub.keyPos - 1] ?? '';
      if (values[sub.cmdPos - 1] === 'DELETE') item.rows.delete(k);
      else item.rows.set(k, values);
    } else if (sub.request.mode === 'DISTINCT') {
      item.lastPosition = position;
      item.tail.push(eventKey(values));
      if (item.tail.length > DISTINCT_TAIL) item.tail.splice(0, item.tail.length - DISTINCT_TAIL);
    }
    this.events.emit(n.update(sub.clientId, index, encodeUpdateValues(encoded)));
  }

  #forget(sub: ClientSubscription): void {
    const held = sub.phase === 'confirmed' || sub.phase === 'deleting';
    this.#byClient.delete(sub.clientId);
    if (sub.upstreamId !== null) this.#byUpstream.delete(sub.upstreamId);
    if (held) this.events.changed?.();
  }
}

function withCommand(values: Values, command: number, verb: 'ADD' | 'UPDATE' | 'DELETE'): Values {
  return values.map((v, i) => (i === command ? verb : v));
}

const eventKey = (values: Values): string => JSON.stringify(values);

/**
 * Where the client stands in `history` by the events' positions in the shared feed: the index of the
 * first event after `last`, and how many events between them the history no longer holds. null when
 * positions cannot tell (an event without one, or the item restarted in the feed since).
 */
function placeByPosition(history: readonly UpstreamEvent[], last: FeedPosition): { from: number; lost: number } | null {
  if (!history.every((e) => e.position !== null && e.position.epoch === last.epoch)) return null;
  const from = history.findIndex((e) => e.position!.seq > last.seq);
  if (from === -1) return { from: history.length, lost: 0 };
  return { from, lost: Math.max(0, history[from].position!.seq - last.seq - 1) };
}

/**
 * Where the client stands in `history`: the index after the latest event that ends a run matching
 * the end of the client's tail (as long a run as both share); 0 when none matches (the client's last
 * event is older than the whole history: it is all new to the client).
 */
function afterOverlap(history: readonly string[], tail: readonly string[]): number {
  let best = -1;
  let bestRun = 0;
  for (let end = history.length - 1; end >= 0; end--) {
    let run = 0;
    while (run <= end && run < tail.length && history[end - run] === tail[tail.length - 1 - run]) run++;
    if (run > bestRun) {
      bestRun = run;
      best = end;
      if (run === Math.min(end + 1, tail.length)) break;
    }
  }
  return best + 1;
}
