/**
 * fast-check arbitraries for TLCP traffic: HTTP requests to the five endpoints and WebSocket sockets
 * with their frames, from well-formed requests of the DEMO adapter set to hostile garbage.
 *
 * Cases are plain data (what to send, not the bytes), so fast-check shrinks them and prints the
 * shrunk case: request lines are lists of parameters with their mutations, and a session is named
 * by reference — one of the fuzzer's own sessions, a junk id, or none — resolved to a live id only
 * when the case is sent (`wire`), since sessions exist only at run time.
 */
import fc from 'fast-check';

export const ENDPOINTS = ['create_session', 'bind_session', 'control', 'msg', 'heartbeat'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** A session of the fuzzer's own pool (index modulo its size), a junk id, or the empty string. */
export type SessionRef = { readonly own: number } | { readonly junk: string };
export type Value = string | { readonly session: SessionRef };
export type Param = readonly [name: string, value: Value];

/** A mutation of a request line's text, after its parameters are joined. */
export type TextMutation =
  | { readonly truncateAt: number }
  | { readonly flip: number; readonly bit: number }
  | { readonly dropEquals: number }
  | { readonly insert: number; readonly text: string };

export interface Line {
  readonly params: readonly Param[];
  /** Values percent-encoded as the official client does, or sent as they are (hostile). */
  readonly encode: boolean;
  readonly mutations: readonly TextMutation[];
}

export type Body =
  | { readonly lines: readonly Line[]; readonly separator: '\r\n' | '\n' | '\r' | '&' }
  | { readonly bytes: Uint8Array }
  /** That many bytes of text, made when sent (a generated 300 KB value would slow generation down). */
  | { readonly oversized: number };

export interface HttpCase {
  /** Which of the target's host names the Host header carries (the edge's domains), modulo their count. */
  readonly host: number;
  readonly method: string;
  /** A path prefix before `/lightstreamer/`: a control link's path, the edge's `/s/<shard>`, junk. */
  readonly prefix: string;
  readonly name: string;
  /** The query string without `?`; LS_session may be in it (control, msg, heartbeat). */
  readonly query: readonly Param[] | string;
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly body: Body;
}

/** A header value, or a large one made when sent. */
export type HeaderValue = string | { readonly repeat: string; readonly times: number };

export interface WsFrame {
  /** `wsok`, a request name, or junk; null: a binary frame of `bytes`. */
  readonly name: string | null;
  readonly lines: readonly Line[];
  readonly bytes?: Uint8Array;
}

export interface WsCase {
  readonly host: number;
  readonly prefix: string;
  /** Subprotocols offered in the upgrade; the TLCP one or not. */
  readonly protocols: readonly string[];
  readonly headers: Readonly<Record<string, HeaderValue>>;
  /** What precedes the fuzzed frames: nothing, `wsok`, a well-formed create, or a bind of an own session. */
  readonly prelude: 'none' | 'wsok' | 'create' | 'create-polling' | 'bind-own';
  readonly frames: readonly WsFrame[];
}

// Values ----------------------------------------------------------------------------------------

const QUOTE_ITEMS = Array.from({ length: 30 }, (_, i) => `item${i + 1}`);
const QUOTE_FIELDS = ['stock_name', 'last_price', 'time', 'pct_change', 'bid_quantity', 'bid', 'ask', 'ask_quantity', 'min', 'max', 'ref_price', 'open_price'];

const smallInt = fc.nat({ max: 20 }).map(String);
const reqId = fc.nat({ max: 1_000_000 }).map(String);

/** Values a hostile client sends anywhere: numbers out of any range, bad encodings, separators, floods. */
export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '', '-1', '0', '-0', 'NaN', 'Infinity', '-Infinity', '1.5', '0.0000001', '1e308', '1e-308', '2147483648', '4294967296',
      '9007199254740993', '99999999999999999999', '0x10', ' 1', '1 ', '+1', '%zz', '%', '%E0%A4%A', '%00', '%0D%0A', '%2C',
      '%26', '%3D', '☃', '%F0%9F%92%A9', '\u0000', 'true', 'false', 'null', 'undefined', '*', ',', '|', '&', '=', '#', '$', '^',
      '\r\n', '\n', '\r', 'REQOK', 'CONOK,x,1,1,*', 'unlimited', 'unfiltered', 'UNORDERED_MESSAGES', 'item1 item1 item1',
    ),
  },
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.integer().map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String) },
  // Floods: 10 KB of one character, a group of 2,000 items.
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(10_000), '%'.repeat(1_000), ','.repeat(1_000), '9'.repeat(1_000), 'item1 '.repeat(2_000)) },
);

