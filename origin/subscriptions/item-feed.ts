/**
 * The upstream of one item of an on-demand data adapter on this shard: the adapter's subscription to
 * the item, whose updates go into the bus (and from there to every shard's sessions).
 *
 * One feed per item per shard, however many sessions watch it (the item's hub holds it). Several
 * shards may run the same adapter (each with its own remote adapter, say): they would all publish
 * the same updates, so the item is led by one shard at a time, the holder of a cluster-wide lease
 * (`bus.runExclusive`, a Redis lock with the shared bus). Only the leader subscribes upstream and
 * publishes; the others wait, and one of them takes over when the leader lets go (its last session
 * left, its adapter went away) or dies (the lock expires).
 *
 * The adapter's snapshot: when a feed leads an item nobody was leading (its first try won the lease),
 * whatever the bus still holds of the item is stale, so the item is cleared before the snapshot goes
 * out and the snapshot becomes the item's state. When it takes over from another leader, or leads
 * again after its adapter came back, the item is live already: the adapter's `eventsRecovery` says
 * what to do with the snapshot (Lightstreamer's `events_recovery`).
 *
 * A session's subscription waits for the feed to settle (its snapshot out, or another shard
 * leading), so a first subscriber gets the adapter's snapshot as its snapshot; bounded, so an adapter
 * that never ends its snapshot costs a wait, not a hang.
 */
import type { Logger } from 'pino';
import type { DataAdapter, EventsRecovery, ItemListener } from '../adapters/adapter.ts';
import type { Bus, FieldValues } from '../bus/bus.ts';
import type { Telemetry } from '../telemetry.ts';

/** The longest a subscription waits for a feed's snapshot before it is served what the bus holds. */
const SETTLE_TIMEOUT_MS = 3_000;

type Leading = 'fresh' | EventsRecovery;

export class ItemFeed {
  /** Bumped by every lead and every loss of it: callbacks of an older subscription are ignored. */
  #generation = 0;
  #leaveLease: (() => void) | null = null;
  #stopWatchingAvailability: (() => void) | null = null;
  /** Led the item before, or found it led by another shard: later leads are recoveries. */
  #recovering = false;
  #closed = false;
  #publishing: Promise<unknown> = Promise.resolve();
  #settle!: () => void;
  readonly settled: Promise<void>;

  constructor(
    readonly busItem: string,
    readonly item: string,
    private readonly adapter: DataAdapter,
    private readonly bus: Bus,
    private readonly telemetry: Telemetry,
    private readonly logger: Logger,
  ) {
    this.settled = new Promise<void>((resolve) => {
      this.#settle = resolve;
    });
    setTimeout(() => this.#settle(), SETTLE_TIMEOUT_MS).unref();
    const availability = adapter.availability?.covers?.(item) === false ? undefined : adapter.availability;
    if (availability) {
      this.#stopWatchingAvailability = availability.onChange((available) => (available ? this.#join() : this.#leave()));
      if (!availability.available) {
        // Nothing to wait for: sessions get what the bus holds until the adapter is back.
        this.#settle();
        return;
      }
    }
    this.#join();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWatchingAvailability?.();
    this.#leave();
    this.#settle();
  }

  #join(): void {
    if (this.#closed || this.#leaveLease) return;
    this.#leaveLease = this.bus.runExclusive(`feed:${this.busItem}`, (signal) => void this.#lead(signal), {
      onWaiting: () => {
        this.#recovering = true;
        this.#settle();
      },
    });
  }

  #leave(): void {
    const leave = this.#leaveLease;
    this.#leaveLease = null;
    // Aborts a lead in progress, which unsubscribes upstream.
    leave?.();
  }

  async #lead(signal: AbortSignal): Promise<void> {
    const generation = ++this.#generation;
    const leading: Leading = this.#recovering ? (this.adapter.eventsRecovery ?? 'use_snapshot') : 'fresh';
    this.#recovering = true;
    const current = () => generation === this.#generation && !signal.aborted;
    let inSnapshot = true;
    let cleared = false;
    const endSnapshot = () => {
      if (!inSnapshot) return;
      inSnapshot = false;
      // Settled once what was published so far is in the bus.
      void this.#publishing.then(() => this.#settle());
    };
    const listener: ItemListener = {
      update: (fields, isSnapshot) => {
        if (!current()) return;
        if (isSnapshot && inSnapshot) {
          if (leading === 'leave_hole') return;
          if ((leading === 'fresh' || leading === 'enforce_snapshot') && !cleared) {
            cleared = true;
            this.#publish(null);
          }
        } else if (!isSnapshot) {
          endSnapshot();
        }
        this.#publish(fields);
      },
      endOfSnapshot: () => {
        if (current()) endSnapshot();
      },
      clearSnapshot: () => {
        if (current()) this.#publish(null);
      },
    };
    this.logger.debug({ item: this.item, adapter: this.adapter.name, leading }, 'subscribing upstream');
    try {
      await this.adapter.subscribe!(this.item, listener);
    } catch (err) {
      this.logger.warn({ err, item: this.item, adapter: this.adapter.name }, 'data adapter refused an item');
      this.telemetry.error('adapter', `${this.adapter.name} refused ${this.item}: ${(err as Error).message}`);
      if (current()) this.#generation++;
      this.#settle();
      return;
    }
    const unsubscribe = () => {
      if (generation === this.#generation) this.#generation++;
      Promise.resolve()
        .then(() => this.adapter.unsubscribe?.(this.item))
        .catch((err: unknown) => this.logger.warn({ err, item: this.item, adapter: this.adapter.name }, 'data adapter failed to unsubscribe'));
    };
    if (signal.aborted) {
      unsubscribe();
      return;
    }
    signal.addEventListener('abort', unsubscribe, { once: true });
    if (this.adapter.isSnapshotAvailable && !this.adapter.isSnapshotAvailable(this.item)) endSnapshot();
  }

  /** Publishes in order (null: a clear); a bus that is away loses the update, which is logged. */
  #publish(fields: FieldValues | null): void {
    this.telemetry.adapterUpdates++;
    this.#publishing = this.#publishing
      .then(() => (fields === null ? this.bus.clear(this.busItem) : this.bus.publish(this.busItem, fields)))
      .catch((err: unknown) => {
        this.telemetry.adapterUpdatesLost++;
        this.logger.warn({ err: (err as Error).message, item: this.item, adapter: this.adapter.name }, 'adapter update not published');
      });
  }
}
