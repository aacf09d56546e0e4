/**
 * Notification and response lines as a TLCP client reads them (the edge's session layer is a client
 * of its origins): one line, without its CRLF, into its tag and typed arguments. Free text (messages,
 * responses) comes back percent-decoded; U lines keep their value list encoded (update-line.ts reads
 * it against the item's previous values). Pure: shared by anything that talks to an origin.
 */
import { unquote } from './update-line.ts';

export type ServerLine =
  | { readonly tag: 'WSOK' }
  | { readonly tag: 'CONOK'; readonly session: string; readonly requestLimit: number; readonly keepaliveMs: number; readonly controlLink: string }
  | { readonly tag: 'CONERR'; readonly code: number; readonly message: string }
  | { readonly tag: 'END'; readonly code: number; readonly message: string }
  | { readonly tag: 'LOOP'; readonly delayMs: number }
  | { readonly tag: 'PROBE' | 'NOOP' }
  | { readonly tag: 'SYNC' | 'PROG'; readonly value: number }
  | { readonly tag: 'SERVNAME' | 'CLIENTIP'; readonly value: string }
  | { readonly tag: 'CONS'; readonly bandwidth: string }
  | { readonly tag: 'REQOK'; readonly reqId: number | null }
  | { readonly tag: 'REQERR'; readonly reqId: number; readonly code: number; readonly message: string }
  | { readonly tag: 'ERROR'; readonly code: number; readonly message: string }
  | { readonly tag: 'SUBOK'; readonly subId: number; readonly items: number; readonly fields: number }
  | { readonly tag: 'SUBCMD'; readonly subId: number; readonly items: number; readonly fields: number; readonly keyPos: number; readonly cmdPos: number }
  | { readonly tag: 'UNSUB'; readonly subId: number }
  | { readonly tag: 'CONF'; readonly subId: number; readonly maxFrequency: string; readonly filtered: boolean }
  | { readonly tag: 'EOS' | 'CS'; readonly subId: number; readonly item: number }
  | { readonly tag: 'OV'; readonly subId: number; readonly item: number; readonly lost: number }
  | { readonly tag: 'U'; readonly subId: number; readonly item: number; readonly values: string }
  | { readonly tag: 'MSGDONE'; readonly sequence: string | null; readonly prog: number; readonly response: string }
  | { readonly tag: 'MSGFAIL'; readonly sequence: string | null; readonly prog: number; readonly code: number; readonly message: string }
  | { readonly tag: 'UNKNOWN'; readonly line: string };

const int = (s: string | undefined): number => (s !== undefined && /^-?\d+$/.test(s) ? Number(s) : NaN);
const sequence = (s: string): string | null => (s === '*' ? null : unquote(s));

/** The fields of `line` split on its first `count - 1` commas: the last one keeps any commas it holds. */
function fields(line: string, count: number): string[] {
  const out: string[] = [];
  let start = 0;
  while (out.length < count - 1) {
    const comma = line.indexOf(',', start);
    if (comma < 0) break;
    out.push(line.slice(start, comma));
    start = comma + 1;
  }
  out.push(line.slice(start));
  return out;
}

export function parseServerLine(line: string): ServerLine {
  const tag = line.slice(0, line.indexOf(',') < 0 ? line.length : line.indexOf(','));
  switch (tag) {
    case 'WSOK':
    case 'PROBE':
    case 'NOOP':
      return { tag };
    case 'CONOK': {
      const [, session, limit, keepalive, link] = fields(line, 5);
      return { tag, session, requestLimit: int(limit), keepaliveMs: int(keepalive), controlLink: link ?? '*' };
    }
    case 'CONERR':
    case 'END':
    case 'ERROR': {
      const [, code, message] = fields(line, 3);
      return { tag, code: int(code), message: unquote(message ?? '') };
    }
    case 'LOOP':
      return { tag, delayMs: int(fields(line, 2)[1]) };
    case 'SYNC':
    case 'PROG':
      return { tag, value: int(fields(line, 2)[1]) };
    case 'SERVNAME':
    case 'CLIENTIP':
      return { tag, value: fields(line, 2)[1] ?? '' };
    case 'CONS':
      return { tag, bandwidth: fields(line, 2)[1] ?? '' };
    case 'REQOK': {
      const id = fields(line, 2)[1];
      return { tag, reqId: id === undefined || line === 'REQOK' ? null : int(id) };
    }
    case 'REQERR': {
      const [, reqId, code, message] = fields(line, 4);
      return { tag, reqId: int(reqId), code: int(code), message: unquote(message ?? '') };
    }
    case 'SUBOK': {
      const [, subId, items, nFields] = fields(line, 4);
      return { tag, subId: int(subId), items: int(items), fields: int(nFields) };
    }
    case 'SUBCMD': {
      const [, subId, items, nFields, keyPos, cmdPos] = fields(line, 6);
      return { tag, subId: int(subId), items: int(items), fields: int(nFields), keyPos: int(keyPos), cmdPos: int(cmdPos) };
    }
    case 'UNSUB':
      return { tag, subId: int(fields(line, 2)[1]) };
    case 'CONF': {
      const [, subId, frequency, filtered] = fields(line, 4);
      return { tag, subId: int(subId), maxFrequency: frequency ?? 'unlimited', filtered: filtered !== 'unfiltered' };
    }
    case 'EOS':
    case 'CS': {
      const [, subId, item] = fields(line, 3);
      return { tag, subId: int(subId), item: int(item) };
    }
    case 'OV': {
      const [, subId, item, lost] = fields(line, 4);
      return { tag, subId: int(subId), item: int(item), lost: int(lost) };
    }
    case 'U': {
      const [, subId, item, values] = fields(line, 4);
      return { tag, subId: int(subId), item: int(item), values: values ?? '' };
    }
    case 'MSGDONE': {
      const [, seq, prog, response] = fields(line, 4);
      return { tag, sequence: sequence(seq ?? '*'), prog: int(prog), response: unquote(response ?? '') };
    }
    case 'MSGFAIL': {
      const [, seq, prog, code, message] = fields(line, 5);
      return { tag, sequence: sequence(seq ?? '*'), prog: int(prog), code: int(code), message: unquote(message ?? '') };
    }
    default:
      return { tag: 'UNKNOWN', line };
  }
}
