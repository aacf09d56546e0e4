import type { ShardAddress } from './shard-transport.ts';

/** What isolates and the registry exchange: plain data, free of runtime imports so Node tests can use it. */

export type RosterEntry = ShardAddress & { readonly weight: number };

export interface ShardView {
  readonly id: string;
  readonly healthy: boolean;
  readonly draining: boolean;
  /** Effective weight: the admin override when one is set, else the configured weight. */
  readonly weight: number;
  /** Sessions the origin reported at the last probe. */
  readonly sessions: number;
  /** When that probe ran (ms epoch): sessions placed since are not in `sessions` yet. */
  readonly probedAt: number | null;
  /** When the shard last came back (ms epoch), for slow start; null while down. */
  readonly upSince: number | null;
  /**
   * Serving its sessions but taking no new ones: requests to it timed out while its probes still
   * pass (outlier ejection), until the ejection expires.
   */
  readonly ejected: boolean;
}

/**
 * What an isolate saw go wrong on the way to a shard. `unreachable`: a connection could not be made
 * (refused, reset) or a gateway in front of the shard said so (502–504); `timeout`: no answer within
 * the call's deadline; `silent`: a stream that went quiet for longer than its keepalive allows;
 * `broken`: an established connection that failed midway — an origin may drop one client's
 * connection on purpose, so this alone proves nothing about the shard.
 */
export type ShardFailure = 'unreachable' | 'timeout' | 'silent' | 'broken';

export interface Snapshot {
  readonly takenAt: number;
  readonly shards: readonly ShardView[];
}
