/**
 * One bus watch per item per origin, shared by every subscription to that item (refcounted), with
 * the item's folded state for late joiners' snapshots and a per-event encoding cache: the `U` value
 * list of an update is computed once per distinct schema, not once per session.
 */
import type { Logger } from 'pino';
import type { Bus, FieldValues, ItemEvent, ItemWatch } from '../bus/bus.ts';
import { ItemState, fieldValues, rowCommandOf } from '../bus/item-state.ts';
import type { Telemetry } from '../telemetry.ts';
import type { DataAdapter } from '../adapters/adapter.ts';
import { ItemFeed } from './item-feed.ts';
import * as n from '../../protocol/notifications.ts';
import { encodeUpdateValues, type DeltaValue, type UpdateValue } from '../../protocol/update-line.ts';
import { FEED_POSITION_FIELD } from '../../protocol/feed-position.ts';
import { encodeJsonPatch } from '../../protocol/json-patch.ts';
import { encodeTlcpDiff } from '../../protocol/tlcp-diff.ts';

/**
 * An item as a subscription names it: its name in the bus and, for an on-demand data adapter, the
 * adapter and its own name of the item, whose upstream the hub keeps while it lives.
 */
export interface ItemRef {
  readonly busItem: string;
  readonly feed?: { readonly adapter: DataAdapter; readonly item: string };
}

/** A subscribed item of one subscription; the hub calls it for every event, in seq order. */
export interface ItemConsumer {
  onEvent(view: EventView): void;
}

/** Field list of a subscription plus its cache key (the space-joined names). */
export interface Schema {
  readonly key: string;
  readonly fields: readonly string[];
}

export function schemaOf(fields: readonly string[]): Schema {
  return { key: fields.join(' '), fields };
}

/** A delta format of TLCP: JSON Patch (`^P`) or TLCP-diff (`^T`). */
export type DeltaKind = DeltaValue['patch'];

/**
 * Per schema field of one subscribed item, the delta formats its values may be sent in, in the
 * order to try them (null: always whole). From the data adapter's diffOrder, within what the client
 * accepts.
 */
export type FieldDeltas = ReadonlyArray<readonly DeltaKind[] | null>;

/**
 * The item's state as of one seq, copied once for every subscription that starts at that seq (a
 * group may name one item thousands of times): each part is copied on first use.
 */
interface FrozenState {
  readonly seq: number;
  merged?: FieldValues | null;
  history?: readonly ItemEvent[];
  rows?: readonly FieldValues[];
}

export class ItemHub {
  readonly consumers = new Set<ItemConsumer>();
  refs = 0;
  /**
   * Consumers that may send deltas: while there are any, each event keeps the values it replaces
   * (a delta is computed from them). Zero on the common path, which then copies nothing.
   */
  deltaConsumers = 0;
  #state: ItemState | null = null;
  #watch: ItemWatch | null = null;
  #frozen: FrozenState | null = null;
  /** Aborted when the hub closes: a watch still loading is given up. */
  readonly #closing = new AbortController();
  readonly #feed: ItemFeed | null;
  readonly ready: Promise<void>;

