/**
 * The few TLCP facts the edge needs to route: which endpoint a request hits, the parameters of a
 * request line, and the lines it answers with when a session's shard is gone.
 */

export type Endpoint = 'create_session' | 'bind_session' | 'control' | 'msg' | 'heartbeat' | 'websocket';

const ENDPOINT = /^(.*)\/lightstreamer(?:\/(create_session|bind_session|control|msg|heartbeat)\.txt)?$/;

/** The TLCP endpoint of a path, and what precedes `/lightstreamer` (a control-link path prefix). */
export function endpointOf(pathname: string): { endpoint: Endpoint; prefix: string } | null {
  const m = ENDPOINT.exec(pathname);
  if (!m) return null;
  return { endpoint: (m[2] as Endpoint | undefined) ?? 'websocket', prefix: m[1] };
}

/** `k=v&…` with TLCP's percent-encoding (and `+` as space, for hand-written clients). */
export function paramsOf(line: string): URLSearchParams {
  return new URLSearchParams(line);
}

export function linesOf(body: string): string[] {
  return body.split(/\r?\n/).filter((l) => l.length > 0);
}

/** A WebSocket frame: `<request name>\r\n<params>[\r\n<params>…]`. */
export function frameOf(text: string): { name: string; params: URLSearchParams[] } {
  const [name, ...rest] = text.split('\r\n');
  return { name, params: rest.filter((l) => l.length > 0).map(paramsOf) };
}

export const SESSION_GONE = 'Session not found';

export const conerr = (code: number, message: string) => `CONERR,${code},${message}\r\n`;
export const reqerr = (reqId: string, code: number, message: string) => `REQERR,${reqId},${code},${message}\r\n`;
export const END_MAX_DURATION = 'END,48,Maximum session duration reached\r\n';

/** `CONOK,<session>,<requestLimit>,<keepalive>,<controlLink>` split into its fields, or null. */
export function conokOf(line: string): { session: string; fields: string[] } | null {
  if (!line.startsWith('CONOK,')) return null;
  const fields = line.split(',');
  return fields.length >= 5 ? { session: fields[1], fields } : null;
}

export function withControlLink(fields: readonly string[], link: string): string {
  return [...fields.slice(0, 4), link].join(',');
}
