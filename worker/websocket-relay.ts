import type { EdgeRequest } from './edge-request.ts';
import { END_MAX_DURATION, END_SHARD_LOST, conerrCodeOf, conokOf } from './tlcp.ts';
import { ConErr } from '../protocol/codes.ts';
import { sessionGone } from './failover.ts';
import { parseWsFrame, scanParam } from '../protocol/request.ts';
import { WSOK } from '../protocol/notifications.ts';
import { originHeaders } from './forwarding.ts';
import { homeOfSession, placeSession, GONE, type Placement } from './session-routing.ts';
import { modesOf, streamClosed, type RoutingRequest } from './modes/mode.ts';
import { onConok } from './conok.ts';
import { count } from './registry-client.ts';
import { callShard, shardFailed, ShardCallFailed } from './origin-call.ts';
import { StreamWatch, type EdgeEnding } from './stream-watch.ts';
import type { StreamOutcome } from './relayed-stream.ts';
import { admitCreate, CREATE_REFUSED_CLOSE } from './create-rate-limit.ts';

export const TLCP_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

/** Close codes an endpoint may not send itself; they only ever describe what happened. */
const RESERVED_CLOSE = new Set([1005, 1006, 1015]);
const closeCode = (code: number) => (RESERVED_CLOSE.has(code) || code < 1000 || code >= 5000 ? 1000 : code);

/** The client must send its first request this soon after opening the socket (the official client does at once). */
const FIRST_REQUEST_MS = 15_000;
/**
 * Bytes either leg may have queued towards its peer. A client that does not read its updates (or an
 * origin that does not read the client's requests) is disconnected rather than held in the edge's
 * memory, which every session of the isolate shares: the client then recovers the session from
 * the origin's replay log, as after any dropped connection.
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Frames a client may send while the edge is still choosing and connecting the origin. */
const MAX_QUEUED_FRAMES = 32;
const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * A socket on the edge. Whether it creates a session (S: balance) or binds one (CR: follow the
 * session) is only known from its first request frame, so the edge accepts the client socket,
 * answers the `wsok` handshake itself, reads that frame, and only then opens the origin socket
 * (swallowing the origin's own WSOK) and relays both ways, watched like every stream the edge relays.
 */
export function relayWebSocket(er: EdgeRequest, request: Request, req: RoutingRequest, placed: Placement | undefined, headers: Headers): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  // A relay lives as long as its socket, hours after the upgrade was answered: it keeps the headers it
  // will send the origin, not the upgrade request.
  new SocketRelay(er, originUpgradeHeaders(er, request), server, req, placed).start();
  headers.set('sec-websocket-protocol', TLCP_SUBPROTOCOL);
  return new Response(null, { status: 101, webSocket: client, headers });
}

