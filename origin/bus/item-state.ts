/**
 * Folding of one item's events into the state any shard needs to serve a first subscription
 * (see ItemSnapshot). Both buses keep one of these per item they hold, so MERGE values, DISTINCT
 * history and COMMAND rows follow the same rules whether the feed is local or shared over Redis.
 */
import type { Logger } from 'pino';
import type { FieldValues, ItemEvent, ItemSnapshot } from './bus.ts';

/** COMMAND mode fields, as Lightstreamer names them. */
export const KEY_FIELD = 'key';
export const COMMAND_FIELD = 'command';
export type RowCommand = 'ADD' | 'UPDATE' | 'DELETE';

export function rowCommandOf(fields: FieldValues): { key: string; command: RowCommand } | null {
  const key = fields[KEY_FIELD];
  const command = fields[COMMAND_FIELD];
  if (typeof key !== 'string') return null;
  if (command !== 'ADD' && command !== 'UPDATE' && command !== 'DELETE') return null;
  return { key, command };
}

export class ItemState {
  #seq = 0;
  #merged: Record<string, string | null> | null = null;
  // Trimmed lazily to `historySize` once it doubles, so a fold is O(fields), not O(history).
  #history: ItemEvent[] = [];
  #rows = new Map<string, FieldValues>();

  constructor(
    readonly item: string,
    readonly historySize: number,
  ) {}

  /** Rebuilds the state a snapshot describes (a snapshot read from a shared store). */
  static fromSnapshot(snapshot: ItemSnapshot, historySize: number): ItemState {
    const state = new ItemState(snapshot.item, historySize);
    state.#seq = snapshot.seq;
    state.#merged = snapshot.merged ? Object.assign(Object.create(null), snapshot.merged) : null;
    // A shared history may start with the clear that emptied the item; it is no DISTINCT snapshot.
    const history = snapshot.history.slice(snapshot.history.findLastIndex((event) => event.clear) + 1);
    state.#history = historySize > 0 ? history.slice(-historySize) : [];
    state.#rows = new Map(snapshot.rows);
    return state;
  }

  get seq(): number {
    return this.#seq;
  }

  /** Current merged values (live view: copy before keeping it). */
  get merged(): FieldValues | null {
    return this.#merged;
  }

  /** Current COMMAND rows (live view: copy before keeping it). */
  get rows(): ReadonlyMap<string, FieldValues> {
    return this.#rows;
  }

  /** Folds the next event in; callers deliver events in seq order. */
  apply(event: ItemEvent): void {
    this.#seq = event.seq;
    if (event.clear) {
      this.#merged = null;
      this.#history = [];
      this.#rows.clear();
      return;
    }
    // Null prototype: field names are data (a feed may well name one `__proto__`).
    const merged = (this.#merged ??= Object.create(null) as Record<string, string | null>);
    for (const [name, value] of Object.entries(event.fields)) merged[name] = value;

    if (this.historySize > 0) {
      this.#history.push(event);
      if (this.#history.length >= this.historySize * 2) this.#history = this.recentHistory();
    }

    const row = rowCommandOf(event.fields);
    if (!row) return;
    if (row.command === 'DELETE') {
      this.#rows.delete(row.key);
    } else {
      // Map.set on an existing key keeps its insertion position: rows stay in ADD order.
      // A row is presented as ADD because that is how a snapshot shows it.
      this.#rows.set(
        row.key,
        fieldValues({ ...this.#rows.get(row.key), ...event.fields, [COMMAND_FIELD]: 'ADD' }),
      );
    }
  }

  snapshot(): ItemSnapshot {
    return {
      item: this.item,
      seq: this.#seq,
      merged: this.#merged ? fieldValues(this.#merged) : null,
      history: this.recentHistory(),
      rows: new Map(this.#rows),
    };
  }

  /** The last `historySize` events, oldest first: a copy. */
  recentHistory(): ItemEvent[] {
    return this.#history.length > this.historySize
      ? this.#history.slice(this.#history.length - this.historySize)
      : this.#history.slice();
  }
}

/**
 * Hands an item's next event to its watchers. A copy is walked, so a watcher added meanwhile (its
 * snapshot already holds this event) is skipped, and one closed meanwhile gets nothing more; a
 * failing watcher keeps the event from no other.
 */
export function notifyWatchers(
  watchers: ReadonlySet<(event: ItemEvent) => void>,
  event: ItemEvent,
  logger: Logger | undefined,
): void {
  for (const watcher of [...watchers]) {
    if (!watchers.has(watcher)) continue;
    try {
      watcher(event);
    } catch (err) {
      logger?.error({ err, item: event.item }, 'bus watcher failed');
    }
  }
}

/** An immutable event: watchers, history and snapshots share the same object. */
export function freezeEvent(item: string, seq: number, fields: FieldValues, position?: string): ItemEvent {
  return Object.freeze({ item, seq, fields: fieldValues(fields), clear: false, position });
}

const NO_FIELDS: FieldValues = fieldValues({});

export function freezeClearEvent(item: string, seq: number): ItemEvent {
  return Object.freeze({ item, seq, fields: NO_FIELDS, clear: true });
}

/**
 * Field values as the bus hands them out: frozen, and without a prototype, so a lookup of a field
 * an update does not carry (`fields.constructor`, `'toString' in fields`) finds nothing.
 */
export function fieldValues(values: FieldValues): FieldValues {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string | null>, values));
}
