/**
 * The origin's data path. Feeds publish item updates into a bus; the origin watches the items its
 * sessions subscribe to. Two implementations: an embedded one (one process, nothing installed) and
 * Redis (shards on many machines share one feed).
 *
 * Guarantees every implementation gives:
 * - per item, events carry consecutive sequence numbers starting at 1 and reach every watcher once
 *   and in order;
 * - `watch` returns a snapshot and then delivers exactly the events with seq > snapshot.seq, so a
 *   watcher never sees a gap or a duplicate between snapshot and live data.
 */

/** Field values of one update. `null` is a null value; an absent field is unchanged. */
export type FieldValues = Readonly<Record<string, string | null>>;

export interface ItemEvent {
  readonly item: string;
  readonly seq: number;
  readonly fields: FieldValues;
  /**
   * A clear-snapshot event (its `fields` are empty): the item's merged values, history and rows are
   * gone. DISTINCT and COMMAND subscribers are told with `CS`, MERGE ones get every field null.
   */
  readonly clear: boolean;
  /**
   * Its position in a feed shared by several origins (protocol/feed-position.ts), the same on every
   * shard; absent where there is none (the embedded bus, or an event synthesised to repair a gap).
   */
  readonly position?: string;
}

/**
 * What any shard needs to serve a first subscription to an item in any mode:
 * MERGE uses `merged`, DISTINCT uses `history`, COMMAND uses `rows` (keyed by the `key` field,
 * maintained from events that carry `command` ADD/UPDATE/DELETE).
 */
export interface ItemSnapshot {
  readonly item: string;
  /** seq of the last event folded into this snapshot; 0 when the item never had an event. */
  readonly seq: number;
  readonly merged: FieldValues | null;
  /** Most recent events, oldest first, bounded by the bus's history size. */
  readonly history: readonly ItemEvent[];
  /** COMMAND row set in insertion order: key → current field values of the row. */
  readonly rows: ReadonlyMap<string, FieldValues>;
}

export interface BusStatus {
  readonly kind: 'embedded' | 'redis';
  /** false while the shared store is unreachable: existing sessions keep what they hold. */
  readonly connected: boolean;
  readonly detail?: string;
}

export interface ItemWatch {
  readonly snapshot: ItemSnapshot;
  close(): void;
}

export interface ExclusiveOptions {
  readonly onWaiting?: () => void;
}

export interface Bus {
  /** Events kept per item for DISTINCT snapshots: a watcher's local copy keeps as many. */
  readonly historySize: number;
  /** Publishes one update; resolves with the sequence number it got. */
  publish(item: string, fields: FieldValues): Promise<number>;
  /** Publishes a clear-snapshot event (see ItemEvent.clear); resolves with its sequence number. */
  clear(item: string): Promise<number>;
  /**
   * Compare-and-set publish for read-modify-write feeds that any shard may drive (portfolio orders):
   * publishes only while the item's last seq is still `expectedSeq`; resolves with the new seq, or
   * null when another publisher got there first (re-read and retry).
   */
  publishIf(item: string, expectedSeq: number, fields: FieldValues): Promise<number | null>;
  /**
   * Starts delivering `item`'s events after the returned snapshot. Without a signal it waits as
   * long as the item's state takes to load (Redis away: until it is back); an aborted signal makes
   * it give up, leaving nothing behind, and reject with BusUnavailableError.
   */
  watch(item: string, onEvent: (event: ItemEvent) => void, options?: { readonly signal?: AbortSignal }): Promise<ItemWatch>;
  /**
   * Runs `task` on exactly one process of the cluster at a time (the demo feed runs once, not once
   * per shard). Returns a function that stops taking part. `onWaiting` hears each try that found
   * another holder.
   */
  runExclusive(name: string, task: (signal: AbortSignal) => void, options?: ExclusiveOptions): () => void;
  status(): BusStatus;
  close(): Promise<void>;
}

/**
 * Publishing is impossible right now (the shared store is unreachable); nothing was published.
 * The publish API answers 503 with it; feeds skip the update.
 */
export class BusUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusUnavailableError';
  }
}
