/**
 * Child process holding the benchmark's client connections, so their cost never lands on the
 * server's CPU account. Driven over IPC by the bench:
 *   {type:'open', ...OpenRequest} → {type:'opened', open, failed}
 *   {type:'count'}                → {type:'count', received}   (U lines so far)
 *   {type:'health', staleMs}      → {type:'health', ...StreamHealth}   (tlcp-ws sessions once ready)
 *   {type:'mark'}                 → {type:'marked'}   (each tlcp-ws session notes its shard now, and
 *                                   from then on what it sees of a move: see SessionFate)
 *   {type:'fates'}                → {type:'fates', fates: SessionFate[]}
 * It exits when the bench goes away.
 */
import http from 'node:http';
import WebSocket from 'ws';

export type ClientKind =
  /** TLCP WS-STREAMING: wsok, create_session, optionally one MERGE subscription (LS_ack=false). */
  | 'tlcp-ws'
  /** TLCP HTTP-STREAMING create_session, held open. */
  | 'tlcp-http'
  /** A bare WebSocket to the raw server. */
  | 'raw-ws'
  /** A held streaming response from the raw server. */
  | 'raw-http';

export interface OpenRequest {
  readonly url: string;
  readonly kind: ClientKind;
  readonly count: number;
  /** Items of the MERGE subscription every tlcp-ws session makes; none: idle sessions. */
  readonly items?: readonly string[];
  readonly fields?: readonly string[];
  /**
   * tlcp-ws: a session that has no CONOK (or SUBOK, when subscribing) this long after its socket was
   * asked for counts as failed and is closed; without it the bench waits as long as it takes.
   */
  readonly readyTimeoutMs?: number;
}

/** What became of the tlcp-ws sessions that got ready, at one moment. */
export interface StreamHealth {
  /** Received an update within the last `staleMs`. */
  readonly streaming: number;
  /** Open, but no update within the last `staleMs`. */
  readonly stalled: number;
  /** Closed (by the server or by an error) after getting ready. */
  readonly closed: number;
  /** A few of the reasons sessions closed, as `<count>× <reason>`. */
  readonly closeReasons: readonly string[];
}

/**
 * What one tlcp-ws session saw since the last mark, for a bench that moves its upstream (mode
 * `session`): times are epoch milliseconds (`performance.timeOrigin + performance.now()`), comparable
 * across the bench's processes.
 */
export interface SessionFate {
  /** The session id of its CONOK: a session the edge keeps never gets another (a WebSocket binds once). */
  readonly session: string;
  /** SERVNAME at the mark: the shard serving its upstream then. */
  readonly shardAtMark: string | null;
  /** SERVNAME now. */
  readonly shard: string | null;
  /** When a SERVNAME naming another shard than the mark's first came; null if none did. */
  readonly movedAt: number | null;
  /** The first update after that SERVNAME: the first one the new upstream delivered. */
  readonly backAt: number | null;
  /** Lines since the mark that a session kept whole never gets (END, CONERR, REQERR, SUBOK again…), a few. */
  readonly unexpected: readonly string[];
  /** Why its socket ended, if it did. */
  readonly ended: string | null;
}

/** Lines a streaming session gets in normal operation; anything else after the mark is reported. */
const ORDINARY = new Set(['U', 'PROBE', 'SERVNAME', 'CLIENTIP', 'CONS', 'SYNC', 'NOOP', 'PROG', 'CONF', 'REQOK', 'MSGDONE']);
const now = () => performance.timeOrigin + performance.now();

const SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
const CONCURRENCY = 100;
const U = 0x55;
const COMMA = 0x2c;
const NEWLINE_U = Buffer.from('\nU,');

let received = 0;
const held: Array<{ close(): void }> = [];
/** A tlcp-ws session once ready: when it last received an update, and why it ended, if it did. */
interface Stream {
  readonly session: string;
  lastUpdateAt: number;
  ended: string | null;
  shard: string | null;
  shardAtMark: string | null;
  movedAt: number | null;
  backAt: number | null;
  unexpected: string[];
}
const streams: Stream[] = [];
let marked = false;

/** Notes what a mark-watching session needs of a frame's lines (SERVNAME, unexpected lines, the first update after a move). */
function watchLines(stream: Stream, text: string): void {
  for (const line of text.split('\r\n')) {
    if (line === '') continue;
    const comma = line.indexOf(',');
    const tag = comma < 0 ? line : line.slice(0, comma);
    if (tag === 'U') {
      if (stream.movedAt !== null && stream.backAt === null) stream.backAt = now();
    } else if (tag === 'SERVNAME') {
      stream.shard = line.slice('SERVNAME,'.length);
      if (marked && stream.movedAt === null && stream.shard !== stream.shardAtMark) stream.movedAt = now();
    } else if (marked && !ORDINARY.has(tag) && stream.unexpected.length < 5) {
      stream.unexpected.push(line);
    }
  }
}

function mark(): void {
  marked = true;
  for (const s of streams) {
    s.shardAtMark = s.shard;
    s.movedAt = null;
    s.backAt = null;
    s.unexpected = [];
  }
}

const fates = (): SessionFate[] =>
  streams.map((s) => ({ session: s.session, shardAtMark: s.shardAtMark, shard: s.shard, movedAt: s.movedAt, backAt: s.backAt, unexpected: s.unexpected, ended: s.ended }));

/** Counts `U,` lines in a chunk (a line never spans frames or, for HTTP, is rare enough to ignore); returns how many. */
function countUpdates(data: Buffer): number {
  let found = data[0] === U && data[1] === COMMA ? 1 : 0;
  for (let i = data.indexOf(NEWLINE_U); i >= 0; i = data.indexOf(NEWLINE_U, i + 3)) found++;
  received += found;
  return found;
}

