/**
 * The ARI wire format (Lightstreamer's Adapter Remoting Infrastructure): one packet per line,
 * `<id>|<method>|<type>|<value>|<type>|<value>…`, typed values being `S` strings, `B` booleans
 * (`1`/`0`), `I` and `L` integers, `D` doubles, `M` mode sets (`RMDC` letters), `V` void and `E…`
 * exceptions (`E` plus a subtype letter: `EA` access, `EC` credits…, then the message).
 *
 * Strings: `#` is null, `$` the empty string, anything else percent-encoded UTF-8. Remote SDKs encode
 * two ways: the 1.8 SDKs (Node 1.5) encode every reserved character and a space as `+`; the 1.9 SDKs
 * (Java 1.6+, .NET, Python) percent-encode only `|`, CR, LF, `%`, `+` and a lone `#`/`$`. One decoder
 * reads both (a `+` is always a space: the 1.9 encoders never leave one raw). What the origin sends
 * is fully percent-encoded (`encodeURIComponent`), which every SDK decodes.
 *
 * Pure: no I/O. A malformed packet throws AriSyntaxError; the connection reports and skips it.
 */

export const NULL_TOKEN = '#';
export const EMPTY_TOKEN = '$';
export const KEEPALIVE = 'KEEPALIVE';

/** Request ids the protocol reserves for unsolicited packets. */
export const CLOSE_REQUEST_ID = '0';
export const AUTH_REQUEST_ID = '1';

export type AriMode = 'RAW' | 'MERGE' | 'DISTINCT' | 'COMMAND';
const MODE_LETTERS: Record<AriMode, string> = { RAW: 'R', MERGE: 'M', DISTINCT: 'D', COMMAND: 'C' };
const LETTER_MODES: Record<string, AriMode> = { R: 'RAW', M: 'MERGE', D: 'DISTINCT', C: 'COMMAND' };

export class AriSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AriSyntaxError';
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function encodeString(value: string | null): string {
  if (value === null) return NULL_TOKEN;
  if (value === '') return EMPTY_TOKEN;
  // encodeURIComponent refuses lone surrogates (a client may send any UTF-16): they become U+FFFD.
  return encodeURIComponent(value.replace(LONE_SURROGATE, '\uFFFD'));
}

export function decodeString(token: string): string | null {
  if (token === NULL_TOKEN) return null;
  if (token === EMPTY_TOKEN) return '';
  try {
    return decodeURIComponent(token.includes('+') ? token.replaceAll('+', ' ') : token);
  } catch {
    throw new AriSyntaxError(`bad percent-encoding in ${abbreviate(token)}`);
  }
}

export function encodeModes(modes: readonly AriMode[]): string {
  if (modes.length === 0) return EMPTY_TOKEN;
  return modes.map((m) => MODE_LETTERS[m]).join('');
}

export function decodeModes(token: string): AriMode[] | null {
  if (token === NULL_TOKEN) return null;
  if (token === EMPTY_TOKEN) return [];
  const modes: AriMode[] = [];
  for (const letter of token) {
    const mode = LETTER_MODES[letter];
    if (!mode) throw new AriSyntaxError(`unknown mode letter ${abbreviate(letter)}`);
    if (!modes.includes(mode)) modes.push(mode);
  }
  return modes;
}

/** One packet as read: its id, its method and the typed values after them. */
export interface AriPacket {
  readonly id: string;
  readonly method: string;
  readonly args: readonly string[];
}

/**
 * Splits a line (without its line break) into a packet. `KEEPALIVE` has no id; a notification's id is
 * the remote's timestamp; a reply's id is the request's.
 */
export function parsePacket(line: string): AriPacket {
  if (line === KEEPALIVE) return { id: '', method: KEEPALIVE, args: [] };
  const tokens = line.split('|');
  if (tokens.length < 2 || tokens[0] === '' || tokens[1] === '') throw new AriSyntaxError(`not an ARI packet: ${abbreviate(line)}`);
  return { id: tokens[0], method: tokens[1], args: tokens.slice(2) };
}

