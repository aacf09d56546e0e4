/**
 * The embedded `TEST` adapter set: what the official client libraries' system tests
 * (Lightstreamer-lib-client-haxe's TestClient) expect of a Lightstreamer Server, so the clients'
 * own tests — and test/client-system*.test.ts, their port — run against an origin unchanged.
 *
 * Metadata: any user may connect, with a bandwidth of at most TEST_MAX_BANDWIDTH_KBPS; a group is a
 * space-separated list of items (`empty_group` names none), a schema one of fields; each data adapter
 * allows its own modes; no frequency limit; every message is accepted, on any sequence, with an empty
 * response, except `give me a result` (answered `result:ok`) and `throw me an error` (denied with
 * -123 `test error`).
 */
import { ReqErr } from '../../../protocol/codes.ts';
import { AdapterError, CreditsError, ItemsError, SchemaError, type AdapterSet, type MetadataAdapter } from '../adapter.ts';
import { createMultTableAdapter, createTwoLevelCommandAdapter } from './command-tables.ts';
import { createCountAdapter, createDiffCountAdapter, createJsonCountAdapter } from './counters.ts';
import { OVERFLOW_BUFFER_SIZE, createOverflowAdapter } from './overflow.ts';
import { createClearSnapshotAdapter, createEndOfSnapshotAdapter } from './snapshot-events.ts';
import { createStrangeNamesAdapter } from './strange-names.ts';
import type { TestDataAdapter } from './test-data-adapter.ts';

export const TEST_ADAPTER_SET = 'TEST';
export const EMPTY_GROUP = 'empty_group';
export const TEST_MAX_BANDWIDTH_KBPS = 40;
export const RESULT_REQUEST = 'give me a result';
export const RESULT = 'result:ok';
export const ERROR_REQUEST = 'throw me an error';
export const ERROR_CODE = -123;
export const ERROR_MESSAGE = 'test error';

export interface TestAdapterSet extends AdapterSet {
  readonly dataAdapters: ReadonlyMap<string, TestDataAdapter>;
}

export function createTestAdapterSet(): TestAdapterSet {
  const adapters = [
    createCountAdapter(),
    createJsonCountAdapter(),
    createDiffCountAdapter(),
    createMultTableAdapter(),
    createTwoLevelCommandAdapter(),
    createStrangeNamesAdapter(),
    createClearSnapshotAdapter(),
    createEndOfSnapshotAdapter(),
    createOverflowAdapter(),
  ];
  const dataAdapters = new Map(adapters.map((a) => [a.name, a]));
  const adapterOf = (name: string): TestDataAdapter => {
    const adapter = dataAdapters.get(name);
    if (!adapter) throw new AdapterError(ReqErr.BAD_DATA_ADAPTER, `no data adapter ${name} in ${TEST_ADAPTER_SET}`);
    return adapter;
  };
  const words = (s: string) => s.split(' ').filter(Boolean);

  const metadata: MetadataAdapter = {
    notifyUser: () => ({ maxBandwidth: TEST_MAX_BANDWIDTH_KBPS }),

    getItems({ group, dataAdapter }) {
      // Resolving to no item is allowed: the client reports its subscription's error itself.
      if (group === EMPTY_GROUP) return [];
      const adapter = adapterOf(dataAdapter);
      const items = words(group);
      if (items.length === 0) throw new ItemsError('empty group');
      const unknown = items.find((item) => !adapter.hasItem(item));
      if (unknown !== undefined) throw new ItemsError(`${adapter.name} has no item ${unknown}`);
      return items;
    },

    getSchema({ schema }) {
      const fields = words(schema);
      if (fields.length === 0) throw new SchemaError('empty schema');
      return fields;
    },

    getItemLimits({ dataAdapter, items }) {
      const adapter = adapterOf(dataAdapter);
      const bufferSize = adapter.name === 'OVERFLOW' ? OVERFLOW_BUFFER_SIZE : undefined;
      return items.map(() => ({ modes: adapter.modes, bufferSize }));
    },

    notifyUserMessage({ message }) {
      if (message === RESULT_REQUEST) return RESULT;
      if (message === ERROR_REQUEST) throw new CreditsError(ERROR_CODE, ERROR_MESSAGE);
      return '';
    },
  };

  return { name: TEST_ADAPTER_SET, metadata, dataAdapters, defaultDataAdapter: 'COUNT' };
}