const sessionRef: fc.Arbitrary<SessionRef> = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 50 }).map((own) => ({ own })) },
  { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', 's1.AAAA', 'nosuchshard.abc', '../../etc', 'S' + 'x'.repeat(300)), hostileValue).map((junk) => ({ junk })) },
);

const sessionValue: fc.Arbitrary<Value> = sessionRef.map((session) => ({ session }));

const group = fc.oneof(
  fc.constantFrom(...QUOTE_ITEMS, 'chat_room', 'portfolio1', 'portfolio2', 'fuzz-a', 'fuzz.b', 'item1 item2', 'item31', 'bad,item', 'a|b'),
  fc.array(fc.constantFrom(...QUOTE_ITEMS), { minLength: 1, maxLength: 12 }).map((items) => items.join(' ')),
  fc.constantFrom(1001, 3000).map((n) => Array(n).fill('item1').join(' ')),
);
const schema = fc.oneof(
  fc.subarray(QUOTE_FIELDS, { minLength: 1 }).map((f) => f.join(' ')),
  fc.constantFrom('key command qty', 'message raw_timestamp IP', 'v', 'nosuchfield', 'key command', 'command'),
  fc.constantFrom(1001).map((n) => Array.from({ length: n }, (_, i) => `f${i}`).join(' ')),
);
const dataAdapter = fc.constantFrom('QUOTE_ADAPTER', 'CHAT_ROOM', 'PORTFOLIO_ADAPTER', 'FEED', 'NOSUCH');
const mode = fc.constantFrom('MERGE', 'DISTINCT', 'COMMAND', 'RAW', 'merge', 'NONE');
const frequency = fc.oneof(fc.constantFrom('unlimited', 'unfiltered', '0.01', '1', '10', '0.5', '100'), fc.double({ min: 0, max: 1000, noNaN: true }).map(String));
const message = fc.oneof(
  fc.constantFrom('CHAT|hello', 'CHAT|', 'BUY|portfolio1|item1|10', 'SELL|portfolio2|item3|5', 'BUY|portfolio1|item1|-5', 'BUY|nosuch|item1|1', 'SELL|portfolio1|item99|1', 'hello', ''),
  fc.string({ maxLength: 40 }).map((s) => `CHAT|${s}`),
);

