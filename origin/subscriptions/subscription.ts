/**
 * One client subscription (LS_op=add): its items, schema and mode, and the policy that bounds what a
 * slow or unbound session holds for it.
 *
 * Live updates go straight to the session while it can take them. Otherwise they are held per item:
 * MERGE keeps only "something changed" (the release sends current values: conflation), the other
 * modes keep a queue bounded in lines per item and in size per session (updates may be large, so a
 * line count alone would let one slow client hold hundreds of megabytes), and count what overflows
 * — announced with OV where the protocol allows (RAW, COMMAND, unfiltered), silently dropped where
 * filtering allows it (DISTINCT).
 *
 * A clear-snapshot event reaches DISTINCT and COMMAND clients as `CS` and MERGE ones as an update
 * with every field null, which is what Lightstreamer's own kernel does for a cleared item; RAW keeps
 * no state, so a clear means nothing to it.
 *
 * Snapshots go out the same way as held updates: the item's state is frozen when the subscription
 * starts (and live events are held behind it from then on, so nothing falls between snapshot and
 * live data), and its lines are written as the session accepts them, a slice per pass. A COMMAND
 * item of many rows, or a long DISTINCT history asked for by thousands of items, neither freezes the
 * event loop nor piles up in memory for a client that reads slowly.
 */
import type { SubscriptionMode } from '../adapters/adapter.ts';
import * as n from '../../protocol/notifications.ts';
import { encodeUpdateValues } from '../../protocol/update-line.ts';
import type { FieldValues, ItemEvent } from '../bus/bus.ts';
import { deltaOf, deltaValues, fullValues, type EventView, type FieldDeltas, type ItemConsumer, type ItemHub, type Schema } from './item-hub.ts';
import { FEED_POSITION_FIELD } from '../../protocol/feed-position.ts';
import type { DeltaValue, UpdateValue } from '../../protocol/update-line.ts';

/** What a subscription needs from its session. */
export interface SubscriptionOutput {
  /** True while live updates may be written now (bound, not congested, small backlog). */
  accepting(): boolean;
  /** Appends a data notification (counted for recovery). */
  emit(line: string): void;
  /** Asks to be released (`release()`) when the session can take updates again. */
  hold(sub: Subscription): void;
  /** An update not delivered because the client could not keep up. */
  conflated(count: number): void;
  /** Held lines grew (or, negative, shrank) by this many bytes. */
  queued(bytes: number): void;
  /** Bytes the session may still hold in queues. */
  queueRoom(): number;
}

/** Characters a release pass may still write; the session's subscriptions share one per pass. */
export interface WriteBudget {
  chars: number;
}

export interface SubscriptionSpec {
  readonly id: number;
  readonly mode: SubscriptionMode;
  readonly schema: Schema;
  /** LS_snapshot: true, false, or a DISTINCT length. */
  readonly snapshot: boolean | number;
  /** Updates per second per item, at least MIN_MAX_FREQUENCY; null = unlimited. MERGE only. */
  readonly maxFrequency: number | null;
  /** The user's limit on the frequency (the metadata adapter's), which a reconf cannot lift. */
  readonly frequencyCap: number | null;
  readonly unfiltered: boolean;
  /** Queue length per item while held, at most MAX_BUFFER; modes other than conflated MERGE. */
  readonly bufferSize: number;
  /** Per item (in order), the fields that may go out as deltas; null for none (always in COMMAND). */
  readonly deltas: ReadonlyArray<FieldDeltas | null> | null;
}

/** Held queue bound when the client asks for `unlimited`: memory stays bounded all the same. */
export const MAX_BUFFER = 1000;
export const DEFAULT_BUFFER = 100;
/**
 * The lowest update rate a client may ask for (one per 100 s): the pause between two updates of an
 * item is a timer, and a rate near zero would ask for one longer than a timer can hold (2^31 ms),
 * which Node fires at once — again and again, for every item.
 */
export const MIN_MAX_FREQUENCY = 0.01;

/** A client's requested frequency within the user's limit (null: unlimited). */
export function capFrequency(requested: number | null, cap: number | null): number | null {
  if (cap === null) return requested;
  return requested === null ? cap : Math.min(requested, cap);
}

/** The lines of one item's snapshot still to be written, then (DISTINCT, COMMAND) its EOS. */
interface PendingSnapshot {
  readonly updates: Iterator<string>;
  readonly endOfSnapshot: boolean;
}

