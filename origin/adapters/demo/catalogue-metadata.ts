/**
 * The metadata side of the built-in demo adapter sets, as Lightstreamer's demos build theirs on
 * LiteralBasedProvider: a group is a space-separated list of item names and a schema a
 * space-separated list of field names; any user may connect. Unlike LiteralBasedProvider, names are
 * checked against what each data adapter serves, so a typo gets the protocol's code rather than a
 * subscription that never updates.
 *
 * What differs between sets (who hears of sessions, which client messages mean what) is passed in.
 */
import { ReqErr } from '../../../protocol/codes.ts';
import { AdapterError, ItemsError, SUBSCRIPTION_MODES, SchemaError, type AdapterSet, type MessageRequest, type MetadataAdapter, type SessionInfo, type SubscriptionMode } from '../adapter.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { FIELD_NAME_PATTERN } from './feed.ts';

/** Message refusal for anything a set does not understand (the client's onDeny). */
export const UNKNOWN_MESSAGE = -1;

/** Handles the client messages starting with `prefix`; resolves with the MSGDONE response. */
export interface MessageRoute {
  readonly prefix: string;
  handle(request: MessageRequest): Promise<string>;
}

/** Hears of the set's sessions (the chat room keeps each one's User-Agent and address). */
export interface SessionWatcher {
  notifyNewSession(session: SessionInfo): void;
  notifySessionClose(sessionId: string): void;
}

export interface CatalogueOptions {
  readonly setName: string;
  readonly dataAdapters: ReadonlyMap<string, DemoDataAdapter>;
  readonly defaultDataAdapter: string;
  readonly messages: readonly MessageRoute[];
  readonly sessionWatchers?: readonly SessionWatcher[];
  /** Events a DISTINCT snapshot holds at most (Lightstreamer's `distinct_snapshot_length`). */
  readonly distinctSnapshotLength?: number;
}

export function createCatalogueMetadata(options: CatalogueOptions): MetadataAdapter {
  const { setName, dataAdapters, defaultDataAdapter, messages, sessionWatchers = [] } = options;
  const adapterOf = (name: string): DemoDataAdapter => {
    const adapter = dataAdapters.get(name || defaultDataAdapter);
    if (!adapter) throw new AdapterError(ReqErr.BAD_DATA_ADAPTER, `no data adapter ${name} in ${setName}`);
    return adapter;
  };
  const expected = messages.map((m) => `${m.prefix}…`).join(', ');

  return {
    notifyUser() {},

    notifyNewSession(session) {
      for (const watcher of sessionWatchers) watcher.notifyNewSession(session);
    },

    notifySessionClose(sessionId) {
      for (const watcher of sessionWatchers) watcher.notifySessionClose(sessionId);
    },

    getItems({ group, dataAdapter }) {
      const adapter = adapterOf(dataAdapter);
      const items = group.split(' ').filter(Boolean);
      if (items.length === 0) throw new ItemsError('empty group');
      for (const item of items) {
        if (!adapter.hasItem(item)) throw new ItemsError(`${adapter.name} has no item ${item}`);
      }
      return items;
    },

    getSchema({ schema, dataAdapter, items }) {
      const adapter = adapterOf(dataAdapter);
      const fields = schema.split(' ').filter(Boolean);
      if (fields.length === 0) throw new SchemaError('empty schema');
      // A group may name one item many times: each distinct item's fields are looked up once.
      const restricted: Array<[string, ReadonlySet<string>]> = [];
      for (const item of new Set(items)) {
        const known = adapter.fieldsOf(item);
        if (known) restricted.push([item, new Set(known)]);
      }
      for (const field of fields) {
        if (!FIELD_NAME_PATTERN.test(field)) throw new SchemaError(`bad field name ${field}`);
        for (const [item, known] of restricted) {
          if (!known.has(field)) throw new SchemaError(`${adapter.name} item ${item} has no field ${field}`);
        }
      }
      return fields;
    },

    getItemLimits({ dataAdapter, items }) {
      const adapter = adapterOf(dataAdapter);
      return items.map((item) => ({
        modes: SUBSCRIPTION_MODES.filter((mode) => adapter.allowsMode(item, mode)),
        ...(options.distinctSnapshotLength !== undefined ? { distinctSnapshotLength: options.distinctSnapshotLength } : {}),
      }));
    },

    async notifyUserMessage(request) {
      const route = messages.find((m) => request.message.startsWith(m.prefix));
      if (!route) throw new AdapterError(UNKNOWN_MESSAGE, messages.length > 0 ? `unknown message: expected ${expected}` : `${setName} takes no messages`);
      return route.handle(request);
    },
  };
}

/** A built-in set: its data adapters carry the catalogue its metadata adapter checks against. */
export interface DemoAdapterSet extends AdapterSet {
  readonly dataAdapters: ReadonlyMap<string, DemoDataAdapter>;
}

export interface CatalogueSetOptions extends Omit<CatalogueOptions, 'setName' | 'dataAdapters' | 'defaultDataAdapter'> {
  /** Used when a subscription names no data adapter; default the first. */
  readonly defaultDataAdapter?: string;
}

export function createCatalogueSet(name: string, adapters: readonly DemoDataAdapter[], options: CatalogueSetOptions): DemoAdapterSet {
  const dataAdapters = new Map(adapters.map((a) => [a.name, a]));
  const defaultDataAdapter = options.defaultDataAdapter ?? adapters[0].name;
  const metadata = createCatalogueMetadata({ ...options, setName: name, dataAdapters, defaultDataAdapter });
  return { name, metadata, dataAdapters, defaultDataAdapter };
}

/**
 * A data adapter shared with other sets, in the modes this set allows (a set's `item_family` /
 * `modes_for_item_family` params in Lightstreamer): same items and feed, narrower modes.
 */
export function inModes(adapter: DemoDataAdapter, modes: readonly SubscriptionMode[]): DemoDataAdapter {
  return { ...adapter, allowsMode: (item, mode) => modes.includes(mode) && adapter.allowsMode(item, mode) };
}