/** Well-formed values for each parameter the official client sends. */
const VALID: Record<string, fc.Arbitrary<Value>> = {
  LS_op: fc.constantFrom('add', 'delete', 'reconf', 'destroy', 'force_rebind', 'constrain'),
  LS_mode: mode,
  LS_group: group,
  LS_schema: schema,
  LS_data_adapter: dataAdapter,
  LS_snapshot: fc.oneof(fc.constantFrom('true', 'false'), smallInt),
  LS_requested_max_frequency: frequency,
  LS_requested_buffer_size: fc.oneof(fc.constant('unlimited'), smallInt),
  LS_reqId: reqId,
  LS_subId: fc.nat({ max: 30 }).map(String),
  LS_session: sessionValue,
  LS_polling: fc.constantFrom('true', 'false'),
  LS_polling_millis: fc.constantFrom('0', '100', '1000'),
  LS_idle_millis: fc.constantFrom('0', '100', '500'),
  LS_keepalive_millis: fc.constantFrom('0', '1000', '5000'),
  LS_content_length: fc.constantFrom('256', '1000', '50000000'),
  LS_inactivity_millis: fc.constantFrom('0', '5000'),
  LS_message: message,
  LS_sequence: fc.constantFrom('seq1', 'seq2', 'Q_1', 'UNORDERED_MESSAGES'),
  LS_msg_prog: fc.nat({ max: 30 }).map(String),
  LS_max_wait: fc.constantFrom('0', '100', '1000'),
  LS_outcome: fc.constantFrom('true', 'false'),
  LS_ack: fc.constantFrom('true', 'false'),
  LS_adapter_set: fc.constantFrom('DEMO', 'DEMO', 'NOSUCH'),
  LS_user: fc.constantFrom('user', ''),
  LS_password: fc.constantFrom('secret', ''),
  LS_cid: fc.constant('mgQkwtwdysogQz2BJ4Ji kOj2Bg'),
  LS_recovery_from: fc.nat({ max: 100 }).map(String),
  LS_cause_code: fc.constantFrom('31', '48', '0'),
  LS_cause_message: fc.string({ maxLength: 20 }),
  LS_send_sync: fc.constantFrom('true', 'false'),
  LS_requested_max_bandwidth: fc.constantFrom('unlimited', '10', '0.5'),
  LS_protocol: fc.constant('TLCP-2.5.0'),
  LS_selector: fc.constantFrom('', 'sel'),
  LS_close_socket: fc.constantFrom('true', 'false'),
  LS_ttl_millis: fc.constantFrom('unlimited', '1000'),
  LS_reduce_head: fc.constantFrom('true', 'false'),
};
const PARAM_NAMES = Object.keys(VALID);

const value = (name: string): fc.Arbitrary<Value> =>
  fc.oneof({ weight: 3, arbitrary: VALID[name] ?? hostileValue }, { weight: 1, arbitrary: hostileValue });

const param = (name: string): fc.Arbitrary<Param> => value(name).map((v) => [name, v] as const);
const validParam = (name: string): fc.Arbitrary<Param> => VALID[name].map((v) => [name, v] as const);

/** Any parameter: a real name or junk, with any value. */
const anyParam: fc.Arbitrary<Param> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...PARAM_NAMES).chain(param) },
  { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.constantFrom('LS_', 'ls_op', 'LS_OP', '', 'LS_reqId ', '%4C%53_op'), fc.string({ maxLength: 12 })), hostileValue) },
);

// Request lines ---------------------------------------------------------------------------------

/**
 * What an add names, consistent as a real application's subscription is: an adapter, its items, its
 * fields and a mode it allows, so that many adds succeed and later lines meet live subscriptions.
 */
const coherentSubscription: fc.Arbitrary<Param[]> = fc
  .oneof(
    fc.record({
      LS_data_adapter: fc.constant('QUOTE_ADAPTER'),
      LS_group: fc.subarray(QUOTE_ITEMS, { minLength: 1, maxLength: 6 }).map((i) => i.join(' ')),
      LS_schema: fc.subarray(QUOTE_FIELDS, { minLength: 1 }).map((f) => f.join(' ')),
      LS_mode: fc.constantFrom('MERGE', 'DISTINCT', 'RAW'),
    }),
    fc.record({
      LS_data_adapter: fc.constantFrom('FEED'),
      LS_group: fc.constantFrom('fuzz-a', 'fuzz.b fuzz-a', 'item1'),
      LS_schema: fc.constantFrom('v', 'v w', 'key command v'),
      LS_mode: fc.constantFrom('MERGE', 'DISTINCT', 'RAW', 'COMMAND'),
    }),
    fc.record({ LS_data_adapter: fc.constant('CHAT_ROOM'), LS_group: fc.constant('chat_room'), LS_schema: fc.constantFrom('message raw_timestamp IP', 'message'), LS_mode: fc.constantFrom('DISTINCT', 'MERGE') }),
    fc.record({ LS_data_adapter: fc.constant('PORTFOLIO_ADAPTER'), LS_group: fc.constantFrom('portfolio1', 'portfolio2'), LS_schema: fc.constant('key command qty'), LS_mode: fc.constant('COMMAND') }),
  )
  .chain((sub) =>
    fc
      .record(
        {
          LS_snapshot: sub.LS_mode === 'DISTINCT' ? fc.constantFrom('true', 'false', '5') : fc.constantFrom('true', 'false'),
          LS_requested_max_frequency: sub.LS_mode === 'RAW' ? fc.constantFrom('unlimited', '1') : fc.constantFrom('unlimited', 'unfiltered', '1', '0.5'),
          LS_requested_buffer_size: fc.constantFrom('unlimited', '10'),
        },
        { requiredKeys: [] },
      )
      .map((extra) => Object.entries({ ...sub, ...extra }) as Param[]),
  );