  constructor(
    readonly item: string,
    bus: Bus,
    private readonly telemetry: Telemetry,
    private readonly logger: Logger,
    source?: ItemRef['feed'],
  ) {
    this.#feed = source ? new ItemFeed(item, source.item, source.adapter, bus, telemetry, logger) : null;
    // Events may arrive before `watch` resolves (the embedded bus registers synchronously); they are
    // held and replayed past the snapshot so the state never misses or repeats one.
    const early: ItemEvent[] = [];
    // After the feed settled: a first subscriber's snapshot is then the adapter's.
    this.ready = (this.#feed?.settled ?? Promise.resolve())
      .then(() => {
        if (this.#closing.signal.aborted) throw new Error('item released');
        return bus.watch(item, (event) => (this.#state ? this.#dispatch(event) : early.push(event)), { signal: this.#closing.signal });
      })
      .then((watch) => {
        this.#watch = watch;
        // The bus's own bound: a shard's DISTINCT snapshots match what the bus shares with late shards.
        this.#state = ItemState.fromSnapshot(watch.snapshot, bus.historySize);
        for (const event of early) if (event.seq > this.#state.seq) this.#dispatch(event);
        if (this.refs === 0) this.close();
      });
  }

  get state(): ItemState {
    if (!this.#state) throw new Error(`item ${this.item} is not ready`);
    return this.#state;
  }

  /** The merged values now, for a MERGE snapshot; they stay as they are whatever comes next. */
  frozenMerged(): FieldValues | null {
    const frozen = this.#frozenState();
    if (frozen.merged === undefined) frozen.merged = this.state.merged && fieldValues(this.state.merged);
    return frozen.merged;
  }

  /** The recent events now, oldest first, for a DISTINCT snapshot. */
  frozenHistory(): readonly ItemEvent[] {
    const frozen = this.#frozenState();
    frozen.history ??= this.state.recentHistory();
    return frozen.history;
  }

  /** The COMMAND rows now, in ADD order, for a COMMAND snapshot. */
  frozenRows(): readonly FieldValues[] {
    const frozen = this.#frozenState();
    frozen.rows ??= [...this.state.rows.values()];
    return frozen.rows;
  }

  close(): void {
    this.#closing.abort();
    this.#feed?.close();
    this.#watch?.close();
    this.#watch = null;
  }

  #frozenState(): FrozenState {
    const { seq } = this.state;
    if (this.#frozen?.seq !== seq) this.#frozen = { seq };
    return this.#frozen;
  }

  #dispatch(event: ItemEvent): void {
    const state = this.#state!;
    if (event.seq <= state.seq) return;
    const row = rowCommandOf(event.fields);
    const rowExisted = row !== null && state.rows.has(row.key);
    const previousSeq = state.seq;
    const replaced = this.deltaConsumers > 0 ? replacedValues(state.merged, event.fields) : null;
    state.apply(event);
    this.telemetry.itemEvents++;
    if (this.consumers.size === 0) return;
    const view = new EventView(event, state, rowExisted, previousSeq, replaced);
    for (const consumer of this.consumers) {
      try {
        consumer.onEvent(view);
      } catch (err) {
        // One broken subscription must not starve the others of the item.
        this.logger.error({ err, item: this.item }, 'subscription failed on an update');
      }
    }
  }
}

/**
 * One event as every consumer sees it, with memoised encodings per schema. Lives for one dispatch
 * only, so the caches need no invalidation.
 */
export class EventView {
  #delta: Map<string, string> | null = null;
  #full: Map<string, string> | null = null;
  #command: Map<string, string | null> | null = null;
  #lines: Map<string, Map<number, string>> | null = null;
  #fieldDeltas: Map<string, DeltaValue | null> | null = null;

  constructor(
    readonly event: ItemEvent,
    private readonly state: ItemState,
    private readonly rowExisted: boolean,
    /** The item's seq before this event: a client holding the state as of it may be sent deltas. */
    readonly previousSeq: number,
    /** The values this event replaced, kept only while some consumer may send deltas. */
    private readonly replaced: FieldValues | null,
  ) {}

  /**
   * The `U` line of a subscribed item whose fields may go out as deltas, for a client holding the
   * item as of `previousSeq`: changed fields as their first delta that is shorter than the value,
   * else whole; the others unchanged.
   */
  updateLineWithDeltas(schema: Schema, subId: number, item: number, deltas: FieldDeltas): string {
    const fields = this.event.fields;
    const values = schema.fields.map((f, i): UpdateValue | DeltaValue => {
      if (f === FEED_POSITION_FIELD) return this.event.position ?? null;
      if (!(f in fields)) return undefined;
      const kinds = deltas[i];
      return (kinds && this.#fieldDelta(f, kinds)) ?? fields[f];
    });
    return n.update(subId, item, encodeUpdateValues(values));
  }

  /** The delta of one field, computed once per event whatever the number of sessions. */
  #fieldDelta(field: string, kinds: readonly DeltaKind[]): DeltaValue | null {
    this.#fieldDeltas ??= new Map();
    const key = `${kinds.join(',')}\n${field}`;
    let delta = this.#fieldDeltas.get(key);
    if (delta === undefined) {
      delta = deltaOf(this.replaced?.[field], this.event.fields[field], kinds);
      this.#fieldDeltas.set(key, delta);
    }
    return delta;
  }

  /**
   * The whole `U` line for one subscription item. Sessions' subscription ids mostly coincide (each
   * client numbers from 1), so most sessions get the very same string object, which lets the
   * transport reuse its encoded bytes too.
   */
  updateLine(schema: Schema, subId: number, item: number, full: boolean): string {
    this.#lines ??= new Map();
    let bySchema = this.#lines.get(schema.key);
    if (!bySchema) {
      bySchema = new Map();
      this.#lines.set(schema.key, bySchema);
    }
    // Exact in a double: subscription ids stay far below 2^31, item positions below 2^20.
    const key = (subId * 0x100000 + item) * 2 + (full ? 1 : 0);
    let line = bySchema.get(key);
    if (line === undefined) {
      line = n.update(subId, item, full ? this.full(schema) : this.delta(schema));
      bySchema.set(key, line);
    }
    return line;
  }

  /** Changed fields of the event, the others unchanged. */
  delta(schema: Schema): string {
    this.#delta ??= new Map();
    let s = this.#delta.get(schema.key);
    if (s === undefined) {
      s = deltaValues(schema, this.event);
      this.#delta.set(schema.key, s);
    }
    return s;
  }

  /** Every field's current value: the first update of an item, or one after conflation. */
  full(schema: Schema): string {
    this.#full ??= new Map();
    let s = this.#full.get(schema.key);
    if (s === undefined) {
      s = fullValues(schema, this.state.merged, this.event.position);
      this.#full.set(schema.key, s);
    }
    return s;
  }

  /**
   * The COMMAND row update, always with every field (the client keeps values per key, so markers
   * relative to the item's previous update would be wrong). An UPDATE of an unknown key is an ADD;
   * a DELETE of an unknown key, or an event that is no row command, is nothing (null).
   */
  command(schema: Schema): string | null {
    this.#command ??= new Map();
    let s = this.#command.get(schema.key);
    if (s === undefined) {
      s = commandValues(schema, this.event, this.state, this.rowExisted);
      this.#command.set(schema.key, s);
    }
    return s;
  }
}

/**
 * Every field's value; FEED_POSITION_FIELD, which an upstream session layer may ask for, is the
 * event's position in the shared feed (never a publisher's field of that name).
 */
export function fullValues(schema: Schema, values: Readonly<Record<string, string | null>> | null, position?: string): string {
  return encodeUpdateValues(schema.fields.map((f) => (f === FEED_POSITION_FIELD ? (position ?? null) : (values?.[f] ?? null))));
}

/** `to` as the first delta from `from` in `kinds` shorter than `to` itself; null: send it whole. */
export function deltaOf(from: string | null | undefined, to: string | null | undefined, kinds: readonly DeltaKind[]): DeltaValue | null {
  if (typeof from !== 'string' || typeof to !== 'string' || from === '' || to === '') return null;
  for (const patch of kinds) {
    const text = patch === 'json' ? encodeJsonPatch(from, to) : encodeTlcpDiff(from, to);
    // The marker makes a delta two characters longer than its text.
    if (text !== null && text.length + 2 < to.length) return { patch, text };
  }
  return null;
}

/** The values of `merged` that `fields` replace (fields new to the item are absent). */
function replacedValues(merged: FieldValues | null, fields: FieldValues): FieldValues | null {
  if (merged === null) return null;
  const replaced: Record<string, string | null> = {};
  for (const f in fields) if (f in merged) replaced[f] = merged[f];
  return replaced;
}

/** The fields an event changes, the others unchanged; its position always (see fullValues). */
export function deltaValues(schema: Schema, event: ItemEvent): string {
  const fields = event.fields;
  return encodeUpdateValues(schema.fields.map((f): UpdateValue => (f === FEED_POSITION_FIELD ? (event.position ?? null) : f in fields ? fields[f] : undefined)));
}

function commandValues(schema: Schema, event: ItemEvent, state: ItemState, rowExisted: boolean): string | null {
  const row = rowCommandOf(event.fields);
  if (!row) return null;
  if (row.command === 'DELETE') {
    if (!rowExisted) return null;
    return encodeUpdateValues(schema.fields.map((f) => (f === 'key' ? row.key : f === 'command' ? 'DELETE' : null)));
  }
  const current = state.rows.get(row.key) ?? event.fields;
  const command = rowExisted ? 'UPDATE' : 'ADD';
  return encodeUpdateValues(schema.fields.map((f) => (f === 'command' ? command : (current[f] ?? null))));
}

/** The hubs of one origin, created on first subscription and closed with the last. */
export class ItemHubs {
  readonly #hubs = new Map<string, ItemHub>();

  constructor(
    private readonly bus: Bus,
    private readonly telemetry: Telemetry,
    private readonly logger: Logger,
  ) {}

  /**
   * Takes a reference on the hub of each item (items may repeat) and resolves once they all hold
   * their state. Past `timeoutMs` (the shared bus unreachable or hung) it gives every reference
   * back and rejects, so a client gets its answer in bounded time and loads nobody waits for any
   * more are abandoned rather than left pending.
   */
  async acquireAll(items: ReadonlyArray<string | ItemRef>, timeoutMs: number): Promise<ItemHub[]> {
    const hubs = items.map((item) => (typeof item === 'string' ? this.#take({ busItem: item }) : this.#take(item)));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const { connected } = this.bus.status();
        reject(new Error(`not loaded within ${timeoutMs} ms${connected ? '' : ': the shared bus is unreachable'}`));
      }, timeoutMs);
    });
    try {
      await Promise.race([Promise.all([...new Set(hubs)].map((hub) => hub.ready)), deadline]);
    } catch (err) {
      for (const hub of hubs) this.release(hub);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return hubs;
  }

  #take({ busItem: item, feed }: ItemRef): ItemHub {
    let hub = this.#hubs.get(item);
    if (!hub) {
      hub = new ItemHub(item, this.bus, this.telemetry, this.logger, feed);
      this.#hubs.set(item, hub);
      this.telemetry.items = this.#hubs.size;
      const created = hub;
      created.ready.catch(() => {
        if (this.#hubs.get(item) === created) this.#hubs.delete(item);
        this.telemetry.items = this.#hubs.size;
      });
    }
    hub.refs++;
    return hub;
  }

  release(hub: ItemHub): void {
    if (--hub.refs > 0) return;
    if (this.#hubs.get(hub.item) === hub) this.#hubs.delete(hub.item);
    this.telemetry.items = this.#hubs.size;
    hub.close();
  }
}
