import { parseServerLine, type ServerLine } from '../../protocol/server-line.ts';
import type { ShardAddress, ShardTransport } from '../shard-transport.ts';

/**
 * The session layer's own TLCP session on a shard: a TLCP client over WebSocket, as the official
 * client is one. It keeps its upstream session alive the way that client would — a LOOP is answered
 * by a bind on a new socket, a connection that drops by a recovery bind (`LS_recovery_from`), so an
 * origin that lives through a network blip keeps the session; requests made meanwhile wait for the
 * new socket — and reports it lost when the shard cannot carry it any more: the session ended (END),
 * refused (CONERR), or silent past its keepalive (a hung shard), or a recovery that failed; and when
 * the old socket took requests whose answers it never brought, which no other socket can bring.
 */

export const TLCP_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

/** The create's parameters the client sent that the upstream session needs too. */
export interface UpstreamCredentials {
  readonly adapterSet: string | null;
  readonly user: string | null;
  readonly password: string | null;
  /** The client's LS_requested_max_bandwidth (absent in sessions stored before it was kept). */
  readonly requestedBandwidth?: string | null;
}

export type UpstreamLoss =
  | { readonly kind: 'unreachable' | 'silent' | 'closed'; readonly message: string }
  | { readonly kind: 'ended'; readonly code: number; readonly message: string };

export type UpstreamOpening =
  | { readonly ok: true; readonly upstream: Upstream }
  | { readonly ok: false; readonly kind: 'refused'; readonly code: number; readonly message: string }
  | { readonly ok: false; readonly kind: 'unreachable'; readonly message: string };

export interface UpstreamHandlers {
  /** A line of the upstream stream after its CONOK, in order (PROBE, SYNC and the bind's own lines excluded). */
  onLine(line: ServerLine): void;
  /** Called once: the upstream session is gone and will send nothing more. */
  onLost(loss: UpstreamLoss): void;
}

/** Headers the origin needs on the upstream socket: the client's address, vouched for by the edge secret. */
export interface UpstreamContext {
  readonly shard: ShardAddress;
  readonly transport: ShardTransport;
  readonly clientIp: string | null;
  readonly edgeSecret: string | undefined;
}

/** How long a socket has to upgrade and its session to answer CONOK. */
const OPEN_DEADLINE_MS = 5_000;
/** The keepalive asked of the origin: silence longer than it plus the grace means a hung shard. */
const UPSTREAM_KEEPALIVE_MS = 2_000;
const SILENCE_GRACE_MS = 2_000;
/**
 * How often an upstream checks its silence: a hung shard is found at most this long after the
 * silence passed keepalive + grace (checking at the keepalive's period made it up to 6 s after the
 * shard hung, over the 5 s a hung shard's clients may take to stream again).
 */
const SILENCE_CHECK_MS = 500;
/** Lines that count as data notifications for recovery (tlcp.md, Recovery). */
const DATA_TAGS = new Set(['U', 'SUBOK', 'SUBCMD', 'UNSUB', 'EOS', 'CS', 'OV', 'CONF', 'MSGDONE', 'MSGFAIL']);

type State = 'streaming' | 'rebinding' | 'lost';

export class Upstream {
  #state: State = 'streaming';
  #socket: WebSocket;
  /** Data notifications received: what a recovery bind asks the origin to resume from. */
  #dataCount = 0;
  #lastHeardAt = Date.now();
  /** Replayed data notifications still to drop after a recovery bind. */
  #replayedToSkip = 0;
  readonly #watch: ReturnType<typeof setInterval>;
  #nextReqId = 1;
  /**
   * Requests sent on the current socket that have no REQOK or REQERR yet: their answers come on that
   * socket or not at all (a recovery replays data notifications, never answers).
   */
  readonly #unanswered = new Set<number>();
  /** Requests made while a rebind is under way, for its new socket. */
  #queued: { readonly reqId: number; readonly frame: string }[] = [];
  /** The shard's SERVNAME, which the client's CONOK carries on. */
  servername: string;
  /** The bandwidth the shard granted (its last CONS), which the client's CONOK carries on. */
  bandwidth: number | 'unlimited' | 'unmanaged' = 'unlimited';