/** What the origin is sent on every upgrade of this socket (a create may be placed twice). */
function originUpgradeHeaders(er: EdgeRequest, request: Request): Headers {
  const headers = originHeaders(request.headers, er.client, er.env.EDGE_SECRET, er.domain.cookieName);
  for (const h of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']) headers.delete(h);
  headers.set('upgrade', 'websocket');
  headers.set('sec-websocket-protocol', TLCP_SUBPROTOCOL);
  return headers;
}

/**
 * - `awaiting-request`: the client socket is open, `wsok` answered, no request frame yet.
 * - `connecting`: the first request decided where to go; the origin socket is being opened and the
 *   client's frames wait in a bounded queue. A create refused by a full shard comes back here once.
 * - `relaying`: both legs open, frames flow both ways.
 * - `closed`: both legs closed (or closing), with a reason each side can read.
 */
type State = 'awaiting-request' | 'connecting' | 'relaying' | 'closed';

class SocketRelay {
  private state: State = 'awaiting-request';
  private origin: WebSocket | null = null;
  private shard = '';
  private readonly queue: (string | ArrayBuffer)[] = [];
  private queuedBytes = 0;
  /** Origin → client messages go out in order even when one waits (CONOK awaiting a pin write). */
  private outbound: Promise<void> = Promise.resolve();
  private originWsokPending = true;
  /** Until its CONOK passes: the socket created a session whose pin may need learning. */
  private creating = false;
  /** The create frame, while a full shard's refusal may still send it to another shard once. */
  private createFrame: string | null = null;
  private polling = false;
  private watch: StreamWatch | null = null;
  private readonly firstRequestTimer: ReturnType<typeof setTimeout>;
  /** The session the origin leg serves (from its CONOK), and when that CONOK passed. */
  private session: { id: string; boundAt: number } | null = null;
  /** The origin's last word on the session: LOOP (the client binds again elsewhere) or END. */
  private lastWord: 'loop' | 'end' | null = null;

  constructor(
    private readonly er: EdgeRequest,
    /** What every upgrade towards an origin sends; dropped once the session is bound, when no upgrade can follow. */
    private upgradeHeaders: Headers | null,
    private readonly client: WebSocket,
    private readonly req: RoutingRequest,
    /** Settled at the upgrade (modes/mode.ts `placesSocketsAtUpgrade`), for a create to follow. */
    private readonly placed: Placement | undefined,
  ) {
    this.firstRequestTimer = setTimeout(() => this.close(1008, 'no request within 15 s', 'broken'), FIRST_REQUEST_MS);
  }

  start(): void {
    this.client.addEventListener('message', (ev) => this.fromClient(ev.data));
    this.client.addEventListener('close', (ev) => this.close(ev.code, ev.reason, this.lastWord ?? 'client-gone'));
    this.client.addEventListener('error', () => this.close(1011, 'client socket error', 'client-gone'));
  }

  private fromClient(data: string | ArrayBuffer): void {
    switch (this.state) {
      case 'closed':
        return;
      case 'relaying':
        return this.send(this.origin!, data, 'origin');
      case 'awaiting-request':
        if (data === 'wsok') return this.send(this.client, WSOK, 'client');
        clearTimeout(this.firstRequestTimer);
        this.state = 'connecting';
        this.enqueue(data);
        this.er.waitUntil(this.route(typeof data === 'string' ? data : '').catch((err: unknown) => this.fail(err)));
        return;
      case 'connecting':
        return this.enqueue(data);
    }
  }

  /** The socket's only trace of an edge fault (a Durable Object call failing, say): logged as onError does for HTTP. */
  private fail(err: unknown): void {
    console.error(err);
    this.close(1011, 'edge error', 'broken');
  }

  private enqueue(data: string | ArrayBuffer): void {
    this.queuedBytes += typeof data === 'string' ? data.length : data.byteLength;
    this.queue.push(data);
    if (this.queue.length > MAX_QUEUED_FRAMES || this.queuedBytes > MAX_QUEUED_BYTES) {
      count('wsQueueOverflows');
      this.close(1008, 'too many requests before the session was connected', 'broken');
    }
  }

  private async route(first: string): Promise<void> {
    const frame = parseWsFrame(first);
    const params = frame.lines[0] ?? '';
    this.creating = frame.name === 'create_session';
    this.polling = scanParam(params, 'LS_polling') === 'true';
    let socket: WebSocket | null = null;
    if (this.creating) {
      if (!(await admitCreate(this.er)).admitted) return this.close(CREATE_REFUSED_CLOSE.code, CREATE_REFUSED_CLOSE.reason, 'broken');
      for (let attempt = 0; attempt < 2 && !socket && this.state === 'connecting'; attempt++) {
        const placement = await placeSession(this.er, this.req, attempt === 0 ? { placed: this.placed } : { avoid: this.shard || undefined });
        if (!placement) break;
        this.shard = placement.shard;
        socket = await this.connect(placement.shard);
      }
      // A transport error: the client retries the create with backoff.
      if (!socket) return this.close(1013, 'no shard available', 'broken');
    } else {
      const home = await homeOfSession(this.er, { ...this.req, sessionId: scanParam(params, 'LS_session') });
      if (home !== GONE) {
        this.shard = home.shard;
        socket = await this.connect(home.shard);
      }
      if (!socket) {
        this.send(this.client, sessionGone('websocket', ''), 'client');
        return this.close(1000, 'session not found', 'broken');
      }
    }
    if (this.creating) this.createFrame = first;
    this.attach(socket);
  }

  /**
   * The origin socket, accepted, or null. An origin that cannot be reached or does not upgrade in
   * time is reported; one that answers the upgrade with an HTTP status (it refused this client's
   * request) closes the client's socket with that status as the reason and says nothing about the
   * shard.
   */
  private async connect(shard: string): Promise<WebSocket | null> {
    let res: Response;
    try {
      const call = await callShard(this.er, shard, 'upgrade', '/lightstreamer', { headers: this.upgradeHeaders! });
      call.deadline.lift();
      res = call.res;
    } catch (err) {
      if (err instanceof ShardCallFailed) return null;
      throw err;
    }
    const socket = res.webSocket;
    if (!socket) {
      await res.body?.cancel();
      this.close(1008, `origin refused the socket: HTTP ${res.status}`, 'broken');
      return null;
    }
    socket.accept();
    if (this.state === 'closed') {
      socket.close(1000, 'client went away');
      return null;
    }
    return socket;
  }

  /** Relays `socket` from now on; a socket replaced since (a full shard's) no longer speaks for the client. */
  private attach(socket: WebSocket): void {
    this.origin = socket;
    this.originWsokPending = true;
    this.state = 'relaying';
    socket.addEventListener('message', (ev) => {
      if (socket === this.origin) this.fromOrigin(ev.data);
    });
    // Whatever the origin sent before closing (LOOP, END) reaches the client before the close does.
    socket.addEventListener('close', (ev) => {
      if (socket !== this.origin) return;
      if (ev.code === 1006) shardFailed(this.er, this.shard, 'broken');
      void this.outbound.then(() => this.close(ev.code, ev.reason, this.lastWord ?? 'broken'));
    });
    // workerd reports a connection the origin ends after its close as an error as well, and the close
    // waits behind the lines still going out: it has the last word, and those lines are not dropped.
    socket.addEventListener('error', () => {
      if (socket === this.origin) void this.outbound.then(() => this.close(1011, 'origin socket error', 'broken'));
    });
    this.send(socket, 'wsok', 'origin');
    for (const data of this.queue.splice(0)) this.send(socket, data, 'origin');
    this.queuedBytes = 0;
    this.watch ??= new StreamWatch(this.er, this.shard, this.polling, (ending) => this.endByEdge(ending));
  }

  /**
   * The create met a full shard (`CONERR,5`, nothing created there): the same create frame goes once
   * to another shard of the pool, as over HTTP. Not where sockets are placed at the upgrade (cookie
   * mode): the 101 has already told the client its shard, or the client's cookie names the full one;
   * there the client sees the 5 and retries over HTTP, where the edge re-places the create and sets
   * the cookie that matches.
   */
  private async placeElsewhere(refusal: string): Promise<boolean> {
    const frame = this.createFrame;
    this.createFrame = null;
    if (frame === null || modesOf(this.er.domain).some((m) => m.placesSocketsAtUpgrade)) return false;
    const placement = await placeSession(this.er, this.req, { avoid: this.shard });
    if (!placement) return false;
    // Detached first, so that its closing does not close the client; frames meanwhile wait in the queue.
    const refused = this.origin;
    this.origin = null;
    this.state = 'connecting';
    refused?.close(1000, 'create placed on another shard');
    this.shard = placement.shard;
    this.watch?.stop();
    this.watch = null;
    const socket = await this.connect(placement.shard);
    if (!socket) {
      this.send(this.client, refusal, 'client');
      this.close(1000, 'no other shard could take the session', 'broken');
      return true;
    }
    count('overloadedCreatesPlacedAgain');
    this.queue.unshift(frame);
    this.attach(socket);
    return true;
  }

  private fromOrigin(data: string | ArrayBuffer): void {
    this.watch?.sawBytes();
    this.outbound = this.outbound.then(() => this.forward(data)).catch((err: unknown) => this.fail(err));
  }

  /** Drops the origin's WSOK (the client already got the edge's) and edits every CONOK line. */
  private async forward(data: string | ArrayBuffer): Promise<void> {
    if (this.state === 'closed') return;
    if (typeof data !== 'string') return this.send(this.client, data, 'client');
    let text = data;
    if (this.originWsokPending && text.startsWith('WSOK')) {
      this.originWsokPending = false;
      text = text.replace(/^WSOK(\r\n)?/, '');
    }
    if (this.creating && conerrCodeOf(text) === ConErr.OVERLOADED) {
      // Awaited under waitUntil: outside it the runtime may never resolve a fetch begun from a socket event.
      const moved = this.placeElsewhere(text);
      this.er.waitUntil(moved);
      if (await moved) return;
    }
    const lines = text.split('\r\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.startsWith('CONOK,')) {
        lines[i] = await onConok(this.er, this.shard, line, this.creating);
        this.onSessionBound(line);
      } else if (line.startsWith('LOOP')) this.lastWord = 'loop';
      else if (line.startsWith('END')) this.lastWord = 'end';
    }
    text = lines.join('\r\n');
    if (text.length > 0) this.send(this.client, text, 'client');
  }

  private onSessionBound(conokLine: string): void {
    const conok = conokOf(conokLine);
    this.creating = false;
    this.createFrame = null;
    this.upgradeHeaders = null;
    this.lastWord = null;
    if (!conok) return;
    this.session = { id: conok.session, boundAt: Date.now() };
    // Between polls an origin is silent for as long as the client pauses: only streams have a keepalive.
    if (!this.polling) this.watch?.expectKeepalive(Number(conok.fields[3]));
  }

  /** Sends, and disconnects both legs rather than buffer without bound for a peer that does not read. */
  private send(to: WebSocket, data: string | ArrayBuffer, peer: 'client' | 'origin'): void {
    if (this.state === 'closed') return;
    try {
      to.send(data);
    } catch (err) {
      return this.close(1011, `could not send to the ${peer}: ${err instanceof Error ? err.message : String(err)}`, 'broken');
    }
    if (to.bufferedAmount > MAX_BUFFERED_BYTES) {
      count(peer === 'client' ? 'slowClientsClosed' : 'slowOriginsClosed');
      if (peer === 'origin') shardFailed(this.er, this.shard, 'timeout');
      this.close(1008, `${peer} is not reading: over ${MAX_BUFFERED_BYTES} bytes queued`, 'broken');
    }
  }

  private endByEdge(ending: EdgeEnding): void {
    this.outbound = this.outbound.then(() => {
      count(ending === 'shard-lost' ? 'shardLostEnds' : 'maxDurationEnds');
      this.send(this.client, ending === 'shard-lost' ? END_SHARD_LOST : END_MAX_DURATION, 'client');
      this.close(1000, ending === 'shard-lost' ? 'server instance unavailable' : 'maximum session duration', 'end');
    });
  }

  private close(code: number, reason: string, outcome: StreamOutcome): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.firstRequestTimer);
    this.watch?.stop();
    for (const socket of [this.client, this.origin]) {
      try {
        socket?.close(closeCode(code), reason.slice(0, 120));
      } catch {
        // already closing
      }
    }
    if (this.session) streamClosed(this.er, this.session.id, this.shard, outcome, this.session.boundAt);
  }
}
