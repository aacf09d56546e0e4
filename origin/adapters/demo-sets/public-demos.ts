/**
 * The built-in adapter sets of Lightstreamer's public demos (built-in-sets.ts): `DEMO` and those
 * that need nothing outside the origin, sharing one simulated market,
 * chat room and set of portfolios (demo-feeds.ts).
 */
import { createDemoAdapterSet } from '../demo/demo-adapter-set.ts';
import type { DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createDemoFeeds } from '../demo/demo-feeds.ts';
import { createAuthAdapterSet } from './auth.ts';
import { createChatAdapterSet } from './chat.ts';
import { createFullPortfolioAdapterSet } from './full-portfolio.ts';
import { createHelloWorldAdapterSet } from './hello-world.ts';
import { createJsonPortfolioAdapterSet } from './json-portfolio.ts';
import { createMessengerAdapterSet } from './messenger.ts';
import { createPortfolioAdapterSet } from './portfolio.ts';
import { createRaceTelemetryAdapterSet } from './race-telemetry.ts';
import { createRoundTripAdapterSet } from './roundtrip.ts';

export function createPublicDemoSets(): DemoAdapterSet[] {
  const feeds = createDemoFeeds();
  return [
    createDemoAdapterSet(feeds),
    createChatAdapterSet(feeds),
    createPortfolioAdapterSet(feeds),
    createFullPortfolioAdapterSet(feeds),
    createJsonPortfolioAdapterSet(feeds),
    createRoundTripAdapterSet(),
    createHelloWorldAdapterSet(),
    createAuthAdapterSet(feeds),
    createMessengerAdapterSet(),
    createRaceTelemetryAdapterSet(),
  ];
}
