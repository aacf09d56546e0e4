/**
 * `MESSENGER`, the adapter set of Lightstreamer's Basic Messenger demo: data adapter
 * `SIMPLE_MESSENGER` (`buddy_list` in COMMAND, `im_<nick>` in DISTINCT, as the demo's adapters.xml
 * has them) and the `IM|<from>|<to>|<text>` message.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createMessenger } from '../demo/messenger.ts';

export const MESSENGER_ADAPTER_SET = 'MESSENGER';

export function createMessengerAdapterSet(): DemoAdapterSet {
  const messenger = createMessenger(MESSENGER_ADAPTER_SET);
  return createCatalogueSet(MESSENGER_ADAPTER_SET, [messenger.adapter], { messages: [messenger.messages] });
}
