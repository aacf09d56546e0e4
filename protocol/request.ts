/**
 * TLCP request parsing, shared by the origin and the edge. Pure: no I/O, no Node APIs.
 *
 * A request is one line of `name=value&…` with values percent-encoded as UTF-8. The official clients
 * encode with `encodeURIComponent`; hand-written clients may send `+` for a space, which the spec
 * allows, so `+` decodes to a space and a literal plus must come as `%2B`.
 */

/** A request the server cannot interpret; `message` is safe to echo back in a protocol line. */
export class TlcpSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlcpSyntaxError';
  }
}

export type Params = ReadonlyMap<string, string>;

/** The endpoint names of TLCP requests, over HTTP (`<name>.txt`) and WebSocket (first frame line). */
export const REQUEST_NAMES = ['create_session', 'bind_session', 'control', 'msg', 'heartbeat'] as const;
export type RequestName = (typeof REQUEST_NAMES)[number];

export function isRequestName(name: string): name is RequestName {
  return (REQUEST_NAMES as readonly string[]).includes(name);
}

/**
 * Parses one `k=v&…` line. Unknown parameters are kept (callers ignore what they do not read); a
 * repeated parameter keeps its first value. Throws TlcpSyntaxError for a parameter without `=` or
 * with a bad percent-encoding.
 */
export function parseParams(line: string): Params {
  const params = new Map<string, string>();
  if (line === '') return params;
  let start = 0;
  while (start <= line.length) {
    let end = line.indexOf('&', start);
    if (end < 0) end = line.length;
    if (end > start) {
      const eq = line.indexOf('=', start);
      if (eq < 0 || eq > end) throw new TlcpSyntaxError(`parameter without value: ${preview(line.slice(start, end))}`);
      const name = decode(line.slice(start, eq));
      if (!params.has(name)) params.set(name, decode(line.slice(eq + 1, end)));
    }
    start = end + 1;
  }
  return params;
}

/** Decodes one percent-encoded component; `+` is a space. */
export function decode(s: string): string {
  // Most values (ids, numbers, names) need no decoding: skip the allocation.
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    throw new TlcpSyntaxError(`bad percent-encoding: ${preview(s)}`);
  }
}

/** The request lines of an HTTP body: CRLF-separated (bare LF tolerated), blank lines skipped. */
export function splitBody(body: string): string[] {
  const lines: string[] = [];
  for (const raw of body.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line !== '') lines.push(line);
  }
  return lines;
}

export interface WsFrame {
  readonly name: string;
  /** Parameter lines, blank ones removed (`heartbeat\r\n\r\n` has none). */
  readonly lines: readonly string[];
}

/** Splits a WebSocket text frame `<name>\r\n<params>[\r\n<params>…]`. */
export function parseWsFrame(frame: string): WsFrame {
  const nl = frame.indexOf('\n');
  if (nl < 0) return { name: frame.endsWith('\r') ? frame.slice(0, -1) : frame, lines: [] };
  const head = frame.slice(0, nl);
  return { name: head.endsWith('\r') ? head.slice(0, -1) : head, lines: splitBody(frame.slice(nl + 1)) };
}

/**
 * The session a request names: `LS_session` from the query string (control, msg, heartbeat over
 * HTTP) or else from the first request line (HTTP bind body, WebSocket bind frame). Never throws:
 * the edge routes on this before anything validates the request, and a malformed id routes nowhere.
 */
export function sessionIdOf(query: string | null, firstLine: string | null): string | null {
  return (query !== null ? scanParam(query, 'LS_session') : null) ?? (firstLine !== null ? scanParam(firstLine, 'LS_session') : null);
}

/** The decoded value of one parameter in a `k=v&…` string, or null when absent or undecodable. */
export function scanParam(line: string, name: string): string | null {
  const s = line.startsWith('?') ? line.slice(1) : line;
  const prefix = `${name}=`;
  let start = 0;
  while (start < s.length) {
    let end = s.indexOf('&', start);
    if (end < 0) end = s.length;
    if (s.startsWith(prefix, start)) {
      try {
        return decode(s.slice(start + prefix.length, end));
      } catch {
        return null;
      }
    }
    start = end + 1;
  }
  return null;
}

/**
 * `LS_reqId` as the client sends it: a counter. It is echoed in REQOK/REQERR, so nothing else may
 * pass; 15 digits keep it exact in a double.
 */
const REQUEST_ID = /^\d{1,15}$/;

export function isRequestId(value: string | null | undefined): value is string {
  return value !== null && value !== undefined && REQUEST_ID.test(value);
}

/** Reads typed parameters, throwing TlcpSyntaxError with the parameter's name on a bad value. */
export class ParamReader {
  constructor(readonly params: Params) {}

  string(name: string): string | null {
    return this.params.get(name) ?? null;
  }

  required(name: string): string {
    const v = this.params.get(name);
    if (v === undefined) throw new TlcpSyntaxError(`missing ${name}`);
    return v;
  }

  /** A non-negative integer, or null when absent. */
  int(name: string): number | null {
    const v = this.params.get(name);
    if (v === undefined) return null;
    if (!/^\d{1,15}$/.test(v)) throw new TlcpSyntaxError(`${name} must be a non-negative integer`);
    return Number(v);
  }

  requiredInt(name: string): number {
    const v = this.int(name);
    if (v === null) throw new TlcpSyntaxError(`missing ${name}`);
    return v;
  }

  /** A non-negative decimal number, or null when absent. */
  number(name: string): number | null {
    const v = this.params.get(name);
    if (v === undefined) return null;
    if (!/^\d{1,15}(\.\d{1,15})?$/.test(v)) throw new TlcpSyntaxError(`${name} must be a non-negative number`);
    return Number(v);
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.params.get(name);
    if (v === undefined) return fallback;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new TlcpSyntaxError(`${name} must be true or false`);
  }
}

function preview(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}
