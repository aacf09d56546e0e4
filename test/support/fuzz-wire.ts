/**
 * Sends fuzz cases (fuzz-tlcp.ts) to a target — an origin or the edge — and reads what comes back,
 * bounded in time: an HTTP request over node:http (exact headers and bytes), a socket over `ws`.
 * Each send resolves with the problems found in the answer (fuzz-answers.ts), empty when it was
 * acceptable, and the wire form of what was sent, so that a failing case reads as a bug report.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { closeProblem, httpAnswerProblem, linesOf, tagOf, type RequestKind } from './fuzz-answers.ts';
import { ENDPOINTS, type Body, type HeaderValue, type HttpCase, type Line, type Param, type Value, type WsCase } from './fuzz-tlcp.ts';

/** Generous: every request is answered within its deadline plus the origins' longest wait (4 s). */
export const ANSWER_TIMEOUT_MS = 20_000;
const SENTINEL_REQ_ID_BASE = 900_000_000_000;

/** The fuzzer's own sessions on one target: created by its valid creates, never anyone else's. */
export class SessionPool {
  readonly #ids: string[] = [];
  add(id: string): void {
    this.#ids.push(id);
    if (this.#ids.length > 60) this.#ids.shift();
  }
  pick(n: number): string {
    return this.#ids.length === 0 ? '' : this.#ids[n % this.#ids.length];
  }
  get size(): number {
    return this.#ids.length;
  }
}

export interface Target {
  readonly name: string;
  readonly port: number;
  /** Host headers to send, picked by the case (the edge's domains); empty: `127.0.0.1:<port>`. */
  readonly hosts: readonly string[];
  readonly pool: SessionPool;
  readonly agent: http.Agent;
}

/** Tallies for the figures: requests, and answers by class. */
export class Tally {
  readonly requests = new Map<string, number>();
  readonly answers = new Map<string, number>();
  readonly tags = new Map<string, number>();
  /** Answer times, by bucket, and the slowest exchanges seen. */
  readonly latency = new Map<string, number>();
  readonly slowest: Array<{ ms: number; sent: string }> = [];
  time(target: string, ms: number, sent: string): void {
    const bucket = ms < 10 ? '< 10 ms' : ms < 100 ? '< 100 ms' : ms < 1000 ? '< 1 s' : ms < 5000 ? '< 5 s' : '≥ 5 s';
    this.add(this.latency, `${target} ${bucket}`);
    if (this.slowest.length < 5 || ms > this.slowest[this.slowest.length - 1].ms) {
      this.slowest.push({ ms, sent: sent.slice(0, 400) });
      this.slowest.sort((a, b) => b.ms - a.ms);
      this.slowest.length = Math.min(this.slowest.length, 5);
    }
  }
  add(map: Map<string, number>, key: string, n = 1): void {
    map.set(key, (map.get(key) ?? 0) + n);
  }
}

export interface Outcome {
  /** What was sent, in wire form (shortened). */
  readonly sent: string;
  readonly problems: string[];
}

// Wire forms --------------------------------------------------------------------------------------

function valueText(v: Value, pool: SessionPool): string {
  if (typeof v === 'string') return v;
  return 'own' in v.session ? pool.pick(v.session.own) : v.session.junk;
}

function encode(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return s.replace(/[\ud800-\udfff]/g, '%EF%BF%BD'); // a lone surrogate, as UTF-8 would replace it
  }
}

export function paramsText(params: readonly Param[], encodeValues: boolean, pool: SessionPool): string {
  return params.map(([name, v]) => `${name}=${encodeValues ? encode(valueText(v, pool)) : valueText(v, pool)}`).join('&');
}

export function lineText(line: Line, pool: SessionPool): string {
  let text = paramsText(line.params, line.encode, pool);
  for (const m of line.mutations) {
    if ('truncateAt' in m) text = text.slice(0, m.truncateAt % (text.length + 1));
    else if ('flip' in m) {
      if (text.length === 0) continue;
      const i = m.flip % text.length;
      text = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ (1 << m.bit)) + text.slice(i + 1);
    } else if ('dropEquals' in m) {
      const at = [...text.matchAll(/=/g)].map((x) => x.index);
      if (at.length === 0) continue;
      const i = at[m.dropEquals % at.length];
      text = text.slice(0, i) + text.slice(i + 1);
    } else {
      const i = m.insert % (text.length + 1);
      text = text.slice(0, i) + m.text + text.slice(i);
    }
  }
  return text;
}

