/**
 * The embedded `DEMO` adapter set: what Lightstreamer's public StockList, Chat and Portfolio demo
 * clients subscribe to, plus the generic `FEED` adapter for items published over the API.
 *
 * Metadata follows Lightstreamer's LiteralBasedProvider: a group is a space-separated list of item
 * names and a schema a space-separated list of field names; any user may connect.
 */
import { ReqErr } from '../../../protocol/codes.ts';
import type { Bus } from '../../bus/bus.ts';
import { AdapterError, ItemsError, SUBSCRIPTION_MODES, SchemaError, type AdapterSet, type MetadataAdapter } from '../adapter.ts';
import { CHAT_PREFIX, createChatAdapter, postChatMessage } from './chat.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { FIELD_NAME_PATTERN, createFeedAdapter } from './feed.ts';
import { createPortfolioDesk } from './portfolio.ts';
import { createQuoteAdapter } from './quotes.ts';

export const DEMO_ADAPTER_SET = 'DEMO';
export const DEFAULT_DATA_ADAPTER = 'FEED';

/** Message refusal for anything that is neither a chat line nor an order (client's onDeny). */
export const UNKNOWN_MESSAGE = -1;

export interface DemoAdapterSet extends AdapterSet {
  readonly dataAdapters: ReadonlyMap<string, DemoDataAdapter>;
}

export function createDemoAdapterSet(): DemoAdapterSet {
  const desk = createPortfolioDesk();
  let bus: Bus | null = null;
  // The metadata side needs the bus for chat lines; it gets it when the origin starts the adapters.
  const capturingBus = (adapter: DemoDataAdapter): DemoDataAdapter => ({
    ...adapter,
    start(b) {
      bus = b;
      adapter.start(b);
    },
  });
  const adapters: DemoDataAdapter[] = [
    capturingBus(createFeedAdapter(DEFAULT_DATA_ADAPTER)),
    createQuoteAdapter(),
    createChatAdapter(),
    desk.adapter,
  ];
  const dataAdapters = new Map(adapters.map((a) => [a.name, a]));

  const adapterOf = (name: string): DemoDataAdapter => {
    const adapter = dataAdapters.get(name || DEFAULT_DATA_ADAPTER);
    if (!adapter) {
      throw new AdapterError(ReqErr.BAD_DATA_ADAPTER, `no data adapter ${name} in ${DEMO_ADAPTER_SET}`);
    }
    return adapter;
  };

  const metadata: MetadataAdapter = {
    notifyUser() {},

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
      return items.map((item) => ({ modes: SUBSCRIPTION_MODES.filter((mode) => adapter.allowsMode(item, mode)) }));
    },

    async notifyUserMessage({ message, user, clientIp }) {
      if (message.startsWith(CHAT_PREFIX)) {
        if (!bus) throw new AdapterError(UNKNOWN_MESSAGE, 'chat not started');
        return postChatMessage(bus, { user, clientIp }, message.slice(CHAT_PREFIX.length));
      }
      if (message.startsWith('BUY|') || message.startsWith('SELL|')) return desk.order(message);
      throw new AdapterError(UNKNOWN_MESSAGE, 'unknown message: expected CHAT|…, BUY|… or SELL|…');
    },
  };

  return { name: DEMO_ADAPTER_SET, metadata, dataAdapters, defaultDataAdapter: DEFAULT_DATA_ADAPTER };
}
