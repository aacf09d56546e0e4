import type { ShardRegistry } from '../objects/shard-registry.ts';
import type { StickTable } from '../objects/stick-table.ts';
import type { SessionPin } from '../objects/session-pin.ts';

/** Bindings declared in wrangler.toml; secrets are optional so a missing one fails closed, not at type level. */
export interface Env {
  SHARDS: unknown;
  DOMAINS: unknown;
  /** Registry probe period; tests shorten it so failover is observable in seconds. */
  PROBE_INTERVAL_MS?: string;
  /** How long an isolate trusts its copy of the registry snapshot. */
  SNAPSHOT_TTL_MS?: string;
  /** Sessions per shard per probe tick that drain/shed ask an origin to end. */
  MOVE_RATE?: string;
  ADMIN_SECRET?: string;
  COOKIE_SECRET?: string;
  EDGE_SECRET?: string;
  /** Bearer token of the origins' admin API (`POST /api/sessions/end`). */
  ORIGIN_ADMIN_TOKEN?: string;
  REGISTRY: DurableObjectNamespace<ShardRegistry>;
  STICK_TABLE: DurableObjectNamespace<StickTable>;
  SESSION_PIN: DurableObjectNamespace<SessionPin>;
}