/**
 * The parameters the official client sends for a request: half of the time every value well-formed
 * (as the official client would send them), otherwise some out of range or hostile.
 */
function requestParams(kind: Endpoint | 'any'): fc.Arbitrary<Param[]> {
  const fixed = (names: string[], optional: string[]) =>
    fc.boolean().chain((wellFormed) => {
      const p = (n: string) => (wellFormed ? validParam(n) : param(n));
      return fc.tuple(fc.tuple(...names.map(p)), fc.subarray(optional, { maxLength: Math.min(4, optional.length) }).chain((o) => fc.tuple(...o.map(p)))).map(([a, b]) => [...a, ...b]);
    });
  switch (kind) {
    case 'create_session':
      return fixed(['LS_cid', 'LS_adapter_set'], ['LS_polling', 'LS_polling_millis', 'LS_idle_millis', 'LS_keepalive_millis', 'LS_content_length', 'LS_inactivity_millis', 'LS_user', 'LS_password', 'LS_send_sync', 'LS_requested_max_bandwidth', 'LS_ttl_millis', 'LS_reduce_head']);
    case 'bind_session':
      return fixed(['LS_session'], ['LS_polling', 'LS_polling_millis', 'LS_idle_millis', 'LS_keepalive_millis', 'LS_content_length', 'LS_inactivity_millis', 'LS_recovery_from', 'LS_send_sync']);
    case 'msg':
      return fixed(['LS_reqId', 'LS_message'], ['LS_sequence', 'LS_msg_prog', 'LS_max_wait', 'LS_outcome', 'LS_ack', 'LS_session']);
    case 'heartbeat':
      return fixed([], ['LS_session', 'LS_inactivity_millis']);
    case 'control':
      return fc.oneof(
        fc.tuple(validParam('LS_reqId'), validParam('LS_subId'), coherentSubscription, fixed([], ['LS_ack', 'LS_session'])).map(([id, sub, add, rest]) => [id, ['LS_op', 'add'] as Param, sub, ...add, ...rest]),
        fixed(['LS_reqId', 'LS_op', 'LS_subId', 'LS_mode', 'LS_group', 'LS_schema'], ['LS_data_adapter', 'LS_snapshot', 'LS_requested_max_frequency', 'LS_requested_buffer_size', 'LS_ack', 'LS_selector', 'LS_session']),
        fixed(['LS_reqId', 'LS_op', 'LS_subId'], ['LS_requested_max_frequency', 'LS_ack', 'LS_session']),
        fixed(['LS_reqId', 'LS_op'], ['LS_cause_code', 'LS_cause_message', 'LS_polling_millis', 'LS_close_socket', 'LS_requested_max_bandwidth', 'LS_session']),
      );
    case 'any':
      return fc.array(anyParam, { maxLength: 10 });
  }
}

/** Mutations of a request: parameters dropped, repeated, swapped or replaced. */
type ParamMutation = { readonly drop: number } | { readonly duplicate: number } | { readonly swap: [number, number] } | { readonly replace: number; readonly with: Param };

const paramMutation: fc.Arbitrary<ParamMutation> = fc.oneof(
  fc.nat().map((drop) => ({ drop })),
  fc.nat().map((duplicate) => ({ duplicate })),
  fc.tuple(fc.nat(), fc.nat()).map((swap) => ({ swap })),
  fc.tuple(fc.nat(), anyParam).map(([replace, w]) => ({ replace, with: w })),
);