function health(staleMs: number): StreamHealth {
  const now = Date.now();
  let streaming = 0;
  let stalled = 0;
  const reasons = new Map<string, number>();
  for (const s of streams) {
    if (s.ended !== null) reasons.set(s.ended, (reasons.get(s.ended) ?? 0) + 1);
    else if (now - s.lastUpdateAt > staleMs) stalled++;
    else streaming++;
  }
  const closeReasons = [...reasons].slice(0, 5).map(([reason, n]) => `${n}× ${reason}`);
  return { streaming, stalled, closed: streams.length - streaming - stalled, closeReasons };
}

function openTlcpWs(req: OpenRequest, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${req.url.replace(/^http/, 'ws')}/lightstreamer`, SUBPROTOCOL, { perMessageDeflate: false });
    const subscribing = req.items && req.items.length > 0;
    let stream: Stream | null = null;
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`session ${n}: ${why}`));
    };
    const timer =
      req.readyTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            fail(`no ${subscribing ? 'SUBOK' : 'CONOK'} within ${req.readyTimeoutMs} ms`);
            ws.terminate();
          }, req.readyTimeoutMs);
    ws.on('open', () => {
      ws.send('wsok');
      ws.send(`create_session\r\nLS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false&LS_keepalive_millis=5000`);
      if (subscribing) {
        const group = encodeURIComponent(req.items!.join(' '));
        const schema = encodeURIComponent(req.fields!.join(' '));
        ws.send(`control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=${group}&LS_schema=${schema}&LS_snapshot=false&LS_ack=false`);
      }
    });
    // Until it is ready: the session id of its CONOK and the shard of the last SERVNAME.
    let session = '';
    let shard: string | null = null;
    ws.on('message', (data: Buffer) => {
      if (stream) {
        const updates = countUpdates(data);
        if (updates > 0) stream.lastUpdateAt = Date.now();
        // One update alone (the usual frame) needs no reading; anything else might be a move or a fault.
        if (data[0] !== U || data.indexOf('\r\n') < data.length - 2) watchLines(stream, data.toString());
        else if (stream.movedAt !== null) stream.backAt ??= now();
        return;
      }
      const text = data.toString();
      if (text.startsWith('CONERR') || text.includes('\nCONERR') || text.startsWith('REQERR')) fail(text.trim());
      session ||= /(?:^|\n)CONOK,([^,]+),/.exec(text)?.[1] ?? '';
      shard = /(?:^|\n)SERVNAME,([^\r]*)/.exec(text)?.[1] ?? shard;
      if (subscribing ? /(^|\n)SUBOK,/.test(text) : /(^|\n)CONOK,/.test(text)) {
        clearTimeout(timer);
        stream = { session, lastUpdateAt: Date.now(), ended: null, shard, shardAtMark: null, movedAt: null, backAt: null, unexpected: [] };
        streams.push(stream);
        resolve();
      }
      countUpdates(data);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      const why = `closed ${code}${reason.length > 0 ? ` ${reason.toString()}` : ''}`;
      if (stream) stream.ended ??= why;
      else fail(why);
    });
    ws.on('error', (err) => {
      if (stream) stream.ended ??= `error ${err.message}`;
      else fail(err.message);
    });
    held.push(ws);
  });
}

function openRawWs(req: OpenRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${req.url.replace(/^http/, 'ws')}/lightstreamer`, SUBPROTOCOL, { perMessageDeflate: false });
    ws.on('open', () => resolve());
    ws.on('message', countUpdates);
    ws.on('error', reject);
    held.push(ws);
  });
}

function openHttpStream(req: OpenRequest, tlcp: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const path = tlcp ? '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0' : '/stream';
    const body = 'LS_polling=false&LS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false&LS_keepalive_millis=5000&LS_content_length=100000000\r\n';
    const request = http.request(`${req.url}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'text/plain; charset=utf-8' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      let ready = false;
      res.on('data', (chunk: Buffer) => {
        if (!ready && chunk.includes('CONOK,')) {
          ready = true;
          resolve();
        }
        countUpdates(chunk);
      });
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
    held.push({ close: () => request.destroy() });
  });
}

async function open(req: OpenRequest): Promise<{ open: number; failed: string[] }> {
  const failed: string[] = [];
  let next = 0;
  let open = 0;
  const worker = async () => {
    while (next < req.count) {
      const n = next++;
      try {
        if (req.kind === 'tlcp-ws') await openTlcpWs(req, n);
        else if (req.kind === 'raw-ws') await openRawWs(req);
        else await openHttpStream(req, req.kind === 'tlcp-http');
        open++;
      } catch (err) {
        if (failed.length < 5) failed.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { open, failed };
}

process.on('message', (message: { type: string; staleMs?: number } & Partial<OpenRequest>) => {
  if (message.type === 'open') {
    void open(message as OpenRequest).then((r) => process.send!({ type: 'opened', ...r }));
  } else if (message.type === 'count') {
    process.send!({ type: 'count', received });
  } else if (message.type === 'health') {
    process.send!({ type: 'health', ...health(message.staleMs ?? 0) });
  } else if (message.type === 'mark') {
    mark();
    process.send!({ type: 'marked' });
  } else if (message.type === 'fates') {
    process.send!({ type: 'fates', fates: fates() });
  }
});
process.on('disconnect', () => {
  for (const c of held) c.close();
  process.exit(0);
});
