import type { ShardAddress } from './shard-transport.ts';

/** What isolates and the registry exchange: plain data, free of runtime imports so Node tests can use it. */

export interface RosterEntry extends ShardAddress {
  readonly weight: number;
}

export interface ShardView {
  readonly id: string;
  readonly healthy: boolean;
  readonly draining: boolean;
  /** Effective weight: the admin override when one is set, else the configured weight. */
  readonly weight: number;
  /** Sessions the origin reported at the last probe. */
  readonly sessions: number;
  /** When the shard last came back (ms epoch), for slow start; null while down. */
  readonly upSince: number | null;
}

export interface Snapshot {
  readonly takenAt: number;
  readonly shards: readonly ShardView[];
}