class SubscribedItem implements ItemConsumer {
  /** The client got a first update: later ones may use unchanged markers. */
  started = false;
  dirty = false;
  /** A CS is owed before the held queue (whatever was queued before the clear was dropped). */
  cleared = false;
  queue: string[] | null = null;
  lost = 0;
  lastSentAt = 0;
  timer: NodeJS.Timeout | null = null;
  /** Non-null until the snapshot is written: live events wait behind it. */
  snapshot: PendingSnapshot | null = null;
  /**
   * The item's seq whose state the client holds (-1: not known, as after a snapshot or queued
   * lines): deltas go out only to a client holding the state they were computed from.
   */
  clientSeq = -1;
  /** The seq of the last line queued: the state the client holds once the queue is out. */
  queuedSeq = -1;
  /** MERGE, fields that allow deltas: their values as of `clientSeq` (null where not known). */
  sentValues: Array<string | null> | null = null;

  constructor(
    readonly sub: Subscription,
    readonly index: number,
    readonly hub: ItemHub,
    readonly deltas: FieldDeltas | null,
  ) {}

  onEvent(view: EventView): void {
    this.sub.onEvent(this, view);
  }
}

export class Subscription {
  readonly #items: SubscribedItem[] = [];
  #maxFrequency: number | null;
  #live = false;
  #closed = false;

  constructor(
    readonly spec: SubscriptionSpec,
    private readonly out: SubscriptionOutput,
  ) {
    this.#maxFrequency = spec.maxFrequency;
  }

  get id(): number {
    return this.spec.id;
  }

  get filtered(): boolean {
    return !this.spec.unfiltered && this.spec.mode !== 'RAW';
  }