/** A packet's line, with the CRLF every SDK accepts. Values must be encoded already. */
export function packetLine(id: string, method: string, args: readonly string[] = []): string {
  return args.length === 0 ? `${id}|${method}\r\n` : `${id}|${method}|${args.join('|')}\r\n`;
}

/** Reads a packet's typed values in order, failing with the packet's name on the first surprise. */
export class ArgReader {
  #at = 0;

  constructor(
    private readonly packet: AriPacket,
  ) {}

  get done(): boolean {
    return this.#at >= this.packet.args.length;
  }

  /** The type letter(s) of the next value, without consuming it. */
  peekType(): string | undefined {
    return this.packet.args[this.#at];
  }

  string(): string | null {
    return decodeString(this.#value('S'));
  }

  /** A string the protocol never sends as null. */
  requiredString(): string {
    const s = this.string();
    if (s === null) throw this.#error('unexpected null');
    return s;
  }

  boolean(): boolean {
    const v = this.#value('B');
    if (v !== '0' && v !== '1') throw this.#error(`bad boolean ${abbreviate(v)}`);
    return v === '1';
  }

  int(type: 'I' | 'L' = 'I'): number | null {
    const v = this.#value(type);
    if (v === NULL_TOKEN) return null;
    if (!/^-?\d{1,15}$/.test(v)) throw this.#error(`bad integer ${abbreviate(v)}`);
    return Number(v);
  }

  double(): number | null {
    const v = this.#value('D');
    if (v === NULL_TOKEN) return null;
    const n = Number(v);
    if (v === '' || Number.isNaN(n)) throw this.#error(`bad number ${abbreviate(v)}`);
    return n;
  }

  modes(): AriMode[] | null {
    return decodeModes(this.#value('M'));
  }

  /** Name/value string pairs up to the end (init parameters, headers, context properties). */
  pairs(): Map<string, string | null> {
    const pairs = new Map<string, string | null>();
    while (!this.done) {
      const name = this.string();
      const value = this.string();
      if (name !== null) pairs.set(name, value);
    }
    return pairs;
  }

  /** Skips one typed value of the given type. */
  skip(type: string): void {
    this.#value(type);
  }

  #value(type: string): string {
    const args = this.packet.args;
    if (this.#at + 1 >= args.length) throw this.#error(`missing ${type} value`);
    const t = args[this.#at];
    if (t !== type) throw this.#error(`expected type ${type}, found ${abbreviate(t)}`);
    const v = args[this.#at + 1];
    this.#at += 2;
    return v;
  }

  #error(what: string): AriSyntaxError {
    return new AriSyntaxError(`${this.packet.method}: ${what}`);
  }
}

/**
 * The outcome of a request as the remote answered it: a value list, or an exception with its
 * subtype letter (`''` for a generic one), message and, for credits and conflicting-session
 * exceptions, the client's code and message.
 */
export type AriReply =
  | { readonly ok: true; readonly reader: ArgReader }
  | { readonly ok: false; readonly kind: string; readonly message: string; readonly clientCode: number | null; readonly clientMessage: string | null };

export function readReply(packet: AriPacket): AriReply {
  const first = packet.args[0];
  if (first === undefined || !first.startsWith('E')) return { ok: true, reader: new ArgReader(packet) };
  const kind = first.slice(1);
  const message = decodeString(packet.args[1] ?? NULL_TOKEN) ?? '';
  if (kind === 'C' || kind === 'X') {
    const code = Number(packet.args[2]);
    return {
      ok: false,
      kind,
      message,
      clientCode: Number.isInteger(code) ? code : null,
      clientMessage: packet.args[3] === undefined ? null : decodeString(packet.args[3]),
    };
  }
  return { ok: false, kind, message, clientCode: null, clientMessage: null };
}

/** `S|<encoded>` for each value. */
export function stringArgs(...values: Array<string | null>): string[] {
  const out: string[] = [];
  for (const v of values) out.push('S', encodeString(v));
  return out;
}

export function abbreviate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
}
