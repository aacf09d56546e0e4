import type { EdgeRequest } from './edge-request.ts';
import { END_MAX_DURATION, conerrCodeOf } from './tlcp.ts';
import { ConErr } from '../protocol/codes.ts';
import { sessionGone } from './failover.ts';
import { parseWsFrame, scanParam } from '../protocol/request.ts';
import { WSOK } from '../protocol/notifications.ts';
import { originHeaders } from './forwarding.ts';
import { homeOfSession, placeSession, GONE, type RouteHints } from './session-routing.ts';
import { controlLinkFor, onConok } from './conok.ts';
import { streamDeadline } from './max-session-duration.ts';
import { count, reportUnreachable } from './registry-client.ts';
import { isServing } from './balance.ts';
import { urlTransport } from '../objects/shard-transport.ts';
import { admitCreate, CREATE_REFUSED_CLOSE } from './create-rate-limit.ts';

const TLCP_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

/** Close codes an endpoint may not send itself; they only ever describe what happened. */
const RESERVED_CLOSE = new Set([1005, 1006, 1015]);
const closeCode = (code: number) => (RESERVED_CLOSE.has(code) || code < 1000 || code >= 5000 ? 1000 : code);

/**
 * The origin's 101 for the origin leg of a client socket (the runtime runs its own handshake with the
 * origin), or null when the shard cannot be reached, which the registry hears about at once.
 */
async function upgradeAt(er: EdgeRequest, request: Request, shard: string): Promise<Response | null> {
  const headers = originHeaders(request.headers, er.client, er.env.EDGE_SECRET);
  for (const h of ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']) headers.delete(h);
  headers.set('upgrade', 'websocket');
  headers.set('sec-websocket-protocol', TLCP_SUBPROTOCOL);
  try {
    const res = await urlTransport.fetch(er.config.shards.get(shard)!, '/lightstreamer', { headers });
    if (res.webSocket) return res;
  } catch {
    // refused or reset: as unreachable as an origin that does not upgrade
  }
  reportUnreachable(er.env, shard, er.waitUntil);
  return null;
}

async function connect(er: EdgeRequest, request: Request, shard: string): Promise<WebSocket | null> {
  const socket = (await upgradeAt(er, request, shard))?.webSocket ?? null;
  socket?.accept();
  return socket;
}

/**
 * A socket whose shard the URL names, on a live shard, with nothing to edit (no control link to
 * rewrite, no stream deadline): the upgrade passes straight through and the runtime relays frames
 * without the Worker touching them.
 */
export async function passThroughWebSocket(er: EdgeRequest, request: Request, shard: string): Promise<Response | null> {
  if (!isServing(er.snapshot, shard) || controlLinkFor(er, shard) !== null || er.domain.maxSessionMinutes > 0) return null;
  return upgradeAt(er, request, shard);
}

/**
 * A socket on the balancing address. Whether it creates a session (S: balance) or binds one (CR:
 * follow the session) is only known from its first request frame, so the edge accepts the client
 * socket, answers the `wsok` handshake itself, reads that frame, and only then opens the origin socket
 * (swallowing the origin's own WSOK) and relays both ways.
 */
export function relayWebSocket(er: EdgeRequest, request: Request, hints: RouteHints, headers: Headers): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  server.accept();
  new SocketRelay(er, request, server, hints).start();
  headers.set('sec-websocket-protocol', TLCP_SUBPROTOCOL);
  return new Response(null, { status: 101, webSocket: client, headers });
}

class SocketRelay {
  private origin: WebSocket | null = null;
  private routed = false;
  private readonly queue: (string | ArrayBuffer)[] = [];
  /** Origin → client messages go out in order even when one waits (CONOK awaiting a pin write). */
  private outbound: Promise<void> = Promise.resolve();
  private originWsokPending = true;
  /** Until its CONOK passes: the socket created a session whose pin may need learning. */
  private creating = false;
  /** The create frame, while a full shard's refusal may still send it to another shard once. */
  private createFrame: string | null = null;
  private shard = '';
  private deadlineTimer: number | null = null;
  private closed = false;

  constructor(
    private readonly er: EdgeRequest,
    private readonly request: Request,
    private readonly client: WebSocket,
    private readonly hints: RouteHints,
  ) {}

  start(): void {
    this.client.addEventListener('message', (ev) => this.fromClient(ev.data));
    this.client.addEventListener('close', (ev) => this.close(ev.code, ev.reason));
    this.client.addEventListener('error', () => this.close(1011, 'client socket error'));
  }

  private fromClient(data: string | ArrayBuffer): void {
    if (this.closed) return;
    if (this.origin) return this.origin.send(data);
    if (!this.routed && data === 'wsok') return this.client.send(WSOK);
    this.queue.push(data);
    if (!this.routed) {
      this.routed = true;
      this.er.waitUntil(
        this.route(typeof data === 'string' ? data : '').catch((err: unknown) => {
          // The socket's only trace of an edge fault (a Durable Object call failing, say): log it as onError does for HTTP.
          console.error(err);
          this.close(1011, 'edge error');
        }),
      );
    }
  }

