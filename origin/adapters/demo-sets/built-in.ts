/**
 * The adapter sets an origin serves without ADAPTERS_CONF: `DEMO` and the adapter sets of
 * Lightstreamer's public demos that need nothing outside the origin, sharing one simulated market,
 * chat room and set of portfolios (demo-feeds.ts).
 */
import { createDemoAdapterSet } from '../demo/demo-adapter-set.ts';
import type { DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createDemoFeeds } from '../demo/demo-feeds.ts';
import { createChatAdapterSet } from './chat.ts';
import { createFullPortfolioAdapterSet } from './full-portfolio.ts';
import { createHelloWorldAdapterSet } from './hello-world.ts';
import { createJsonPortfolioAdapterSet } from './json-portfolio.ts';
import { createPortfolioAdapterSet } from './portfolio.ts';
import { createRoundTripAdapterSet } from './roundtrip.ts';

export function createBuiltInAdapterSets(): DemoAdapterSet[] {
  const feeds = createDemoFeeds();
  return [
    createDemoAdapterSet(feeds),
    createChatAdapterSet(feeds),
    createPortfolioAdapterSet(feeds),
    createFullPortfolioAdapterSet(feeds),
    createJsonPortfolioAdapterSet(feeds),
    createRoundTripAdapterSet(),
    createHelloWorldAdapterSet(),
  ];
}
