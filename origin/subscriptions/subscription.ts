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
 */
import type { SubscriptionMode } from '../adapters/adapter.ts';
import * as n from '../../protocol/notifications.ts';
import { encodeUpdateValues } from '../../protocol/update-line.ts';
import { fullValues, type EventView, type ItemConsumer, type ItemHub, type Schema } from './item-hub.ts';

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

export interface SubscriptionSpec {
  readonly id: number;
  readonly mode: SubscriptionMode;
  readonly schema: Schema;
  /** LS_snapshot: true, false, or a DISTINCT length. */
  readonly snapshot: boolean | number;
  /** Updates per second per item; null = unlimited. MERGE only. */
  readonly maxFrequency: number | null;
  readonly unfiltered: boolean;
  /** Queue length per item while held; modes other than conflated MERGE. */
  readonly bufferSize: number;
}

/** Held queue bound when the client asks for `unlimited`: memory stays bounded all the same. */
export const MAX_BUFFER = 1000;
export const DEFAULT_BUFFER = 100;

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

  constructor(
    readonly sub: Subscription,
    readonly index: number,
    readonly hub: ItemHub,
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
   * Writes SUBOK/SUBCMD, CONF and the snapshots, and starts consuming live events, all in one
   * synchronous step so nothing falls between snapshot and live data.
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
      const item = new SubscribedItem(this, i + 1, hub);
      this.#items.push(item);
      this.#snapshot(item);
      hub.consumers.add(item);
    });
    this.#live = true;
  }

  /** LS_op=reconf: a new frequency limit, confirmed with CONF. */
  reconfigure(maxFrequency: number | null): void {
    this.#maxFrequency = this.spec.mode === 'MERGE' ? maxFrequency : null;
    if (this.#live) this.out.emit(this.#confLine());
  }

  /** Stops consuming; the caller releases the hubs and writes UNSUB. */
  stop(): void {
    this.#closed = true;
    for (const item of this.#items) {
      item.hub.consumers.delete(item);
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
    if (this.spec.mode === 'MERGE' && !this.spec.unfiltered) {
      if (item.dirty || !accepting || this.#throttled(item)) {
        if (item.dirty) this.out.conflated(1);
        item.dirty = true;
        this.out.hold(this);
        return;
      }
    }
    // Held lines carry full values: one may be dropped on overflow, and a later delta would then
    // leave the client with a stale field.
    const held = item.queue !== null || !accepting;
    const line = this.#lineFor(item, view, held);
    if (line === null) return;
    if (held) this.#enqueue(item, line);
    else this.#send(item, line);
  }

  /** Writes what was held, as far as the session accepts; returns true when nothing is left. */
  release(): boolean {
    if (this.#closed) return true;
    let done = true;
    for (const item of this.#items) {
      if (!this.out.accepting()) return false;
      if (item.dirty) {
        if (this.#throttled(item)) {
          done = false;
          continue;
        }
        item.dirty = false;
        this.#send(item, n.update(this.id, item.index, fullValues(this.spec.schema, item.hub.state.merged)));
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
        while (queue.length > 0 && this.out.accepting()) {
          const line = queue.shift()!;
          this.out.queued(-line.length);
          this.#send(item, line);
        }
        if (queue.length > 0) return false;
        item.queue = null;
      }
    }
    return done;
  }

  #lineFor(item: SubscribedItem, view: EventView, full: boolean): string | null {
    const { schema, mode } = this.spec;
    if (mode === 'COMMAND') {
      const values = view.command(schema);
      return values === null ? null : n.update(this.id, item.index, values);
    }
    // A clear leaves no field to be unchanged from: every MERGE field goes out (null).
    return view.updateLine(schema, this.id, item.index, !item.started || full || view.event.clear);
  }

  #clear(item: SubscribedItem): void {
    if (this.spec.mode === 'RAW') return;
    if (item.queue === null && this.out.accepting()) {
      this.#clearSent(item);
      return;
    }
    // What is held describes the state the clear discards: only the CS is still owed.
    this.#discardQueue(item);
    item.queue = [];
    item.lost = 0;
    item.cleared = true;
    this.out.hold(this);
  }

  #clearSent(item: SubscribedItem): void {
    // The client's values of the item are gone with the CS: the next update carries every field.
    item.started = false;
    this.out.emit(n.cs(this.id, item.index));
  }

  #send(item: SubscribedItem, line: string): void {
    item.started = true;
    if (this.#maxFrequency !== null) item.lastSentAt = Date.now();
    this.out.emit(line);
  }

  /**
   * A line's size is its length: O(1) on a path every held update takes, and exactly the bytes it
   * occupies for the ASCII text most feeds send (a one-byte string to V8).
   */
  #enqueue(item: SubscribedItem, line: string): void {
    const queue = (item.queue ??= []);
    const bound = Math.min(this.spec.bufferSize, MAX_BUFFER);
    // The item's own oldest lines make room first; when other items hold the session's budget (or
    // the line alone exceeds it), the new line is the one lost.
    while (queue.length >= bound || (queue.length > 0 && this.out.queueRoom() < line.length)) {
      this.out.queued(-queue.shift()!.length);
      this.#lost(item);
    }
    if (this.out.queueRoom() < line.length) this.#lost(item);
    else {
      queue.push(line);
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

  #snapshot(item: SubscribedItem): void {
    const { mode, schema, snapshot } = this.spec;
    if (snapshot === false || mode === 'RAW') return;
    const state = item.hub.state;
    if (mode === 'MERGE') {
      if (state.merged) this.#send(item, n.update(this.id, item.index, fullValues(schema, state.merged)));
      return;
    }
    if (mode === 'DISTINCT') {
      let history = state.snapshot().history;
      if (typeof snapshot === 'number') history = history.slice(-snapshot);
      let previous: Readonly<Record<string, string | null>> | null = null;
      for (const event of history) {
        const values = previous
          ? encodeUpdateValues(schema.fields.map((f) => (f in event.fields ? event.fields[f] : undefined)))
          : fullValues(schema, event.fields);
        previous = event.fields;
        this.#send(item, n.update(this.id, item.index, values));
      }
    } else {
      for (const row of state.rows.values()) this.#send(item, n.update(this.id, item.index, fullValues(schema, { ...row, command: 'ADD' })));
    }
    this.out.emit(n.eos(this.id, item.index));
  }

  #confLine(): string {
    return n.conf(this.id, this.#maxFrequency ?? 'unlimited', this.filtered);
  }
}
