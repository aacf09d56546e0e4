/**
 * `FEED`: the generic data adapter (and the DEMO set's default), serving any item an external
 * program publishes through `POST /api/publish` or straight into the bus, with any fields.
 */
import type { DemoDataAdapter } from './demo-data-adapter.ts';

/**
 * Item names a feed may use: no spaces (groups are space-separated), commas or `|` (wire
 * separators), braces (Redis hash tags) or percent signs.
 */
export const ITEM_NAME_PATTERN = /^[A-Za-z0-9_.:@/-]{1,128}$/;
/** Field names follow the same rule: schemas are space-separated lists of them. */
export const FIELD_NAME_PATTERN = ITEM_NAME_PATTERN;

export function createFeedAdapter(name = 'FEED'): DemoDataAdapter {
  return {
    name,
    hasItem: (item) => ITEM_NAME_PATTERN.test(item),
    fieldsOf: () => undefined,
    allowsMode: () => true,
    start() {},
    stop() {},
  };
}
