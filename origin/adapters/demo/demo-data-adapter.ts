/**
 * A DEMO data adapter: self-fed, with the item catalogue the DEMO metadata adapter resolves groups,
 * schemas and modes against (Lightstreamer's demos keep that knowledge in their metadata adapter).
 */
import type { Bus } from '../../bus/bus.ts';
import type { DataAdapter, SubscriptionMode } from '../adapter.ts';

export interface DemoDataAdapter extends DataAdapter {
  /** Items this adapter serves; a request for another item is refused with the protocol's code. */
  hasItem(item: string): boolean;
  /** Fields the item has, for validation of a schema; undefined means any field is accepted. */
  fieldsOf(item: string): readonly string[] | undefined;
  /** Modes an item may be subscribed in. */
  allowsMode(item: string, mode: SubscriptionMode): boolean;
  start(bus: Bus): void;
  stop(): void | Promise<void>;
}
