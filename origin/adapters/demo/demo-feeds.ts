/**
 * The simulated data the built-in demo sets share, created once per origin: one market, one chat
 * room, one set of portfolios. The DEMO set and the demos' own sets (CHAT, PORTFOLIODEMO, …) show
 * the same data, as one Lightstreamer demo server's sets would if they shared their simulators;
 * an adapter shared by several sets is started and stopped once per set, which it allows.
 */
import { createChatRoom, type ChatRoom } from './chat.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { createPortfolioDesk, type PortfolioDesk } from './portfolio.ts';
import { createQuoteAdapter } from './quotes.ts';

export interface DemoFeeds {
  readonly quotes: DemoDataAdapter;
  readonly chat: ChatRoom;
  readonly desk: PortfolioDesk;
}

export function createDemoFeeds(): DemoFeeds {
  return { quotes: createQuoteAdapter(), chat: createChatRoom(), desk: createPortfolioDesk() };
}