  /**
   * Writes SUBOK/SUBCMD and CONF, freezes each item's snapshot and starts consuming its live events
   * in one synchronous step, so nothing falls between snapshot and live data. The snapshots are
   * written by `release()`, which the session calls as it can take them.
   */
  start(hubs: readonly ItemHub[]): void {
    const { id, mode, schema } = this.spec;
    const nItems = hubs.length;
    const nFields = schema.fields.length;
    if (mode === 'COMMAND') {
      this.out.emit(n.subcmd(id, nItems, nFields, schema.fields.indexOf('key') + 1, schema.fields.indexOf('command') + 1));
    } else {
      this.out.emit(n.subok(id, nItems, nFields));
    }
    this.out.emit(this.#confLine());
    hubs.forEach((hub, i) => {
      const item = new SubscribedItem(this, i + 1, hub, this.spec.deltas?.[i] ?? null);
      if (item.deltas !== null) hub.deltaConsumers++;
      this.#items.push(item);
      item.snapshot = this.#frozenSnapshot(item);
      hub.consumers.add(item);
    });
    this.#live = true;
    if (this.#items.some((item) => item.snapshot !== null)) this.out.hold(this);
  }

  /** LS_op=reconf: a new frequency limit, confirmed with CONF. */
  reconfigure(maxFrequency: number | null): void {
    this.#maxFrequency = this.spec.mode === 'MERGE' ? capFrequency(maxFrequency, this.spec.frequencyCap) : null;
    if (this.#live) this.out.emit(this.#confLine());
  }

  /** Stops consuming; the caller releases the hubs and writes UNSUB. */
  stop(): void {
    this.#closed = true;
    for (const item of this.#items) {
      item.hub.consumers.delete(item);
      if (item.deltas !== null) item.hub.deltaConsumers--;
      if (item.timer) clearTimeout(item.timer);
      this.#discardQueue(item);
      item.queue = null;
    }
  }

  onEvent(item: SubscribedItem, view: EventView): void {
    if (this.#closed) return;
    if (view.event.clear && this.spec.mode !== 'MERGE') {
      this.#clear(item);
      return;
    }
    const accepting = this.out.accepting();
    const behindSnapshot = item.snapshot !== null;
    if (this.spec.mode === 'MERGE' && !this.spec.unfiltered) {
      if (item.dirty || behindSnapshot || !accepting || this.#throttled(item)) {
        if (item.dirty) this.out.conflated(1);
        item.dirty = true;
        this.out.hold(this);
        return;
      }
    }
    // Held lines carry full values: one may be dropped on overflow, and a later delta would then
    // leave the client with a stale field.
    const held = item.queue !== null || behindSnapshot || !accepting;
    const inSync = item.clientSeq === view.previousSeq;
    // A clear leaves no field to be unchanged from: every MERGE field goes out (null). A client out
    // of step with the item's previous state gets every field where deltas may follow, so they can.
    const whole = held || !item.started || view.event.clear || (item.deltas !== null && !inSync);
    // The client holds the item as of this event after the line if it held it as of the previous
    // one, or if the line carries every field.
    const synced = whole || inSync;
    const line = this.#lineFor(item, view, whole, inSync);
    if (line === null) return;
    if (held) this.#enqueue(item, line, view.event.seq);
    else this.#send(item, line, synced ? view.event.seq : -1);
  }

  /**
   * Writes what was held (snapshots first), as far as the session accepts and `budget` allows;
   * returns true when nothing is left.
   */
  release(budget: WriteBudget): boolean {
    if (this.#closed) return true;
    let done = true;
    for (const item of this.#items) {
      if (!this.out.accepting() || budget.chars <= 0) return false;
      if (item.snapshot !== null && !this.#writeSnapshot(item, item.snapshot, budget)) return false;
      if (item.dirty) {
        if (this.#throttled(item)) {
          done = false;
          continue;
        }
        item.dirty = false;
        this.#spend(budget, this.#send(item, this.#conflatedLine(item), item.hub.state.seq));
      }
      if (item.queue !== null) {
        if (item.cleared) {
          item.cleared = false;
          this.#clearSent(item);
        }
        if (item.lost > 0) {
          if (!this.filtered || this.spec.mode === 'COMMAND') this.out.emit(n.ov(this.id, item.index, item.lost));
          item.lost = 0;
        }
        const queue = item.queue;
        while (queue.length > 0 && this.out.accepting() && budget.chars > 0) {
          const line = queue.shift()!;
          this.out.queued(-line.length);
          this.#spend(budget, this.#send(item, line));
        }
        if (queue.length > 0) return false;
        item.queue = null;
        item.clientSeq = item.queuedSeq;
      }
    }
    return done;
  }

  /**
   * The current values of a conflated MERGE item. Fields that allow deltas go out as deltas from
   * the values the client holds (the item's state as of `clientSeq`, kept by the hub only for the
   * current seq: so per subscribed item, `sentValues`).
   */
  #conflatedLine(item: SubscribedItem): string {
    const { schema } = this.spec;
    const merged = item.hub.state.merged;
    const { deltas, sentValues } = item;
    if (deltas === null || sentValues === null || item.clientSeq < 0) return n.update(this.id, item.index, fullValues(schema, merged));
    const values = schema.fields.map((f, i): UpdateValue | DeltaValue => {
      const value = f === FEED_POSITION_FIELD ? null : (merged?.[f] ?? null);
      const kinds = deltas[i];
      return (kinds && deltaOf(sentValues[i], value, kinds)) ?? value;
    });
    return n.update(this.id, item.index, encodeUpdateValues(values));
  }

  #lineFor(item: SubscribedItem, view: EventView, whole: boolean, inSync: boolean): string | null {
    const { schema, mode } = this.spec;
    if (mode === 'COMMAND') {
      const values = view.command(schema);
      return values === null ? null : n.update(this.id, item.index, values);
    }
    if (!whole && item.deltas !== null && inSync) return view.updateLineWithDeltas(schema, this.id, item.index, item.deltas);
    return view.updateLine(schema, this.id, item.index, whole);
  }

  #clear(item: SubscribedItem): void {
    if (this.spec.mode === 'RAW') return;
    // The rest of a snapshot still being written describes what the clear discards: only its EOS
    // is still owed, and the CS follows it.
    if (item.snapshot !== null) item.snapshot = { updates: [][Symbol.iterator](), endOfSnapshot: item.snapshot.endOfSnapshot };
    if (item.queue === null && item.snapshot === null && this.out.accepting()) {
      this.#clearSent(item);
      return;
    }
    // What is held describes the state the clear discards: only the CS is still owed.
    this.#discardQueue(item);
    item.queue = [];
    item.queuedSeq = -1;
    item.lost = 0;
    item.cleared = true;
    this.out.hold(this);
  }

  #clearSent(item: SubscribedItem): void {
    // The client's values of the item are gone with the CS: the next update carries every field.
    item.started = false;
    this.out.emit(n.cs(this.id, item.index));
  }

  /** Returns the line, for the caller's budget; `seq`: the item's state the client holds after it, if known. */
  #send(item: SubscribedItem, line: string, seq = -1): string {
    item.started = true;
    item.clientSeq = seq;
    // What the client holds of the fields that allow deltas, for a conflated update's deltas: the
    // item's state as of the line (MERGE: every field of the schema is in the merged state).
    if (item.deltas !== null) item.sentValues = seq >= 0 && this.spec.mode === 'MERGE' ? this.spec.schema.fields.map((f, i) => (item.deltas![i] ? (item.hub.state.merged?.[f] ?? null) : null)) : null;
    if (this.#maxFrequency !== null) item.lastSentAt = Date.now();
    this.out.emit(line);
    return line;
  }

  #spend(budget: WriteBudget, line: string): void {
    budget.chars -= line.length;
  }

  /**
   * A line's size is its length: O(1) on a path every held update takes, and exactly the bytes it
   * occupies for the ASCII text most feeds send (a one-byte string to V8).
   */
  #enqueue(item: SubscribedItem, line: string, seq: number): void {
    const queue = (item.queue ??= []);
    const bound = this.spec.bufferSize;
    // The item's own oldest lines make room first; when other items hold the session's budget (or
    // the line alone exceeds it), the new line is the one lost.
    while (queue.length >= bound || (queue.length > 0 && this.out.queueRoom() < line.length)) {
      this.out.queued(-queue.shift()!.length);
      this.#lost(item);
    }
    if (this.out.queueRoom() < line.length) this.#lost(item);
    else {
      queue.push(line);
      item.queuedSeq = seq;
      this.out.queued(line.length);
    }
    this.out.hold(this);
  }

