import { shardOfSessionId } from '../../protocol/session-id.ts';
import type { RoutingMode } from './mode.ts';

/**
 * Mode `session-id`: edgepush origins name their shard in every session id (`<shard>.<random>`), so
 * any request that names its session names its shard too — for clients that ignore the control link,
 * and with no state anywhere.
 */
export const sessionId: RoutingMode = {
  name: 'session-id',
  source: 'request',
  home: (_er, req) => (req.sessionId ? (shardOfSessionId(req.sessionId) ?? undefined) : undefined),
};
