import { DurableObject } from 'cloudflare:workers';
import * as n from '../protocol/notifications.ts';
import { ConErr, ReqErr } from '../protocol/codes.ts';
import { isRequestId, parseParams, parseWsFrame, scanParam, splitBody, TlcpSyntaxError, type Params } from '../protocol/request.ts';
import { readStreamOptions, type StreamOptions } from '../protocol/stream-options.ts';
import type { Env } from '../worker/env.ts';
import { configOf, type DomainConfig } from '../worker/config.ts';
import { snapshotOf, count } from '../worker/registry-client.ts';
import { pickShard, usableShards } from '../worker/balance.ts';
import { ClientSession, type Answer, type Refusal, type SessionServices } from './session/client-session.ts';
import type { UpstreamCredentials } from './session/upstream.ts';
import type { SubscriptionRecord } from './session/subscriptions.ts';
import { seal, unseal } from './session/sealed.ts';
import { HttpClientStream, WsClientStream, type ClientSocket } from './session/client-stream.ts';
import type { ShardAddress } from './shard-transport.ts';

/**
 * Mode `session`: the client's TLCP session itself, one object per session, named by its id
 * (`E<object id>`), so every request of the session reaches it with no lookup. The object is the
 * client's TLCP server — it answers the create, binds the client's streams (WebSocket, HTTP
 * streaming, both pollings), keeps the numbered notifications recovery needs — and a TLCP client of
 * one shard, where the session's subscriptions and messages live (session/client-session.ts). The
 * Worker hands each request over as it came, with what it knows of the client in headers
 * (worker/modes/session.ts).
 */

/** Headers the Worker adds when it hands a request over. */
export const SESSION_HEADERS = {
  clientIp: 'x-edgepush-client-ip',
  domain: 'x-edgepush-domain',
  /** The client-visible base of this session's own path: CONOK's control link. */
  controlLink: 'x-edgepush-control-link',
} as const;

/**
 * How long what storage keeps of a session waits for its client after the object restarted; longer
 * than any client keeps trying to recover a session (the official client: 15 s).
 */
const ABANDONED_AFTER_MS = 10 * 60_000;
/** The keepalive announced when a client asks for none (the origins' default). */
const DEFAULT_KEEPALIVE_MS = 5_000;
const STREAM_HEADERS = { 'content-type': 'text/enriched; charset=UTF-8', 'cache-control': 'no-store, no-cache, no-transform', 'x-accel-buffering': 'no' };
const TLCP_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

/** The session id of an object: what the client carries, and what names the object again. */
export const sessionIdOfObject = (id: DurableObjectId): string => `E${id.toString()}`;

/** What the Worker told the object of its client when the session was created. */
interface SessionFacts {
  readonly clientIp: string | null;
  readonly domain: string | null;
  readonly controlLink: string | null;
}

/**
 * What outlives a restart of the object (every deploy restarts objects): who the client is, its
 * credentials (sealed), and the subscriptions it holds. Written at the create and when a
 * subscription is confirmed or goes — never per update.
 */
interface StoredSession extends SessionFacts {
  readonly credentials: string;
}

