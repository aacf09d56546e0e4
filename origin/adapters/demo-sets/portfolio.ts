/**
 * `PORTFOLIODEMO`, the adapter set of Lightstreamer's basic Portfolio demo: data adapter
 * `PORTFOLIO_ADAPTER` (portfolio1…portfolio10, COMMAND) and the `BUY|…` / `SELL|…` orders.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import type { DemoFeeds } from '../demo/demo-feeds.ts';

export const PORTFOLIO_ADAPTER_SET = 'PORTFOLIODEMO';

export function createPortfolioAdapterSet({ desk }: DemoFeeds): DemoAdapterSet {
  return createCatalogueSet(PORTFOLIO_ADAPTER_SET, [desk.adapter], { messages: desk.messages });
}