function bodyBytes(body: Body, pool: SessionPool): Buffer {
  if ('bytes' in body) return Buffer.from(body.bytes);
  if ('oversized' in body) return Buffer.alloc(body.oversized, 'LS_reqId=1&');
  const lines = body.lines.map((l) => lineText(l, pool));
  return Buffer.from(lines.length === 0 ? '' : lines.join(body.separator) + body.separator, 'utf8');
}

function headerText(v: HeaderValue): string {
  return typeof v === 'string' ? v : v.repeat.repeat(v.times);
}

/** A line's tag, with the code for errors: what the figures count. */
function tagKey(line: string): string {
  const tag = tagOf(line);
  const fields = line.split(',');
  if (tag === 'REQERR') return `REQERR ${fields[2]}`;
  if (tag === 'CONERR' || tag === 'ERROR' || tag === 'END') return `${tag} ${fields[1]}`;
  return tag;
}

const headerBytes = (headers: Record<string, string>) => Object.entries(headers).reduce((n, [k, v]) => n + k.length + v.length + 4, 0);

const short = (s: string, n = 600) => (s.length > n ? `${s.slice(0, n)}… (${s.length} chars)` : s);

function hostOf(target: Target, pick: number): string {
  return target.hosts.length === 0 ? `127.0.0.1:${target.port}` : `${target.hosts[pick % target.hosts.length]}:${target.port}`;
}

// HTTP --------------------------------------------------------------------------------------------

interface RawHttp {
  status: number;
  statusMessage: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  complete: boolean;
}

/** One exchange; a reused keep-alive socket the server had just closed is retried once, as Node advises. */
function exchange(target: Target, options: http.RequestOptions, payload: Buffer, cutStreams: boolean, retried = false): Promise<RawHttp> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      f();
    };
    const req = http.request({ ...options, agent: target.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        // A create or bind is cut once its first lines (one write: CONOK, SERVNAME, CLIENTIP, CONS)
        // are in, as a client that goes away would cut it: a stream runs until its content length,
        // and a poll may wait for data up to its idle time (60 s).
        if (cutStreams && res.statusCode === 200 && body.includes('\r\n')) {
          done(() => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body, complete: false }));
          req.destroy();
        }
      });
      res.on('end', () => done(() => resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body, complete: true })));
      res.on('error', (err) => done(() => reject(err)));
    });
    const deadline = setTimeout(() => {
      done(() => reject(new Error(`no complete answer within ${ANSWER_TIMEOUT_MS} ms`)));
      req.destroy();
    }, ANSWER_TIMEOUT_MS);
    req.on('error', (err) => {
      if (!settled && req.reusedSocket && !retried && (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        settled = true;
        clearTimeout(deadline);
        exchange(target, options, payload, cutStreams, true).then(resolve, reject);
        return;
      }
      done(() => reject(err));
    });
    req.end(payload);
  });
}

/** Sends one HTTP case and checks its answer. */
export async function sendHttp(target: Target, c: HttpCase, tally: Tally): Promise<Outcome> {
  const query = typeof c.query === 'string' ? c.query : paramsText(c.query, true, target.pool);
  // Node sends any byte from 0x21 to 0xff in a request line as it is (so Latin-1 junk reaches the
  // server raw) and refuses the rest: those are percent-encoded.
  const path = `${c.prefix}/lightstreamer/${c.name}.txt${query === '' ? '' : `?${query}`}`.replace(/[^\u0021-\u00ff]/g, (ch) => encode(ch));
  const payload = c.method === 'GET' || c.method === 'HEAD' ? Buffer.alloc(0) : bodyBytes(c.body, target.pool);
  const headers: Record<string, string> = { host: hostOf(target, c.host) };
  for (const [k, v] of Object.entries(c.headers)) headers[k] = headerText(v);
  if (payload.length > 0) headers['content-length'] = String(payload.length);
  const kind: RequestKind = (ENDPOINTS as readonly string[]).includes(c.name) ? (c.name as RequestKind) : 'other';
  const sent = `${c.method} ${short(path, 300)} host=${headers.host} headers=${short(JSON.stringify(Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'host'))), 300)} body=${JSON.stringify(short(payload.toString('utf8'), 800))}`;
  tally.add(tally.requests, `${target.name} HTTP`);
  let raw: RawHttp;
  const t0 = Date.now();
  try {
    raw = await exchange(target, { host: '127.0.0.1', port: target.port, method: c.method, path, headers }, payload, kind === 'create_session' || kind === 'bind_session');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Documented: a body declared beyond 4 MB is refused at once and its connection closed, so a
    // client still sending it may see the reset rather than the 413.
    const reset = code === 'ECONNRESET' || code === 'EPIPE';
    if (reset && 'oversized' in c.body && c.body.oversized > 4 * 1024 * 1024) {
      tally.add(tally.answers, `${target.name} HTTP: reset (body over 4 MB)`);
      return { sent, problems: [] };
    }
    // Node's HTTP parser refuses a request whose head it cannot take (an unknown method, a request
    // line and headers beyond 16 KiB) with a bare 400 or 431 and closes the connection at once, so
    // a client still sending the rest gets a reset instead. Only origins run Node's parser.
    if (reset && target.hosts.length === 0 && (!http.METHODS.includes(c.method) || path.length + headerBytes(headers) > 16 * 1024)) {
      tally.add(tally.answers, `${target.name} HTTP: reset (refused by the HTTP parser)`);
      return { sent, problems: [] };
    }
    tally.add(tally.answers, `${target.name} HTTP: failed`);
    return { sent, problems: [`request failed: ${code ?? ''} ${(err as Error).message}`] };
  }
  tally.time(`${target.name} HTTP`, Date.now() - t0, sent);
  const problem = httpAnswerProblem(kind, c.method, { status: raw.status, statusMessage: raw.statusMessage, body: raw.body, complete: raw.complete, headers: raw.headers });
  const cls = raw.status === 200 ? `200 TLCP (${kind === 'other' ? 'other' : kind})` : String(raw.status);
  tally.add(tally.answers, `${target.name} HTTP: ${cls}`);
  if (raw.status === 200) {
    for (const l of raw.body.split('\r\n').slice(0, -1)) tally.add(tally.tags, tagKey(l));
    const conok = /^CONOK,([^,\r\n]+),/.exec(raw.body);
    if (kind === 'create_session' && conok) target.pool.add(conok[1]);
  }
  return { sent, problems: problem ? [`${problem} (HTTP ${raw.status}, body ${JSON.stringify(short(raw.body, 400))})`] : [] };
}

