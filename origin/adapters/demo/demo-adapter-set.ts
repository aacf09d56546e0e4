/**
 * The embedded `DEMO` adapter set: what Lightstreamer's public StockList demos subscribe to
 * (QUOTE_ADAPTER), plus the chat room and portfolios of the Chat and Portfolio demos (the origin's
 * own demo page uses all three), and the generic `FEED` adapter for items published over the API.
 */
import { createCatalogueSet, type DemoAdapterSet } from './catalogue-metadata.ts';
import { createDemoFeeds, type DemoFeeds } from './demo-feeds.ts';
import { createFeedAdapter } from './feed.ts';

export const DEMO_ADAPTER_SET = 'DEMO';
export const DEFAULT_DATA_ADAPTER = 'FEED';

export function createDemoAdapterSet(feeds: DemoFeeds = createDemoFeeds()): DemoAdapterSet {
  return createCatalogueSet(DEMO_ADAPTER_SET, [createFeedAdapter(DEFAULT_DATA_ADAPTER), feeds.quotes, feeds.chat.adapter, feeds.desk.adapter], {
    defaultDataAdapter: DEFAULT_DATA_ADAPTER,
    messages: [feeds.chat.messages, ...feeds.desk.messages],
    sessionWatchers: [feeds.chat.sessions],
  });
}
