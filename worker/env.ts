import type { ShardRegistry } from '../objects/shard-registry.ts';
import type { StickTable } from '../objects/stick-table.ts';
import type { SessionPin } from '../objects/session-pin.ts';
import type { SessionHost } from '../objects/session-host.ts';
import type { SessionDirectory } from '../objects/session-directory.ts';

/** Bindings declared in wrangler.toml; secrets are optional so a missing one fails closed, not at type level. */
export interface Env {
  /** Configuration vars, validated by config.ts (which documents them). */
  SHARDS: unknown;
  DOMAINS: unknown;
  PROBE_INTERVAL_MS?: unknown;
  SNAPSHOT_TTL_MS?: unknown;
  MOVE_RATE?: unknown;
  ADMIN_SECRET?: string;
  COOKIE_SECRET?: string;
  EDGE_SECRET?: string;
  /** Bearer token of the origins' admin API (`POST /api/sessions/end`). */
  ORIGIN_ADMIN_TOKEN?: string;
  /** Seals the session layer's stored client credentials (mode `session`). */
  SESSION_SECRET?: string;
  REGISTRY: DurableObjectNamespace<ShardRegistry>;
  STICK_TABLE: DurableObjectNamespace<StickTable>;
  SESSION_PIN: DurableObjectNamespace<SessionPin>;
  SESSION_HOST: DurableObjectNamespace<SessionHost>;
  SESSION_DIRECTORY: DurableObjectNamespace<SessionDirectory>;
}
