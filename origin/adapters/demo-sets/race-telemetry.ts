/**
 * `F1Telemetry`, the adapter set of Lightstreamer's Race Telemetry demo: data adapter
 * `FORMULA1_ADAPTER` (`P_driver_1` in MERGE, `L_driver_1` in DISTINCT, as the demo's adapters.xml
 * has them); no messages.
 */
import { createCatalogueSet, type DemoAdapterSet } from '../demo/catalogue-metadata.ts';
import { createTelemetryAdapter } from '../demo/race-telemetry.ts';

export const RACE_TELEMETRY_ADAPTER_SET = 'F1Telemetry';

export function createRaceTelemetryAdapterSet(): DemoAdapterSet {
  return createCatalogueSet(RACE_TELEMETRY_ADAPTER_SET, [createTelemetryAdapter(RACE_TELEMETRY_ADAPTER_SET)], { messages: [] });
}
