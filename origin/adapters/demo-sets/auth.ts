/**
 * `AUTHDEMO`, the adapter set of Lightstreamer's Authentication and Authorization demo: the stock
 * list's `QUOTE_ADAPTER`, behind a metadata adapter that lets in only a known user with the token
 * the demo's (simulated) web server gave it, and lets each user subscribe only the stocks it is
 * authorized to see. The users, tokens and authorizations are the demo's own, which its page lists.
 */
import { AccessError, CreditsError } from '../adapter.ts';
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import type { DemoFeeds } from '../demo/demo-feeds.ts';
import { QUOTE_ITEMS } from '../demo/quotes.ts';

export const AUTH_ADAPTER_SET = 'AUTHDEMO';

/** The token each user's login yields (the password is the web server's business, not ours). */
export const AUTH_TOKENS: Readonly<Record<string, string>> = {
  user1: 'ikgdfigdfhihdsih',
  // The demo page sends this user an outdated token, to show a refused session.
  patient0: 'lookihaveanewtokenhere',
  leto: 'powerfultoken',
  gollum: 'toobadforyou',
  lucky: 'srsly',
};

/** The items each user may subscribe; a user not listed may subscribe none. */
export const AUTH_ITEMS: Readonly<Record<string, ReadonlySet<string>>> = {
  user1: new Set(['item1', 'item2', 'item3']),
  leto: new Set(QUOTE_ITEMS),
  lucky: new Set(['item13', 'item17']),
};

/** What the demo's adapter tells a client refused an item (its onSubscriptionError). */
export const NOT_AUTHORIZED_CODE = -1;
export const NOT_AUTHORIZED_MESSAGE = 'You are not authorized to see this item';

export function createAuthAdapterSet({ quotes }: DemoFeeds): DemoAdapterSet {
  const set = createCatalogueSet(AUTH_ADAPTER_SET, [quotes], { messages: [] });
  return {
    ...set,
    metadata: {
      ...set.metadata,
      notifyUser({ user, password }) {
        // Own-property lookup: a user named `constructor` or `__proto__` is just unknown.
        const token = user !== null && Object.hasOwn(AUTH_TOKENS, user) ? AUTH_TOKENS[user] : undefined;
        if (token === undefined || password !== token) throw new AccessError('Invalid user/token');
        return { wantsTablesNotification: true };
      },
      notifyNewTables({ user, tables }) {
        const allowed = user !== null && Object.hasOwn(AUTH_ITEMS, user) ? AUTH_ITEMS[user] : undefined;
        for (const table of tables) {
          if (!allowed || !table.items.every((item) => allowed.has(item))) {
            throw new CreditsError(NOT_AUTHORIZED_CODE, NOT_AUTHORIZED_MESSAGE, `${user} may not see ${table.items.join(' ')}`);
          }
        }
      },
    },
  };
}
