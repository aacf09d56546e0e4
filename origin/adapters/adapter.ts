/**
 * Adapter interface, in the spirit of Lightstreamer's Metadata/Data adapter split.
 *
 * The metadata side decides who may connect, what a group or schema name means and what a client
 * message does. The data side says which items exist and produces their updates into the bus, from
 * which the origin serves snapshots and live data.
 */
import type { Bus, FieldValues } from '../bus/bus.ts';

export type SubscriptionMode = 'MERGE' | 'DISTINCT' | 'COMMAND' | 'RAW';

/**
 * Refusal with a TLCP code: the origin turns it into CONERR (create), REQERR (subscription) or
 * MSGFAIL (message) with this code and message.
 */
export class AdapterError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

export interface ClientContext {
  readonly sessionId: string;
  readonly user: string | null;
  readonly clientIp: string;
}

export interface MetadataAdapter {
  /** Throws AdapterError(1, …) for bad credentials. */
  authenticate(user: string | null, password: string | null, clientIp: string): void | Promise<void>;
  /** Resolves LS_group (space-separated by convention) to item names. */
  itemsOf(group: string, dataAdapter: string): string[];
  /** Resolves LS_schema to field names for the given items. */
  fieldsOf(schema: string, dataAdapter: string, items: readonly string[]): string[];
  /** Resolves with the MSGDONE response; throws AdapterError for MSGFAIL. */
  onMessage(ctx: ClientContext, message: string): Promise<string>;
}

export interface DataAdapter {
  readonly name: string;
  /** Items this adapter serves; a request for another item is refused with the protocol's code. */
  hasItem(item: string): boolean;
  /** Fields the item has, for validation of a schema; undefined means any field is accepted. */
  fieldsOf(item: string): readonly string[] | undefined;
  /** Modes an item may be subscribed in. */
  allowsMode(item: string, mode: SubscriptionMode): boolean;
  /**
   * Produces the adapter's own data (simulated feeds) into the bus. Called once per origin; an
   * adapter whose feed must run once per cluster uses `bus.runExclusive`.
   */
  start(bus: Bus): void;
  stop(): void;
}

export interface AdapterSet {
  readonly name: string;
  readonly metadata: MetadataAdapter;
  readonly dataAdapters: ReadonlyMap<string, DataAdapter>;
  /** Used when a subscription names no LS_data_adapter. */
  readonly defaultDataAdapter: string;
}

export type { FieldValues };
