import { ConErr, EndCode } from '../protocol/codes.ts';
import { conerr, end } from '../protocol/notifications.ts';

/**
 * What the edge itself needs of TLCP beyond protocol/: which endpoint a URL hits (and the
 * control-link path in front of it), the lines it answers with on its own, and CONOK's fields.
 */

export type Endpoint = 'create_session' | 'bind_session' | 'control' | 'msg' | 'heartbeat' | 'websocket';

const ENDPOINT = /^(.*)\/lightstreamer(?:\/(create_session|bind_session|control|msg|heartbeat)\.txt)?$/;

/** The TLCP endpoint of a path, and what precedes `/lightstreamer` (a control-link path prefix). */
export function endpointOf(pathname: string): { endpoint: Endpoint; prefix: string } | null {
  const m = ENDPOINT.exec(pathname);
  if (!m) return null;
  return { endpoint: (m[2] as Endpoint | undefined) ?? 'websocket', prefix: m[1] };
}

export const SESSION_GONE_MESSAGE = 'Session not found';
export const SESSION_GONE = conerr(ConErr.SESSION_NOT_FOUND, SESSION_GONE_MESSAGE);
export const END_MAX_DURATION = end(EndCode.MAX_DURATION, 'Maximum session duration reached');
/** 48 too: the code that makes the official client open a new session at once (tlcp.md §E). */
export const END_SHARD_LOST = end(EndCode.MAX_DURATION, 'Server instance unavailable');

/** `CONOK,<session>,<requestLimit>,<keepalive>,<controlLink>` split into its fields, or null. */
export function conokOf(line: string): { session: string; fields: string[] } | null {
  if (!line.startsWith('CONOK,')) return null;
  const fields = line.split(',');
  return fields.length >= 5 ? { session: fields[1], fields } : null;
}

/** The code of a `CONERR,<code>,<message>` line, or null for any other line. */
export function conerrCodeOf(line: string): number | null {
  const m = /^CONERR,(-?\d+),/.exec(line);
  return m ? Number(m[1]) : null;
}

export function withControlLink(fields: readonly string[], link: string): string {
  return [...fields.slice(0, 4), link].join(',');
}