  private constructor(
    private readonly context: UpstreamContext,
    readonly sessionId: string,
    socket: WebSocket,
    private readonly handlers: UpstreamHandlers,
    /** Lines that came with the CONOK (SERVNAME, CLIENTIP, CONS, or already data). */
    early: string[],
  ) {
    this.#socket = socket;
    this.servername = `edgepush ${context.shard.id}`;
    this.#listen(socket);
    this.#watch = setInterval(() => this.#checkSilence(), SILENCE_CHECK_MS);
    for (const line of early) this.#receive(line);
  }

  get shard(): string {
    return this.context.shard.id;
  }

  /** Opens a socket to the shard and creates a session there with the client's credentials. */
  static async open(context: UpstreamContext, credentials: UpstreamCredentials, handlers: UpstreamHandlers): Promise<UpstreamOpening> {
    // No deltas (LS_supported_diffs empty): the layer re-encodes every value against what its client
    // holds, which a delta from the upstream's previous value would not fit after a move.
    const params = new URLSearchParams({ LS_cid: 'edgepush-session-layer', LS_send_sync: 'false', LS_keepalive_millis: String(UPSTREAM_KEEPALIVE_MS), LS_supported_diffs: '' });
    if (credentials.requestedBandwidth) params.set('LS_requested_max_bandwidth', credentials.requestedBandwidth);
    if (credentials.adapterSet !== null) params.set('LS_adapter_set', credentials.adapterSet);
    if (credentials.user !== null) params.set('LS_user', credentials.user);
    if (credentials.password !== null) params.set('LS_password', credentials.password);
    const opened = await handshake(context, `create_session\r\n${encodeParams(params)}`);
    if (!opened.ok) return opened;
    return { ok: true, upstream: new Upstream(context, opened.conok.session, opened.socket, handlers, opened.early) };
  }