function mutateParams(params: Param[], mutations: readonly ParamMutation[]): Param[] {
  const out = [...params];
  for (const m of mutations) {
    if (out.length === 0) break;
    if ('drop' in m) out.splice(m.drop % out.length, 1);
    else if ('duplicate' in m) out.splice(m.duplicate % out.length, 0, out[m.duplicate % out.length]);
    else if ('swap' in m) {
      const [i, j] = [m.swap[0] % out.length, m.swap[1] % out.length];
      [out[i], out[j]] = [out[j], out[i]];
    } else out[m.replace % out.length] = m.with;
  }
  return out;
}

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.nat().map((truncateAt) => ({ truncateAt })),
  fc.tuple(fc.nat(), fc.nat({ max: 7 })).map(([flip, bit]) => ({ flip, bit })),
  fc.nat().map((dropEquals) => ({ dropEquals })),
  fc.tuple(fc.nat(), fc.constantFrom('&', '=', '&&', '%', '\r\n', ',', '|', '%zz', '&LS_reqId=1', '&LS_op=destroy')).map(([insert, text]) => ({ insert, text })),
);

/**
 * A request line of `kind`: mostly what the official client sends, with values out of range; a
 * third of them mutated (parameters dropped, repeated, swapped, replaced; then the text cut,
 * bit-flipped, or given stray separators).
 */
export function line(kind: Endpoint | 'any'): fc.Arbitrary<Line> {
  return fc
    .record({
      params: fc.tuple(requestParams(kind), fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(paramMutation, { minLength: 1, maxLength: 3 }) })).map(([p, m]) => mutateParams(p, m)),
      encode: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      mutations: fc.oneof({ weight: 5, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(textMutation, { minLength: 1, maxLength: 2 }) }),
    });
}

// HTTP ------------------------------------------------------------------------------------------

const header = (repeat: string, times: number): HeaderValue => ({ repeat, times });

/** Mostly the official client's content type; sometimes others, an Origin, cookies, large headers. */
function headers(extra: Record<string, fc.Arbitrary<HeaderValue>>): fc.Arbitrary<Record<string, HeaderValue>> {
  const usual = fc.constantFrom<Record<string, HeaderValue>>({ 'content-type': 'text/plain; charset=utf-8' }, { 'content-type': 'text/plain; charset=utf-8' }, {});
  const unusual = fc.record(
    {
      'content-type': fc.constantFrom('text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/json', 'text/plain; charset=latin1', 'multipart/form-data; boundary=x', '', 'garbage'),
      origin: fc.constantFrom('https://example.com', 'null', 'http://127.0.0.1'),
      cookie: fc.oneof(fc.constantFrom('a=b', 'edgepush_sticky=forged.value', 'edgepush_sticky='), fc.constant(header('x', 20_000))),
      'x-junk': fc.constantFrom(header('y', 10_000), header('y', 20_000), '\u00ff'),
      ...extra,
    },
    { requiredKeys: [] },
  );
  return fc.oneof({ weight: 5, arbitrary: usual }, { weight: 1, arbitrary: unusual });
}

/** Request header arbitraries for the edge: the client address it believes locally, and a Host. */
export const EDGE_HEADERS = {
  'cf-connecting-ip': fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('garbage', '', '::ffff:10.0.0.1', '127.0.0.1, 10.0.0.1')),
  'x-forwarded-for': fc.constantFrom('10.0.0.1', 'garbage'),
  'x-edge-secret': fc.constantFrom('guess', 'x'.repeat(40)),
};

/** Bodies: request lines (several for control and msg batches), raw bytes, or too many bytes. */
function body(kind: Endpoint | 'any'): fc.Arbitrary<Body> {
  const many = kind === 'control' || kind === 'msg' || kind === 'any';
  return fc.oneof(
    { weight: 12, arbitrary: fc.record({ lines: fc.array(fc.oneof({ weight: 4, arbitrary: line(kind) }, { weight: 1, arbitrary: line('any') }), { minLength: many ? 0 : 1, maxLength: many ? 8 : 2 }), separator: fc.constantFrom('\r\n', '\r\n', '\r\n', '\n', '\r', '&') }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })) },
    { weight: 1, arbitrary: fc.constantFrom(256 * 1024 + 1, 300_000, 5_000_000).map((oversized) => ({ oversized })) },
  );
}

