/**
 * What a TLCP server may answer, as a checkable grammar: the fuzz suite (test/fuzz-tlcp.test.ts)
 * holds every answer of the origin and of the edge to it, whatever it was sent.
 *
 * The grammar has one rule per tag the origin and the edge emit (protocol/notifications.ts), each
 * with the exact fields the official client reads: a line of an unknown tag, with a field too many
 * or too few, a number where a name belongs, or free text with an unencoded `,` or `|` is one the
 * client would mis-read or reject (it closes the session with code 61 on a malformed line).
 */
import { STATUS_CODES } from 'node:http';

/** Free text as `encodeText` leaves it: `,` `|` `%` CR LF only percent-encoded. */
const TEXT = String.raw`(?:[^,|%\r\n]|%[0-9A-Fa-f]{2})*`;
const INT = String.raw`\d{1,15}`;
const CODE = String.raw`-?\d{1,15}`;
const DECIMAL = String.raw`\d{1,15}(?:\.\d{1,15})?`;
const SEQUENCE = String.raw`(?:\*|[A-Za-z0-9_]{1,64})`;
const SESSION_ID = String.raw`[A-Za-z0-9_.\-]{1,200}`;

/** One rule per tag; a line must match its tag's rule whole. */
const RULES: Record<string, RegExp> = {
  CONOK: new RegExp(`^CONOK,${SESSION_ID},${INT},${INT},[^,\\r\\n]+$`),
  CONERR: new RegExp(`^CONERR,${CODE},${TEXT}$`),
  SERVNAME: /^SERVNAME,[^,\r\n]*$/,
  CLIENTIP: /^CLIENTIP,[0-9A-Fa-f.:]{2,45}$/,
  CONS: new RegExp(`^CONS,(?:unlimited|unmanaged|${DECIMAL})$`),
  WSOK: /^WSOK$/,
  PROBE: /^PROBE$/,
  LOOP: new RegExp(`^LOOP,${INT}$`),
  END: new RegExp(`^END,${CODE},${TEXT}$`),
  PROG: new RegExp(`^PROG,${INT}$`),
  REQOK: new RegExp(`^REQOK(?:,${INT})?$`),
  REQERR: new RegExp(`^REQERR,${INT},${CODE},${TEXT}$`),
  ERROR: new RegExp(`^ERROR,${CODE},${TEXT}$`),
  SUBOK: new RegExp(`^SUBOK,${INT},${INT},${INT}$`),
  SUBCMD: new RegExp(`^SUBCMD,${INT},${INT},${INT},${INT},${INT}$`),
  UNSUB: new RegExp(`^UNSUB,${INT}$`),
  CONF: new RegExp(`^CONF,${INT},(?:unlimited|${DECIMAL}),(?:filtered|unfiltered)$`),
  EOS: new RegExp(`^EOS,${INT},${INT}$`),
  CS: new RegExp(`^CS,${INT},${INT}$`),
  OV: new RegExp(`^OV,${INT},${INT},${INT}$`),
  // Values: `|`-separated tokens, CR and LF encoded (update-line.ts); their count is the schema's.
  U: new RegExp(`^U,${INT},${INT},[^\\r\\n]*$`),
  MSGDONE: new RegExp(`^MSGDONE,${SEQUENCE},${INT},${TEXT}$`),
  MSGFAIL: new RegExp(`^MSGFAIL,${SEQUENCE},${INT},${CODE},${TEXT}$`),
};

/** The tags that answer a control, msg or heartbeat request (its HTTP body, or a WebSocket answer). */
const REQUEST_ANSWERS = new Set(['REQOK', 'REQERR', 'ERROR']);

export const tagOf = (line: string): string => line.split(',', 1)[0];

/** Why `line` is not a well-formed TLCP line, or null when it is. */
export function lineProblem(line: string): string | null {
  const rule = RULES[tagOf(line)];
  if (!rule) return `unknown tag in ${JSON.stringify(line.slice(0, 200))}`;
  return rule.test(line) ? null : `malformed ${tagOf(line)} line ${JSON.stringify(line.slice(0, 200))}`;
}

/**
 * Complete lines of a TLCP body and the problems with them. `complete`: the body ended (an HTTP
 * response read to its end, a WebSocket message), so its last line must end with CRLF too; a stream
 * cut by the reader may end inside a line, which is not checked.
 */