  /**
   * Sends a control or msg request (one line of `k=v&…`, without LS_reqId) under a request id of
   * this upstream session, which its REQOK or REQERR names; null when the upstream is lost. During
   * a rebind the request waits for the new socket.
   */
  send(kind: 'control' | 'msg', line: string): number | null {
    if (this.#state === 'lost') return null;
    const reqId = this.#nextReqId++;
    const frame = `${kind}\r\nLS_reqId=${reqId}&${line}`;
    if (this.#state === 'rebinding' || !this.#write(reqId, frame)) this.#queued.push({ reqId, frame });
    return reqId;
  }

  /** Ends the upstream session (the client's session ended): destroy, then close. */
  destroy(): void {
    if (this.#state === 'lost') return;
    const socket = this.#socket;
    this.send('control', 'LS_op=destroy');
    this.#stop();
    socket.close(1000, 'session ended');
  }

  /** False when the socket cannot take it: it is closing, and its close event brings a rebind. */
  #write(reqId: number, frame: string): boolean {
    try {
      this.#socket.send(frame);
    } catch {
      return false;
    }
    this.#unanswered.add(reqId);
    return true;
  }

  /** Gives the upstream up without a word to the origin (a move to another shard already replaced it). */
  abandon(): void {
    if (this.#state === 'lost') return;
    const socket = this.#socket;
    this.#stop();
    socket.close(1000, 'session moved');
  }

  #listen(socket: WebSocket): void {
    socket.addEventListener('message', (ev) => {
      if (socket !== this.#socket || typeof ev.data !== 'string') return;
      for (const line of ev.data.split('\r\n')) if (line) this.#receive(line);
    });
    socket.addEventListener('close', () => socket === this.#socket && void this.#recover('the connection closed'));
    socket.addEventListener('error', () => socket === this.#socket && void this.#recover('the connection failed'));
  }

  #receive(raw: string): void {
    if (this.#state === 'lost') return;
    this.#lastHeardAt = Date.now();
    const line = parseServerLine(raw);
    if (DATA_TAGS.has(line.tag)) {
      // Replayed after a recovery bind, but already here before the drop.
      if (this.#replayedToSkip > 0) {
        this.#replayedToSkip--;
        return;
      }
      this.#dataCount++;
    }
    switch (line.tag) {
      case 'REQOK':
      case 'REQERR':
        if (line.reqId !== null) this.#unanswered.delete(line.reqId);
        return this.handlers.onLine(line);
      case 'SERVNAME':
        this.servername = line.value;
        return;
      case 'CONS':
        this.bandwidth = line.bandwidth === 'unlimited' || line.bandwidth === 'unmanaged' ? line.bandwidth : Number(line.bandwidth);
        return this.handlers.onLine(line);
      case 'PROG':
      case 'PROBE':
      case 'SYNC':
      case 'NOOP':
      case 'CLIENTIP':
        return;
      case 'LOOP':
        void this.#rebind(null);
        return;
      case 'END':
        return this.#lose({ kind: 'ended', code: line.code, message: line.message });
      default:
        this.handlers.onLine(line);
    }
  }

  /** A dropped connection: resume the same upstream session on a new socket, from what arrived. */
  async #recover(reason: string): Promise<void> {
    if (this.#state !== 'streaming') return;
    await this.#rebind(this.#dataCount, reason);
  }

  async #rebind(recoveryFrom: number | null, reason = 'LOOP'): Promise<void> {
    if (this.#state !== 'streaming') return;
    // What became of requests sent on this socket cannot be learnt on another one: the session must
    // move, which gives each of them an outcome.
    if (this.#unanswered.size > 0) return this.#lose({ kind: 'closed', message: `${reason} with ${this.#unanswered.size} requests unanswered` });
    this.#state = 'rebinding';
    const old = this.#socket;
    try {
      old.close(1000, 'rebinding');
    } catch {
      // closing already
    }
    const params = new URLSearchParams({ LS_session: this.sessionId, LS_send_sync: 'false', LS_keepalive_millis: String(UPSTREAM_KEEPALIVE_MS) });
    if (recoveryFrom !== null) params.set('LS_recovery_from', String(recoveryFrom));
    const opened = await handshake(this.context, `bind_session\r\n${encodeParams(params)}`);
    if (this.#state !== 'rebinding') {
      if (opened.ok) opened.socket.close(1000, 'not needed');
      return;
    }
    if (!opened.ok) {
      return this.#lose(opened.kind === 'refused' ? { kind: 'ended', code: opened.code, message: opened.message } : { kind: 'unreachable', message: `${reason}; rebinding: ${opened.message}` });
    }
    this.#socket = opened.socket;
    this.#state = 'streaming';
    this.#lastHeardAt = Date.now();
    this.#listen(opened.socket);
    const queued = this.#queued;
    this.#queued = [];
    for (const { reqId, frame } of queued) if (!this.#write(reqId, frame)) this.#queued.push({ reqId, frame });
    // A recovery resumes at the PROG the origin names (at most what arrived): the replay up to what
    // arrived before the drop is dropped again.
    const prog = opened.early.map(parseServerLine).find((l) => l.tag === 'PROG');
    this.#replayedToSkip = prog?.tag === 'PROG' && recoveryFrom !== null ? Math.max(0, recoveryFrom - prog.value) : 0;
    for (const raw of opened.early) this.#receive(raw);
  }

  #checkSilence(): void {
    if (this.#state === 'streaming' && Date.now() - this.#lastHeardAt > UPSTREAM_KEEPALIVE_MS + SILENCE_GRACE_MS) {
      this.#lose({ kind: 'silent', message: `nothing from shard ${this.shard} for ${Date.now() - this.#lastHeardAt} ms` });
    }
  }

  #lose(loss: UpstreamLoss): void {
    if (this.#state === 'lost') return;
    const socket = this.#socket;
    this.#stop();
    try {
      socket.close(1000, 'upstream lost');
    } catch {
      // closed already
    }
    this.handlers.onLost(loss);
  }

  #stop(): void {
    this.#state = 'lost';
    this.#queued = [];
    clearInterval(this.#watch);
  }
}

function encodeParams(params: URLSearchParams): string {
  // TLCP values are percent-encoded as by encodeURIComponent: a space is %20, never `+`.
  return [...params].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
}

type Handshake =
  | { readonly ok: true; readonly socket: WebSocket; readonly conok: Extract<ServerLine, { tag: 'CONOK' }>; readonly early: string[] }
  | { readonly ok: false; readonly kind: 'refused'; readonly code: number; readonly message: string }
  | { readonly ok: false; readonly kind: 'unreachable'; readonly message: string };

/**
 * A new socket to the shard: `wsok`, then `request` (a create or a bind), answered by CONOK (with
 * whatever lines came in the same frames) or CONERR, all within OPEN_DEADLINE_MS.
 */
async function handshake(context: UpstreamContext, request: string): Promise<Handshake> {
  const headers = new Headers({ upgrade: 'websocket', 'sec-websocket-protocol': TLCP_SUBPROTOCOL });
  if (context.clientIp) {
    headers.set('cf-connecting-ip', context.clientIp);
    headers.set('x-forwarded-for', context.clientIp);
  }
  if (context.edgeSecret) headers.set('x-edge-secret', context.edgeSecret);
  const abort = new AbortController();
  const deadline = setTimeout(() => abort.abort(new Error(`no answer within ${OPEN_DEADLINE_MS} ms`)), OPEN_DEADLINE_MS);
  let socket: WebSocket;
  try {
    const res = await context.transport.fetch(context.shard, '/lightstreamer', { headers, signal: abort.signal });
    if (!res.webSocket) {
      clearTimeout(deadline);
      return { ok: false, kind: 'unreachable', message: `shard ${context.shard.id} answered the upgrade with ${res.status}` };
    }
    socket = res.webSocket;
    socket.accept();
  } catch (err) {
    clearTimeout(deadline);
    return { ok: false, kind: 'unreachable', message: `shard ${context.shard.id}: ${err instanceof Error ? err.message : String(err)}` };
  }
  return new Promise<Handshake>((resolve) => {
    const early: string[] = [];
    let conok: Extract<ServerLine, { tag: 'CONOK' }> | null = null;
    const finish = (result: Handshake) => {
      clearTimeout(deadline);
      socket.removeEventListener('message', onMessage);
      socket.removeEventListener('close', onClose);
      if (!result.ok) {
        try {
          socket.close(1000, 'handshake failed');
        } catch {
          // closed already
        }
      }
      resolve(result);
    };
    const onMessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      for (const raw of ev.data.split('\r\n')) {
        if (!raw || raw === 'WSOK') continue;
        const line = parseServerLine(raw);
        if (conok) early.push(raw);
        else if (line.tag === 'CONOK') conok = line;
        else if (line.tag === 'CONERR' || line.tag === 'ERROR') return finish({ ok: false, kind: 'refused', code: line.code, message: line.message });
      }
      // The rest of the first frame (SERVNAME, CLIENTIP, CONS, PROG, replayed data) came with the CONOK.
      if (conok) finish({ ok: true, socket, conok, early });
    };
    const onClose = () => finish({ ok: false, kind: 'unreachable', message: `shard ${context.shard.id} closed the socket before CONOK` });
    socket.addEventListener('message', onMessage);
    socket.addEventListener('close', onClose);
    abort.signal.addEventListener('abort', () => finish({ ok: false, kind: 'unreachable', message: `shard ${context.shard.id}: no CONOK within ${OPEN_DEADLINE_MS} ms` }));
    socket.send('wsok');
    socket.send(request);
  });
}