export class EdgeSession extends DurableObject<Env> {
  #session: ClientSession | null = null;
  /** A create or a restore under way: requests meanwhile wait for it. */
  #opening: Promise<ClientSession | Refusal> | null = null;
  /** What storage holds of a session this object had before it restarted. */
  #stored: StoredSession | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#stored = (await ctx.storage.get<StoredSession>('session')) ?? null;
    });
  }

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') return this.#socket(request);
    const name = /\/lightstreamer\/(create_session|bind_session|control|msg|heartbeat)\.txt$/.exec(new URL(request.url).pathname)?.[1];
    const body = await request.text();
    const lines = splitBody(body);
    switch (name) {
      case 'create_session':
      case 'bind_session':
        return this.#httpStream(request, name, lines[0] ?? '');
      case 'control':
      case 'msg': {
        const session = await this.#live(0);
        session?.heard();
        const answers = await Promise.all(lines.map((line) => answerLine(session, name, line, false)));
        for (const a of answers) a.after?.();
        return new Response(answers.map((a) => a.line ?? '').join(''), { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
      }
      case 'heartbeat':
        (await this.#live(0))?.heard();
        return new Response(n.reqok(), { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      default:
        return new Response('not a TLCP request\n', { status: 404 });
    }
  }

  #current(): ClientSession | null {
    return this.#session && !this.#session.closed ? this.#session : null;
  }

  /**
   * The session, restored first if the object restarted since it was created; `startAt` is what the
   * client counts of its notifications, when its request says (a recovery), else 0.
   */
  async #live(startAt: number): Promise<ClientSession | null> {
    if (this.#opening) await this.#opening;
    const current = this.#current();
    if (current || !this.#stored) return current;
    const stored = this.#stored;
    const records = (await this.ctx.storage.get<SubscriptionRecord[]>('subscriptions')) ?? [];
    const credentials = await unseal<UpstreamCredentials>(this.env.SESSION_SECRET ?? '', stored.credentials);
    if (!credentials) return this.#forget();
    this.#opening = ClientSession.restore(this.#services(stored), credentials, records, startAt);
    const restored = await this.#opening;
    this.#opening = null;
    if ('code' in restored) return this.#forget();
    this.#session = restored;
    count('sessionLayerRestores');
    return restored;
  }

  /** A session kept for a restart that no client came back to is let go. */
  override async alarm(): Promise<void> {
    if (this.#current()) await this.ctx.storage.setAlarm(Date.now() + ABANDONED_AFTER_MS);
    else this.#forget();
  }

  /** Nothing of this session can be served any more: nothing of it is kept either. */
  #forget(): null {
    this.#stored = null;
    void this.ctx.storage.deleteAll();
    return null;
  }

  async #httpStream(request: Request, name: 'create_session' | 'bind_session', line: string): Promise<Response> {
    const cors = corsHeaders(request);
    const refuse = (code: number, message: string) => new Response(n.conerr(code, message), { headers: { ...STREAM_HEADERS, ...cors } });
    const opened = await this.#open(request, name, line);
    if ('code' in opened) return refuse(opened.code, opened.message);
    const stream = new HttpClientStream(opened.options.polling, opened.options.contentLength, { ...STREAM_HEADERS, ...cors });
    const refusal = opened.session.bind(stream, opened.options);
    return refusal ? refuse(refusal.code, refusal.message) : stream.response;
  }

  /** create_session opens the session here (one per object); bind_session finds it. */
  async #open(request: Request, name: 'create_session' | 'bind_session', line: string): Promise<{ session: ClientSession; options: StreamOptions } | Refusal> {
    let params: Params;
    let options: StreamOptions;
    try {
      params = parseParams(line);
      options = readStreamOptions(params, DEFAULT_KEEPALIVE_MS);
    } catch (err) {
      return { code: ConErr.MALFORMED, message: (err as Error).message };
    }
    if (name === 'bind_session') {
      const session = await this.#live(options.recoveryFrom ?? 0);
      const named = scanParam(line, 'LS_session') ?? sessionIdOfObject(this.ctx.id);
      if (!session || named !== session.id) return { code: ConErr.SESSION_NOT_FOUND, message: 'session not found' };
      return { session, options };
    }
    if (this.#session || this.#opening || this.#stored) return { code: ConErr.SESSION_NOT_FOUND, message: 'this session exists already' };
    const facts: SessionFacts = {
      clientIp: request.headers.get(SESSION_HEADERS.clientIp),
      domain: request.headers.get(SESSION_HEADERS.domain),
      controlLink: request.headers.get(SESSION_HEADERS.controlLink),
    };
    const credentials: UpstreamCredentials = {
      adapterSet: params.get('LS_adapter_set') ?? null,
      user: params.get('LS_user') ?? null,
      password: params.get('LS_password') ?? null,
    };
    this.#opening = ClientSession.open(this.#services(facts), credentials);
    const opened = await this.#opening;
    this.#opening = null;
    if ('code' in opened) return opened;
    this.#session = opened;
    this.#stored = { ...facts, credentials: await seal(this.env.SESSION_SECRET ?? '', credentials) };
    await this.ctx.storage.put('session', this.#stored);
    await this.ctx.storage.setAlarm(Date.now() + ABANDONED_AFTER_MS);
    count('sessionLayerSessions');
    return { session: opened, options };
  }

  #services(facts: SessionFacts): SessionServices {
    const env = this.env;
    const config = configOf(env);
    const domain = config.domains.find((d) => d.host === facts.domain) ?? null;
    const waitUntil = (p: Promise<unknown>) => this.ctx.waitUntil(p);
    return {
      sessionId: sessionIdOfObject(this.ctx.id),
      clientIp: facts.clientIp,
      edgeSecret: env.EDGE_SECRET,
      controlLink: facts.controlLink,
      place: (avoid) => placeUpstream(env, domain, avoid, waitUntil),
      upstreamLifetimeMs: () => (domain && domain.maxSessionMinutes > 0 ? domain.maxSessionMinutes * 60_000 * (1 + domain.maxSessionJitter * (2 * Math.random() - 1)) : null),
      count: (counter) => count(counter),
      subscriptionsChanged: (records) => void this.ctx.storage.put('subscriptions', records),
      closed: () => {
        this.#session = null;
        this.#forget();
      },
    };
  }

  /** The client's WebSocket, accepted here: frames are this session's requests, its streams are written on it. */
  #socket(request: Request): Response {
    const offered = (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(TLCP_SUBPROTOCOL)) return new Response(`not a TLCP WebSocket (subprotocol ${TLCP_SUBPROTOCOL} required)\n`, { status: 400 });
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    new SessionSocket(server, (name, line) => this.#open(request, name, line), () => this.#live(0));
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': TLCP_SUBPROTOCOL } });
  }
}

/**
 * One client WebSocket on the session's object: `wsok`, a create or bind (the first one naming the
 * session), then control, msg and heartbeat frames, and for WS-POLLING the next binds. Frames start
 * in order; answers go out as each completes, so an add waiting for its upstream never holds up the
 * frames behind it.
 */
class SessionSocket implements ClientSocket {
  #stream: WsClientStream | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly open: (name: 'create_session' | 'bind_session', line: string) => Promise<{ session: ClientSession; options: StreamOptions } | Refusal>,
    private readonly session: () => Promise<ClientSession | null>,
  ) {
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return void ws.close(1003, 'TLCP frames are text');
      const text = ev.data;
      this.#queue = this.#queue.then(() => this.#handle(text)).catch(() => this.close());
    });
    ws.addEventListener('close', () => this.#stream?.lost());
    ws.addEventListener('error', () => this.#stream?.lost());
  }

  send(text: string): number {
    try {
      this.ws.send(text);
      return text.length;
    } catch {
      return 0;
    }
  }

  released(stream: WsClientStream): void {
    if (this.#stream === stream) this.#stream = null;
  }

  close(): void {
    try {
      this.ws.close(1000);
    } catch {
      // closing already
    }
  }

  async #handle(text: string): Promise<void> {
    const frame = parseWsFrame(text);
    switch (frame.name) {
      case 'wsok':
        this.send(n.WSOK);
        return;
      case 'create_session':
      case 'bind_session': {
        const opened = await this.open(frame.name, frame.lines[0] ?? '');
        if ('code' in opened) {
          this.send(n.conerr(opened.code, opened.message));
          return this.close();
        }
        // A bind on this very socket (WS-POLLING) replaces its stream without closing the socket.
        this.#stream?.abandon();
        const stream = new WsClientStream(this, opened.options.polling);
        const refusal = opened.session.bind(stream, opened.options);
        if (refusal) {
          this.send(n.conerr(refusal.code, refusal.message));
          return this.close();
        }
        this.#stream = stream;
        return;
      }
      case 'control':
      case 'msg': {
        const session = await this.session();
        session?.heard();
        for (const line of frame.lines) {
          void answerLine(session, frame.name, line, true).then((answer) => {
            if (answer.line !== null) this.send(answer.line);
            answer.after?.();
          });
        }
        return;
      }
      case 'heartbeat':
        (await this.session())?.heard();
        return;
      default:
        this.send(n.error(ConErr.MALFORMED, `unknown request ${frame.name.slice(0, 40)}`));
        this.ws.close(1002, 'not TLCP');
    }
  }
}

/** One control or msg line for `session` (null: none here, which the line is told as 20). */
async function answerLine(session: ClientSession | null, name: 'control' | 'msg', line: string, overWebSocket: boolean): Promise<Answer> {
  const reqId = scanParam(line, 'LS_reqId');
  if (!isRequestId(reqId)) return { line: n.error(ConErr.MALFORMED, 'missing or bad LS_reqId') };
  let params: Map<string, string>;
  try {
    params = new Map(parseParams(line));
  } catch (err) {
    return { line: n.reqerr(reqId, ReqErr.MALFORMED, err instanceof TlcpSyntaxError ? err.message : 'malformed request') };
  }
  if (!session) return { line: n.reqerr(reqId, ReqErr.SESSION_NOT_FOUND, 'session not found') };
  const ack = !overWebSocket || params.get('LS_ack') !== 'false';
  params.delete('LS_reqId');
  params.delete('LS_ack');
  params.delete('LS_session');
  return name === 'control' ? session.control(reqId, params, ack) : session.message(reqId, params, ack);
}

/** A shard of the domain's pool that can take an upstream now, other than `avoid`. */
async function placeUpstream(env: Env, domain: DomainConfig | null, avoid: readonly string[], waitUntil: (p: Promise<unknown>) => void): Promise<ShardAddress | null> {
  const config = configOf(env);
  const snapshot = await snapshotOf(env, config, waitUntil);
  const usable = usableShards(snapshot, domain?.shards ?? [...config.shards.keys()]).filter((s) => !avoid.includes(s.id));
  const shard = pickShard(usable);
  return shard === null ? null : (config.shards.get(shard) ?? null);
}

/** Browsers on another origin see the answers the session writes itself only with these (tlcp.md F.12). */
function corsHeaders(request: Request): Record<string, string> {
  const origin = request.headers.get('origin');
  return origin ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'origin' } : {};
}