// WebSocket ---------------------------------------------------------------------------------------

let sentinels = 0;

const VALID_CREATE = 'create_session\r\nLS_cid=mgQkwtwdysogQz2BJ4Ji%20kOj2Bg&LS_adapter_set=DEMO&LS_send_sync=false';
const VALID_POLLING_CREATE = `${VALID_CREATE}&LS_polling=true&LS_polling_millis=0&LS_idle_millis=0`;

function frameText(f: WsCase['frames'][number], pool: SessionPool): string | Buffer {
  if (f.name === null) return Buffer.from(f.bytes ?? []);
  return [f.name, ...f.lines.map((l) => lineText(l, pool))].join('\r\n');
}

/**
 * Opens one socket, sends its prelude and frames and then a sentinel control request, and waits until
 * the sentinel is answered or the socket closed: either shows the socket was still served. Checks
 * the upgrade's answer, every line received and the close code.
 */
export async function sendWs(target: Target, c: WsCase, tally: Tally): Promise<Outcome> {
  const problems: string[] = [];
  const sentFrames: string[] = [];
  const host = hostOf(target, c.host);
  const url = `ws://127.0.0.1:${target.port}${c.prefix}/lightstreamer`;
  const headers: Record<string, string> = { host };
  for (const [k, v] of Object.entries(c.headers)) headers[k] = headerText(v);
  const sentinel = String(SENTINEL_REQ_ID_BASE + ++sentinels);
  const lines: string[] = [];
  const describe = () =>
    `socket ${url} host=${host} protocols=${JSON.stringify(c.protocols)} headers=${short(JSON.stringify(c.headers), 200)} prelude=${c.prelude}, frames ${JSON.stringify(short(JSON.stringify(sentFrames), 1500))}; received ${JSON.stringify(short(lines.join(' / '), 600))}`;
  tally.add(tally.requests, `${target.name} WS sockets`);

  const ws = new WebSocket(url, [...c.protocols], { headers, perMessageDeflate: false, handshakeTimeout: ANSWER_TIMEOUT_MS });
  let closed: { code: number; reason: string; byServer: boolean } | null = null;
  let closingByClient = false;
  /** Called on every message and on the close: whoever waits for a line re-checks. */
  const waiters: Array<() => void> = [];
  const closedPromise = new Promise<void>((resolve) =>
    ws.once('close', (code, reason) => {
      closed = { code, reason: reason.toString(), byServer: !closingByClient };
      for (const w of waiters.splice(0)) w();
      resolve();
    }),
  );
  /** Resolves once the socket closed, or after `ms` if it does not. */
  const closedWithin = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closedPromise, new Promise((r) => (timer = setTimeout(r, ms)))]);
    clearTimeout(timer);
  };
  const opened = await new Promise<'open' | string>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        tally.add(tally.answers, `${target.name} WS: upgrade ${status}`);
        const problem = status === 200 ? 'a 200 to an upgrade' : httpAnswerProblem('other', 'GET', { status, statusMessage: res.statusMessage ?? '', body, complete: true, headers: res.headers });
        if (problem) problems.push(`upgrade answered ${status}: ${problem}`);
        resolve('refused');
        ws.terminate();
      });
    });
    ws.once('error', (err) => resolve(`error: ${err.message}`));
  });
  if (opened !== 'open') {
    // As over HTTP: an origin's parser refuses a head over 16 KiB and closes while the rest arrives.
    if (/ECONNRESET|EPIPE/.test(opened) && target.hosts.length === 0 && headerBytes(headers) > 16 * 1024) {
      tally.add(tally.answers, `${target.name} WS: upgrade reset (refused by the HTTP parser)`);
    } else if (opened.startsWith('error')) {
      tally.add(tally.answers, `${target.name} WS: upgrade failed`);
      problems.push(`upgrade failed: ${opened}`);
    }
    await closedWithin(1000);
    return { sent: describe(), problems };
  }
  tally.add(tally.answers, `${target.name} WS: opened`);
  // On an open socket, ws reports what breaks the protocol: a bad frame, invalid UTF-8, a bad close code.
  ws.on('error', (err) => problems.push(`socket error: ${err.message}`));
  if (ws.protocol !== 'TLCP-2.5.0.lightstreamer.com') problems.push(`socket opened with subprotocol ${JSON.stringify(ws.protocol)}`);
  ws.on('message', (data, isBinary) => {
    const text = data.toString();
    if (isBinary) problems.push(`binary message from the server: ${JSON.stringify(short(text, 100))}`);
    const checked = linesOf(text, true);
    problems.push(...checked.problems);
    for (const l of checked.lines) {
      lines.push(l);
      tally.add(tally.tags, tagKey(l));
    }
    for (const w of waiters.splice(0)) w();
  });
  const send = (frame: string | Buffer) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    sentFrames.push(typeof frame === 'string' ? short(frame, 300) : `<binary ${frame.length} bytes>`);
    tally.add(tally.requests, `${target.name} WS frames`);
    ws.send(frame);
  };
  /** Resolves true once a line matching `test` arrived (from `from` on), false on close or timeout. */
  const lineArrives = (test: (l: string) => boolean, from: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ANSWER_TIMEOUT_MS);
      const check = () => {
        if (lines.slice(from).some(test)) {
          clearTimeout(timer);
          resolve(true);
        } else if (closed) {
          clearTimeout(timer);
          resolve(false);
        } else waiters.push(check);
      };
      check();
    });

  if (c.prelude !== 'none') send('wsok');
  if (c.prelude === 'create' || c.prelude === 'create-polling' || c.prelude === 'bind-own') {
    const from = lines.length;
    send(c.prelude === 'create' ? VALID_CREATE : c.prelude === 'create-polling' ? VALID_POLLING_CREATE : `bind_session\r\nLS_session=${encode(target.pool.pick(c.frames.length))}&LS_send_sync=false`);
    const answered = await lineArrives((l) => /^(CONOK|CONERR|ERROR),/.test(l), from);
    if (!answered && !closed) problems.push(`no CONOK or CONERR within ${ANSWER_TIMEOUT_MS} ms`);
    const conok = lines.find((l) => l.startsWith('CONOK,'));
    if (conok && c.prelude !== 'bind-own') target.pool.add(conok.split(',')[1]);
  }
  for (const f of c.frames) send(frameText(f, target.pool));
  const from = lines.length;
  send(`control\r\nLS_reqId=${sentinel}&LS_op=fuzz_sentinel`);
  const sentinelAnswered = await lineArrives((l) => l.startsWith(`REQERR,${sentinel},`) || l.startsWith(`REQOK,${sentinel}`), from);
  if (!sentinelAnswered && !closed) problems.push(`socket open but its last control request unanswered within ${ANSWER_TIMEOUT_MS} ms`);
  if (!closed) {
    closingByClient = true;
    ws.close(1000);
    await closedWithin(5000);
    if (!closed) ws.terminate();
  }
  const final = closed as { code: number; reason: string; byServer: boolean } | null;
  if (final?.byServer) {
    tally.add(tally.answers, `${target.name} WS: closed by server ${final.code}`);
    const problem = closeProblem(final.code, final.reason);
    if (problem) problems.push(problem);
  } else tally.add(tally.answers, `${target.name} WS: closed by fuzzer`);
  return { sent: describe(), problems };
}
