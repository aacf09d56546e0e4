/**
 * `ROUNDTRIPDEMO`, the adapter set of Lightstreamer's Round-Trip demo: data adapter
 * `ROUNDTRIP_ADAPTER` (roundtrip0…roundtrip4, MERGE) and the `RT|<n>|<text>` message.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createRoundTrip } from '../demo/roundtrip.ts';

export const ROUNDTRIP_ADAPTER_SET = 'ROUNDTRIPDEMO';

export function createRoundTripAdapterSet(): DemoAdapterSet {
  const roundTrip = createRoundTrip();
  return createCatalogueSet(ROUNDTRIP_ADAPTER_SET, [roundTrip.adapter], { messages: [roundTrip.messages] });
}