const prefix = (shards: readonly string[]) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.constant('') },
    { weight: 2, arbitrary: fc.constantFrom(...shards.map((s) => `/s/${s}`)) },
    { weight: 1, arbitrary: fc.constantFrom('/s/nosuch', '/foo', '/a/b/c', '/s', '//evil.example', '/%2e%2e', '/s/' + shards[0] + '/x') },
  );

/** One HTTP request: an endpoint and a body of its kind, sometimes of any kind, sometimes not TLCP at all. */
export function httpCase(options: { shards: readonly string[]; edge: boolean }): fc.Arbitrary<HttpCase> {
  return fc
    .oneof(
      { weight: 10, arbitrary: fc.constantFrom(...ENDPOINTS) },
      { weight: 1, arbitrary: fc.constantFrom('healthcheck_', 'create', 'CONTROL', 'control.txt', 'foo', '') },
    )
    .chain((name) => {
      const kind: Endpoint | 'any' = (ENDPOINTS as readonly string[]).includes(name) ? (name as Endpoint) : 'any';
      return fc.record({
        host: fc.nat({ max: 99 }),
        method: fc.oneof({ weight: 20, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'FOO') }),
        prefix: prefix(options.shards),
        name: fc.constant(name),
        query: fc.oneof(
          { weight: 2, arbitrary: fc.constant([['LS_protocol', 'TLCP-2.5.0']] as Param[]) },
          { weight: 5, arbitrary: fc.tuple(validParam('LS_session')).map(([s]) => [['LS_protocol', 'TLCP-2.5.0'], s] as Param[]) },
          { weight: 1, arbitrary: fc.array(anyParam, { maxLength: 4 }) },
          { weight: 1, arbitrary: fc.constantFrom('', '%zz', 'LS_session', '&&&', 'a=b=c', 'LS_session=%E0%A4') },
        ),
        headers: headers(options.edge ? EDGE_HEADERS : {}),
        body: body(kind),
      });
    });
}

// WebSocket -------------------------------------------------------------------------------------

const WS_NAMES = ['control', 'msg', 'heartbeat', 'create_session', 'bind_session', 'wsok'] as const;

/** One frame: a request (mostly control and msg, as on a live socket), junk names, binary data. */
export const wsFrame: fc.Arbitrary<WsFrame> = fc.oneof(
  {
    weight: 14,
    arbitrary: fc.constantFrom(...WS_NAMES, 'control', 'control', 'msg').chain((name) =>
      fc.record({ name: fc.constant<string | null>(name), lines: fc.array(fc.oneof({ weight: 4, arbitrary: line(name === 'wsok' ? 'any' : name) }, { weight: 1, arbitrary: line('any') }), { minLength: name === 'heartbeat' || name === 'wsok' ? 0 : 1, maxLength: name === 'control' || name === 'msg' ? 5 : 1 }) }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ name: fc.oneof(fc.constantFrom('', 'CONTROL', 'wsok ', 'create', 'bind_session\r', '\r\n'), fc.string({ maxLength: 12 })), lines: fc.array(line('any'), { maxLength: 2 }) }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ name: null, lines: [], bytes })) },
);

/** One socket: its upgrade, a prelude, and up to `maxFrames` fuzzed frames. */
export function wsCase(options: { shards: readonly string[]; edge: boolean; maxFrames: number }): fc.Arbitrary<WsCase> {
  return fc.record({
    host: fc.nat({ max: 99 }),
    prefix: prefix(options.shards),
    protocols: fc.oneof({ weight: 20, arbitrary: fc.constant(['TLCP-2.5.0.lightstreamer.com']) }, { weight: 1, arbitrary: fc.constantFrom([], ['chat'], ['TLCP-2.4.0.lightstreamer.com'], ['chat', 'TLCP-2.5.0.lightstreamer.com']) }),
    headers: headers(options.edge ? EDGE_HEADERS : {}),
    prelude: fc.constantFrom('none', 'wsok', 'create', 'create', 'create-polling', 'bind-own'),
    frames: fc.array(wsFrame, { minLength: 1, maxLength: options.maxFrames }),
  });
}
