/**
 * `SIMPLE_MESSENGER`, as Lightstreamer's Basic Messenger demo expects it: a page picks a nickname
 * and subscribes `im_<nick>` (DISTINCT, fields `fromNick toNick message`), which makes the nick
 * present in `buddy_list` (COMMAND, `key` = nick) for as long as someone anywhere subscribes it.
 * `IM|<from>|<to>|<text>` puts `<from>`/`me` on the recipient's item and `me`/`<to>` on the
 * sender's; to a nick nobody holds, the sender gets `me`/`nobody`; to oneself, `me`/`me`.
 *
 * Presence is the on-demand lease: one shard at a time leads `im_<nick>` while any shard's session
 * subscribes it, so the leader's subscribe and unsubscribe add and remove the nick. Each lead marks
 * its row with a token of its own and removes only a row still marked so (compare-and-set), so a
 * leader handing over never removes the row its successor has already claimed. A nick nobody held
 * starts with no messages: its item is cleared when it appears in the list. Every shard follows the
 * list to know who is present when a message comes. A leader that dies (a crashed shard with Redis)
 * leaves its nick in the list until another shard leads it again and lets go: there is nobody left
 * to say otherwise.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../../bus/bus.ts';
import type { ItemState } from '../../bus/item-state.ts';
import { AdapterError, onDemandBusItem, SubscriptionError } from '../adapter.ts';
import type { MessageRoute } from './catalogue-metadata.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';
import { ITEM_NAME_PATTERN } from './feed.ts';
import { followItem, type LiveItem } from './live-item.ts';

export const MESSENGER_ADAPTER = 'SIMPLE_MESSENGER';
export const BUDDY_LIST_ITEM = 'buddy_list';
export const IM_PREFIX = 'im_';
export const BUDDY_LIST_FIELDS = ['key', 'command'] as const;
export const IM_FIELDS = ['fromNick', 'toNick', 'message'] as const;
export const IM_MESSAGE_PREFIX = 'IM|';
/** A message's text at most (the demo sets none; a bus event should stay small). */
export const MAX_IM_LENGTH = 2_000;

/** Message refusals (the client's onDeny). */
export const IM_MALFORMED = -1;
export const IM_TOO_LONG = -2;
export const IM_NOT_STARTED = -3;

/** Marks which lead added a row; never asked by a client (not among BUDDY_LIST_FIELDS). */
const HOLDER_FIELD = 'holder';
const ME = 'me';
const NOBODY = 'nobody';
const MAX_ATTEMPTS = 50;

export interface Messenger {
  readonly adapter: DemoDataAdapter;
  readonly messages: MessageRoute;
}

/** `adapterSet`: the set it serves in, which names its items in the bus. */
export function createMessenger(adapterSet: string): Messenger {
  const busItem = (item: string) => onDemandBusItem(adapterSet, MESSENGER_ADAPTER, item);
  const listItem = busItem(BUDDY_LIST_ITEM);
  let bus: Bus | null = null;
  let list: Promise<LiveItem> | null = null;
  /** The lead token of each `im_` item this shard leads. */
  const leads = new Map<string, string>();

  const isImItem = (item: string) => item.startsWith(IM_PREFIX) && item.length > IM_PREFIX.length && ITEM_NAME_PATTERN.test(item);

  /** Runs `change` against the list's current state until its compare-and-set lands. */
  async function changeList(change: (rows: ItemState['rows']) => Record<string, string | null> | null): Promise<void> {
    if (!bus || !list) throw new SubscriptionError('messenger not started');
    const target = bus;
    const live = await list;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const seq = live.state.seq;
      const fields = change(live.state.rows);
      if (!fields || (await target.publishIf(listItem, seq, fields)) !== null) return;
      await live.changedAfter(seq);
    }
    throw new SubscriptionError('buddy list too contended');
  }

  const adapter: DemoDataAdapter = {
    name: MESSENGER_ADAPTER,
    hasItem: (item) => item === BUDDY_LIST_ITEM || isImItem(item),
    fieldsOf: (item) => (item === BUDDY_LIST_ITEM ? BUDDY_LIST_FIELDS : IM_FIELDS),
    allowsMode: (item, mode) => mode === (item === BUDDY_LIST_ITEM ? 'COMMAND' : 'DISTINCT'),
    // The list lives in the bus whoever leads it, and a nick's messages are only those sent while
    // it is held: neither has a snapshot of the adapter's own.
    isSnapshotAvailable: () => false,
    async subscribe(item) {
      if (item === BUDDY_LIST_ITEM) return;
      const nick = item.slice(IM_PREFIX.length);
      const token = randomUUID();
      leads.set(item, token);
      let fresh = false;
      await changeList((rows) => {
        fresh = !rows.has(nick);
        return { key: nick, command: fresh ? 'ADD' : 'UPDATE', [HOLDER_FIELD]: token };
      });
      if (fresh) await bus?.clear(busItem(item));
    },
    async unsubscribe(item) {
      const token = leads.get(item);
      if (token === undefined) return;
      leads.delete(item);
      const nick = item.slice(IM_PREFIX.length);
      await changeList((rows) => (rows.get(nick)?.[HOLDER_FIELD] === token ? { key: nick, command: 'DELETE' } : null));
    },
    start(b) {
      // Several sets could share one messenger: the first start follows the list.
      if (list) return;
      bus = b;
      list = followItem(b, listItem);
      list.catch(() => {});
    },
    stop() {
      void list?.then((live) => live.close(), () => {});
      bus = null;
      list = null;
    },
  };

  const messages: MessageRoute = {
    prefix: IM_MESSAGE_PREFIX,
    async handle({ message }) {
      const [from, to, ...rest] = message.slice(IM_MESSAGE_PREFIX.length).split('|');
      // A `|` in the text is the text's: only the first two separate nicks.
      const text = rest.join('|');
      if (rest.length === 0 || !from || !to) throw new AdapterError(IM_MALFORMED, 'expected IM|<from>|<to>|<text>');
      if (text.length > MAX_IM_LENGTH) throw new AdapterError(IM_TOO_LONG, `message longer than ${MAX_IM_LENGTH} characters`);
      if (!bus || !list) throw new AdapterError(IM_NOT_STARTED, 'messenger not started');
      const target = bus;
      const rows = (await list).state.rows;
      const send = (nick: string, fromNick: string, toNick: string) => target.publish(busItem(`${IM_PREFIX}${nick}`), { fromNick, toNick, message: text });
      if (from === to) {
        if (rows.has(from)) await send(from, ME, ME);
      } else if (!rows.has(to)) {
        if (rows.has(from)) await send(from, ME, NOBODY);
      } else {
        await send(to, from, ME);
        if (rows.has(from)) await send(from, ME, to);
      }
      return '';
    },
  };

  return { adapter, messages };
}