  #lost(item: SubscribedItem): void {
    item.lost++;
    this.out.conflated(1);
  }

  #discardQueue(item: SubscribedItem): void {
    if (item.queue === null) return;
    let bytes = 0;
    for (const line of item.queue) bytes += line.length;
    this.out.queued(-bytes);
  }

  #throttled(item: SubscribedItem): boolean {
    if (this.#maxFrequency === null) return false;
    const wait = item.lastSentAt + 1000 / this.#maxFrequency - Date.now();
    if (wait <= 0) return false;
    if (!item.timer) {
      item.timer = setTimeout(() => {
        item.timer = null;
        this.out.hold(this);
      }, wait);
    }
    return true;
  }

  /** The item's snapshot as of now, to be written later; null when there is none to write. */
  #frozenSnapshot(item: SubscribedItem): PendingSnapshot | null {
    const { mode, snapshot } = this.spec;
    if (snapshot === false || mode === 'RAW') return null;
    if (mode === 'MERGE') {
      const merged = item.hub.frozenMerged();
      return merged === null ? null : { updates: this.#mergeSnapshot(item, merged), endOfSnapshot: false };
    }
    if (mode === 'DISTINCT') {
      const history = item.hub.frozenHistory();
      const from = typeof snapshot === 'number' ? Math.max(0, history.length - snapshot) : 0;
      return { updates: this.#distinctSnapshot(item, history, from), endOfSnapshot: true };
    }
    return { updates: this.#commandSnapshot(item, item.hub.frozenRows()), endOfSnapshot: true };
  }

  *#mergeSnapshot(item: SubscribedItem, merged: FieldValues): Generator<string> {
    yield n.update(this.id, item.index, fullValues(this.spec.schema, merged));
  }

  *#distinctSnapshot(item: SubscribedItem, history: readonly ItemEvent[], from: number): Generator<string> {
    const { schema } = this.spec;
    for (let i = from; i < history.length; i++) {
      const event = history[i];
      yield n.update(this.id, item.index, i > from ? deltaValues(schema, event) : fullValues(schema, event.fields, event.position));
    }
  }

  *#commandSnapshot(item: SubscribedItem, rows: readonly FieldValues[]): Generator<string> {
    const { fields } = this.spec.schema;
    // A snapshot shows every row as an ADD.
    for (const row of rows) yield n.update(this.id, item.index, encodeUpdateValues(fields.map((f) => (f === 'command' ? 'ADD' : (row[f] ?? null)))));
  }

  /** Writes the snapshot's next lines; returns true once it is all out (its EOS included). */
  #writeSnapshot(item: SubscribedItem, snapshot: PendingSnapshot, budget: WriteBudget): boolean {
    while (this.out.accepting() && budget.chars > 0) {
      const next = snapshot.updates.next();
      if (next.done) {
        if (snapshot.endOfSnapshot) this.out.emit(n.eos(this.id, item.index));
        item.snapshot = null;
        return true;
      }
      this.#spend(budget, this.#send(item, next.value));
    }
    return false;
  }

  #confLine(): string {
    return n.conf(this.id, this.#maxFrequency ?? 'unlimited', this.filtered);
  }
}
