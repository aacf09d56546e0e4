/**
 * `CHAT`, the adapter set of Lightstreamer's Chat demo: data adapter `CHAT_ROOM` (item `chat_room`,
 * DISTINCT only, snapshots of up to 30 lines, as the demo's adapters.xml configures it) and the
 * `CHAT|<text>` message, each line signed with the sender's User-Agent and address.
 */
import { createCatalogueSet, inModes, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import type { DemoFeeds } from '../demo/demo-feeds.ts';

export const CHAT_ADAPTER_SET = 'CHAT';
export const CHAT_SNAPSHOT_LENGTH = 30;

export function createChatAdapterSet({ chat }: DemoFeeds): DemoAdapterSet {
  return createCatalogueSet(CHAT_ADAPTER_SET, [inModes(chat.adapter, ['DISTINCT'])], {
    messages: [chat.messages],
    sessionWatchers: [chat.sessions],
    distinctSnapshotLength: CHAT_SNAPSHOT_LENGTH,
  });
}
