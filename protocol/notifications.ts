/**
 * TLCP notification and response lines, each with its CRLF. Pure string builders shared by the
 * origin and the edge.
 *
 * Free text (error messages, MSGDONE responses) is percent-encoded where the client would split or
 * mis-read it. Values a client chose and the server echoes (request ids, message sequence names) are
 * encoded the same way, so even an unvalidated one cannot add a field or a line; callers still
 * validate them, since the client reads them as numbers and names. Other ids, names and numbers are
 * passed as they are, so callers must keep commas and percent signs out of them (session ids,
 * SERVER_NAME and control links already are).
 */
const CRLF = '\r\n';

/** Percent-encodes `,`, `%`, `|`, CR and LF: the client splits lines on commas and then unquotes. */
export function encodeText(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c === 0x2c) esc = '%2C';
    else if (c === 0x25) esc = '%25';
    else if (c === 0x7c) esc = '%7C';
    else if (c === 0x0d) esc = '%0D';
    else if (c === 0x0a) esc = '%0A';
    if (esc !== null) {
      out += s.slice(from, i) + esc;
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

// Session lifecycle

/** `controlLink` null announces `*`: keep using the configured address. */
export const conok = (sessionId: string, requestLimit: number, keepaliveMs: number, controlLink: string | null): string =>
  `CONOK,${sessionId},${requestLimit},${keepaliveMs},${controlLink ?? '*'}${CRLF}`;
export const conerr = (code: number, message: string): string => `CONERR,${code},${encodeText(message)}${CRLF}`;
export const servname = (name: string): string => `SERVNAME,${name}${CRLF}`;
export const clientip = (ip: string): string => `CLIENTIP,${ip}${CRLF}`;
/** Kilobits per second, or `unlimited` (null); `unmanaged` when the server does no bandwidth management. */
export const cons = (bandwidth: number | null | 'unlimited' | 'unmanaged'): string => `CONS,${bandwidth ?? 'unlimited'}${CRLF}`;
export const WSOK = `WSOK${CRLF}`;
export const PROBE = `PROBE${CRLF}`;
export const loop = (delayMs: number): string => `LOOP,${delayMs}${CRLF}`;
export const end = (code: number, message: string): string => `END,${code},${encodeText(message)}${CRLF}`;
export const prog = (progressive: number): string => `PROG,${progressive}${CRLF}`;

// Request outcomes

/** A bare `REQOK` answers a heartbeat, which has no request id. */
export const reqok = (reqId?: number | string): string =>
  reqId === undefined ? `REQOK${CRLF}` : `REQOK,${encodeText(String(reqId))}${CRLF}`;
export const reqerr = (reqId: number | string, code: number, message: string): string =>
  `REQERR,${encodeText(String(reqId))},${code},${encodeText(message)}${CRLF}`;
/** A request so broken that no request id could be read: fatal for the client. */
export const error = (code: number, message: string): string => `ERROR,${code},${encodeText(message)}${CRLF}`;

// Subscriptions (data notifications: they count for recovery)

export const subok = (subId: number, items: number, fields: number): string => `SUBOK,${subId},${items},${fields}${CRLF}`;
/** `keyPos`/`cmdPos`: 1-based positions of the `key` and `command` fields in the schema. */
export const subcmd = (subId: number, items: number, fields: number, keyPos: number, cmdPos: number): string =>
  `SUBCMD,${subId},${items},${fields},${keyPos},${cmdPos}${CRLF}`;
export const conf = (subId: number, maxFrequency: number | 'unlimited', filtered: boolean): string =>
  `CONF,${subId},${maxFrequency},${filtered ? 'filtered' : 'unfiltered'}${CRLF}`;
export const eos = (subId: number, item: number): string => `EOS,${subId},${item}${CRLF}`;
export const cs = (subId: number, item: number): string => `CS,${subId},${item}${CRLF}`;
export const ov = (subId: number, item: number, lost: number): string => `OV,${subId},${item},${lost}${CRLF}`;
export const unsub = (subId: number): string => `UNSUB,${subId}${CRLF}`;
/** `values`: an encoded value list from update-line.ts. */
export const update = (subId: number, item: number, values: string): string => `U,${subId},${item},${values}${CRLF}`;

// Messages (data notifications)

/** `sequence` null is the unordered sequence, written `*`. */
export const msgdone = (sequence: string | null, progressive: number, response: string): string =>
  `MSGDONE,${sequenceField(sequence)},${progressive},${encodeText(response)}${CRLF}`;
export const msgfail = (sequence: string | null, progressive: number, code: number, message: string): string =>
  `MSGFAIL,${sequenceField(sequence)},${progressive},${code},${encodeText(message)}${CRLF}`;

const sequenceField = (sequence: string | null): string => (sequence === null ? '*' : encodeText(sequence));