  private async route(first: string): Promise<void> {
    const frame = parseWsFrame(first);
    const params = frame.lines[0] ?? '';
    this.creating = frame.name === 'create_session';
    let socket: WebSocket | null = null;
    if (this.creating) {
      if (!(await admitCreate(this.er)).admitted) return this.close(CREATE_REFUSED_CLOSE.code, CREATE_REFUSED_CLOSE.reason); // create rate limit (create-rate-limit.ts)
      for (let attempt = 0; attempt < 2 && !socket; attempt++) {
        const placement = await placeSession(this.er, attempt === 0 ? this.hints : { ...this.hints, placed: undefined });
        if (!placement) break;
        socket = await connect(this.er, this.request, placement.shard);
        if (socket) this.shard = placement.shard;
      }
      // A transport error: the client retries the create with backoff.
      if (!socket) return this.close(1013, 'no shard available');
    } else {
      const home = await homeOfSession(this.er, { ...this.hints, sessionId: scanParam(params, 'LS_session') });
      if (home !== GONE) {
        socket = await connect(this.er, this.request, home.shard);
        if (socket) this.shard = home.shard;
      }
      if (!socket) {
        this.client.send(sessionGone('websocket', ''));
        return this.close(1000, 'session not found');
      }
    }
    if (this.closed) return socket.close(1000, 'client went away');
    if (this.creating) this.createFrame = first;
    this.attach(socket);
    for (const data of this.queue.splice(0)) socket.send(data);
    if (scanParam(params, 'LS_polling') !== 'true') this.armDeadline();
  }

  /** Relays `socket` from now on; a socket replaced since (a full shard's) no longer speaks for the client. */
  private attach(socket: WebSocket): void {
    this.origin = socket;
    this.originWsokPending = true;
    socket.addEventListener('message', (ev) => {
      if (socket === this.origin) this.fromOrigin(ev.data);
    });
    // Whatever the origin sent before closing (LOOP, END) reaches the client before the close does.
    socket.addEventListener('close', (ev) => void this.outbound.then(() => socket === this.origin && this.close(ev.code, ev.reason)));
    socket.addEventListener('error', () => socket === this.origin && this.close(1011, 'origin socket error'));
    socket.send('wsok');
  }

  /**
   * The create met a full shard (`CONERR,5`, nothing created there): the same create frame goes once
   * to another shard of the pool, as over HTTP. Not in cookie mode, where the 101 has already told the
   * client its shard, or where the client's cookie names the full one: there the client sees the 5 and
   * retries over HTTP, where the edge re-places the create and sets the cookie that matches.
   */
  private async placeElsewhere(refusal: string): Promise<boolean> {
    const frame = this.createFrame;
    this.createFrame = null;
    if (frame === null || this.er.domain.modes.includes('cookie')) return false;
    const placement = await placeSession(this.er, { ...this.hints, placed: undefined, avoid: this.shard });
    if (!placement) return false;
    // Detached first, so that its closing does not close the client; frames meanwhile wait in the queue.
    const refused = this.origin;
    this.origin = null;
    refused?.close(1000, 'create placed on another shard');
    const socket = await connect(this.er, this.request, placement.shard);
    if (!socket || this.closed) {
      socket?.close(1000, 'client went away');
      this.toClient(refusal);
      this.close(1000, 'no other shard could take the session');
      return true;
    }
    count('overloadedCreatesPlacedAgain');
    this.shard = placement.shard;
    this.attach(socket);
    socket.send(frame);
    for (const data of this.queue.splice(0)) socket.send(data);
    return true;
  }

  private fromOrigin(data: string | ArrayBuffer): void {
    this.outbound = this.outbound.then(() => this.forward(data));
  }

  /** Drops the origin's WSOK (the client already got the edge's) and edits every CONOK line. */
  private async forward(data: string | ArrayBuffer): Promise<void> {
    if (typeof data !== 'string') return this.toClient(data);
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
    if (text.startsWith('CONOK,') || text.includes('\nCONOK,')) {
      const lines = text.split('\r\n');
      for (let i = 0; i < lines.length; i++) {
        if (!lines[i].startsWith('CONOK,')) continue;
        lines[i] = await onConok(this.er, this.shard, lines[i], this.creating);
        this.creating = false;
        this.createFrame = null;
      }
      text = lines.join('\r\n');
    }
    if (text.length > 0) this.toClient(text);
  }

  private toClient(data: string | ArrayBuffer): void {
    if (!this.closed) this.client.send(data);
  }

  private armDeadline(): void {
    const deadline = streamDeadline(this.er);
    if (deadline === null) return;
    this.deadlineTimer = setTimeout(() => {
      this.outbound = this.outbound.then(() => {
        count('maxDurationEnds');
        this.toClient(END_MAX_DURATION);
        this.close(1000, 'maximum session duration');
      });
    }, deadline - Date.now());
  }

  private close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.deadlineTimer);
    for (const socket of [this.client, this.origin]) {
      try {
        socket?.close(closeCode(code), reason.slice(0, 120));
      } catch {
        // already closing
      }
    }
  }
}
