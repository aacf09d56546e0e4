/**
 * `HELLOWORLD`, the adapter set of Lightstreamer's Hello World examples: the default data adapter
 * serves item `greetings` (fields `message`, `timestamp`); no messages.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createGreetingsAdapter } from '../demo/greetings.ts';

export const HELLO_WORLD_ADAPTER_SET = 'HELLOWORLD';

export function createHelloWorldAdapterSet(): DemoAdapterSet {
  return createCatalogueSet(HELLO_WORLD_ADAPTER_SET, [createGreetingsAdapter('DEFAULT')], { messages: [] });
}
