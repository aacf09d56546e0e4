/**
 * `FULLPORTFOLIODEMO`, the adapter set of Lightstreamer's full Portfolio demo: the portfolios of
 * `PORTFOLIO_ADAPTER` (COMMAND) with `QUOTE_ADAPTER` (MERGE) for their second level, so each row
 * carries its stock's live quote; orders are answered `SUBMITTED`, which the page's order log shows.
 */
import { createCatalogueSet, inModes, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import type { DemoFeeds } from '../demo/demo-feeds.ts';

export const FULL_PORTFOLIO_ADAPTER_SET = 'FULLPORTFOLIODEMO';

export function createFullPortfolioAdapterSet({ desk, quotes }: DemoFeeds): DemoAdapterSet {
  return createCatalogueSet(FULL_PORTFOLIO_ADAPTER_SET, [desk.adapter, inModes(quotes, ['MERGE'])], { messages: desk.messages });
}