export function linesOf(body: string, complete: boolean): { lines: string[]; problems: string[] } {
  const parts = body.split('\r\n');
  const rest = parts.pop()!;
  const problems: string[] = [];
  if (complete && rest !== '') problems.push(`body does not end with CRLF: ${JSON.stringify(rest.slice(0, 200))}`);
  for (const line of parts) {
    if (line.includes('\n') || line.includes('\r')) problems.push(`bare CR or LF inside ${JSON.stringify(line.slice(0, 200))}`);
    else {
      const problem = lineProblem(line);
      if (problem) problems.push(problem);
    }
  }
  return { lines: parts, problems };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

export type RequestKind = 'create_session' | 'bind_session' | 'control' | 'msg' | 'heartbeat' | 'other';

/** What an HTTP exchange came to, as the checker reads it. */
export interface HttpAnswer {
  readonly status: number;
  /** The status line's reason phrase. */
  readonly statusMessage: string;
  readonly body: string;
  /** The body was read to its end (false: a stream the reader cut after its first lines). */
  readonly complete: boolean;
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * Why an HTTP answer to a fuzzed request is not acceptable, or null. Acceptable: a 4xx with a body
 * that says why (HEAD: no body), a CORS preflight's 204, or a 200 whose body is nothing but
 * well-formed TLCP lines of the kind the request calls for. Never a 5xx, never a 200 of anything
 * else.
 */
export function httpAnswerProblem(kind: RequestKind, method: string, answer: HttpAnswer): string | null {
  const { status, body } = answer;
  if (status >= 400 && status < 500) {
    // The message is the body, or — where an origin's HTTP parser refused the request before
    // knowing its method, so before knowing whether a body may follow — the status line's reason.
    if (method === 'HEAD' || body.trim() !== '' || answer.statusMessage !== STATUS_CODES[status]) return null;
    return `${status} without a message`;
  }
  if (status === 204 && method === 'OPTIONS') return null;
  // RFC 9110 §15.6.2: a method the server does not recognise at all. workerd's HTTP server says so
  // itself, before the Worker runs; it is the client's mistake, not a failure of the edge.
  if (status === 501 && !KNOWN_METHODS.has(method)) return null;
  if (status !== 200) return `HTTP ${status}: ${JSON.stringify(body.slice(0, 300))}`;
  if (method !== 'POST') return `200 to a ${method}: ${JSON.stringify(body.slice(0, 300))}`;
  const { lines, problems } = linesOf(body, answer.complete);
  if (problems.length > 0) return problems.join('; ');
  if (lines.length === 0) {
    // Every TLCP request line is answered, and a create or bind starts with its outcome; only a
    // control or msg body of no line at all, or of lines all sent with LS_ack=false, has none.
    return kind === 'control' || kind === 'msg' ? null : `200 with no TLCP line (${kind})`;
  }
  if (kind === 'control' || kind === 'msg' || kind === 'heartbeat') {
    const other = lines.find((l) => !REQUEST_ANSWERS.has(tagOf(l)));
    if (other) return `${kind} answered with a stream line: ${JSON.stringify(other.slice(0, 200))}`;
  } else if (kind === 'create_session' || kind === 'bind_session') {
    const first = tagOf(lines[0]);
    if (first !== 'CONOK' && first !== 'CONERR' && first !== 'ERROR') return `${kind} stream starts with ${JSON.stringify(lines[0].slice(0, 200))}`;
  }
  return null;
}

/**
 * Close codes a fuzzed socket may get. 1000 (done: a refusal, a destroy, LOOP), 1002 (not TLCP),
 * 1003 (a binary frame), 1008 (a limit or policy, its reason says which), 1009 (a frame too big),
 * 1013 (the create rate limit: try again later). Never 1011 (internal error) without a reason that
 * names the limit, never 1006 (the connection dropped without a close: a crash or a reset).
 */
export function closeProblem(code: number, reason: string): string | null {
  if ([1000, 1002, 1003, 1008, 1009, 1013].includes(code)) return null;
  if (code === 1011 && /limit|too many|too large|not reading|queued/i.test(reason)) return null;
  return `closed with ${code} ${JSON.stringify(reason)}`;
}
