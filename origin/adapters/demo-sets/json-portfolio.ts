/**
 * `JSONPORTFOLIODEMO`, the adapter set of Lightstreamer's JSON Patch Portfolio demo: data adapter
 * `PORTFOLIO_JSON_ADAPTER` (portfolio1…portfolio10, MERGE, field `json`) over the same portfolios
 * as PORTFOLIODEMO, changed by the same `BUY|…` / `SELL|…` orders.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import type { DemoFeeds } from '../demo/demo-feeds.ts';
import { createPortfolioJsonAdapter } from '../demo/portfolio-json.ts';

export const JSON_PORTFOLIO_ADAPTER_SET = 'JSONPORTFOLIODEMO';

export function createJsonPortfolioAdapterSet({ desk }: DemoFeeds): DemoAdapterSet {
  return createCatalogueSet(JSON_PORTFOLIO_ADAPTER_SET, [createPortfolioJsonAdapter(desk)], { messages: desk.messages });
}
