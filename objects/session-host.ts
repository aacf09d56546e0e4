import { DurableObject } from 'cloudflare:workers';
import * as n from '../protocol/notifications.ts';
import { ConErr } from '../protocol/codes.ts';
import { parseParams, scanParam, splitBody, type Params } from '../protocol/request.ts';
import { readStreamOptions, type StreamOptions } from '../protocol/stream-options.ts';
import type { Env } from '../worker/env.ts';
import { configOf, type DomainConfig } from '../worker/config.ts';
import { snapshotOf, count } from '../worker/registry-client.ts';
import { pickShard, usableShards } from '../worker/balance.ts';
import { ClientSession, type Refusal, type SessionServices } from './session/client-session.ts';
import type { UpstreamCredentials } from './session/upstream.ts';
import type { SubscriptionRecord } from './session/subscriptions.ts';
import { seal, unseal } from './session/sealed.ts';
import { HttpClientStream } from './session/client-stream.ts';
import { answerLine, SessionSocket, type Opened } from './session/session-socket.ts';
import { directoryOf, type HostName } from './session-directory.ts';
import { shardTransport, type ShardAddress } from './shard-transport.ts';

/**
 * Mode `session`: the clients' TLCP sessions themselves, terminated at the edge, up to the domain's
 * `sessionsPerObject` in one object. An object with an upstream socket open can never hibernate and
 * is billed for every second it lives, so an object per session would cost each session a whole
 * object; sharing one divides that by the sessions it holds (README, "Session layer").
 *
 * A session's id names its host and itself (`E<object id>.<key>`), so every request of the session
 * reaches it with no lookup. The host is each session's TLCP server — it answers the create, binds the
 * client's streams (WebSocket, HTTP streaming, both pollings), keeps the numbered notifications
 * recovery needs — and a TLCP client of one shard, where the session's subscriptions and messages live
 * (session/client-session.ts). The Worker hands each request over as it came, with what it knows of
 * the client in headers (worker/modes/session.ts); the session directory says which host takes a
 * create (session-directory.ts).
 */

/** Headers the Worker adds when it hands a request over. */
export const SESSION_HEADERS = {
  clientIp: 'x-edgepush-client-ip',
  domain: 'x-edgepush-domain',
  /** The client-visible base of the session hosts' paths: CONOK's control link is it plus `/<session id>`. */
  controlBase: 'x-edgepush-control-base',
  /** The session a request is for, as the Worker read it (absent on a create). */
  session: 'x-edgepush-session',
  /** On a create: this host's name in the directory and how many sessions it may hold. */
  host: 'x-edgepush-host',
  capacity: 'x-edgepush-capacity',
  /** On the answer to a create this host has no room for: the Worker asks the directory for another. */
  full: 'x-edgepush-host-full',
} as const;

/**
 * How long what storage keeps of a session waits for its client after the object restarted; longer
 * than any client keeps trying to recover a session (the official client: 15 s).
 */
const ABANDONED_AFTER_MS = 10 * 60_000;
/** A full host tells the directory it has room again once this share of its places is free. */
const ROOM_AGAIN_SHARE = 0.1;
/** The keepalive announced when a client asks for none (the origins' default). */
const DEFAULT_KEEPALIVE_MS = 5_000;
const STREAM_HEADERS = { 'content-type': 'text/enriched; charset=UTF-8', 'cache-control': 'no-store, no-cache, no-transform', 'x-accel-buffering': 'no' };
const TLCP_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

/** A host's session id: what the client carries, and what names the host and the session again. */
export const SESSION_ID_PATTERN = /^E([0-9a-f]{64})\.([0-9a-f]{32})$/;

/** What the Worker told the host of a session's client when the session was created. */
interface SessionFacts {
  readonly clientIp: string | null;
  readonly domain: string | null;
  readonly controlBase: string | null;
}

/**
 * What outlives a restart of the host (every deploy restarts objects), per session: who the client
 * is, its credentials (sealed), and the subscriptions it holds. Written at the create and when a
 * subscription is confirmed or goes — never per update.
 */
interface StoredSession extends SessionFacts {
  readonly credentials: string;
}

/** What the host keeps of itself: its name in the directory and its share of sessions. */
interface HostRecord {
  readonly name: HostName;
  readonly capacity: number;
}

const sessionKey = (key: string) => `session:${key}`;
const subscriptionsKey = (key: string) => `subs:${key}`;

/**
 * Whether the directory may send this host creates: `full` once it refused one, until enough of its
 * places are free; `unknown` after a restart, when the directory may think either.
 */
type Room = 'open' | 'full' | 'unknown';

export class SessionHost extends DurableObject<Env> {
  readonly #live = new Map<string, ClientSession>();
  /** Creates and restores under way, by key: requests for the session meanwhile wait for it. */
  readonly #opening = new Map<string, Promise<ClientSession | Refusal>>();
  /** What storage holds of every session this host has, live or waiting for its client after a restart. */
  readonly #stored = new Map<string, StoredSession>();
  /** Sockets accepted on the balancing address whose create has not come yet: each holds a place. */
  #pendingSockets = 0;
  #host: HostRecord | null = null;
  #room: Room = 'unknown';
  readonly #startedAt = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Each start of a host object (its first session, or after a restart): billed from here on.
    count('sessionHostStarts');
    void ctx.blockConcurrencyWhile(async () => {
      this.#host = (await ctx.storage.get<HostRecord>('host')) ?? null;
      for (const [key, stored] of await ctx.storage.list<StoredSession>({ prefix: 'session:' })) this.#stored.set(key.slice('session:'.length), stored);
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const named = request.headers.get(SESSION_HEADERS.session);
    const key = named === null ? null : this.#keyOf(named);
    if (request.headers.get('upgrade')?.toLowerCase() === 'websocket') return this.#socket(request, key);
    const name = /\/lightstreamer\/(create_session|bind_session|control|msg|heartbeat)\.txt$/.exec(new URL(request.url).pathname)?.[1];
    if (name === 'create_session') {
      const refusal = this.#admit(request);
      if (refusal) return refusal;
    }
    const body = await request.text();
    const lines = splitBody(body);
    switch (name) {
      case 'create_session':
      case 'bind_session':
        return this.#httpStream(request, name, lines[0] ?? '', key);
      case 'control':
      case 'msg': {
        const session = key === null ? null : await this.#session(key, 0);
        session?.heard();
        const answers = await Promise.all(lines.map((line) => answerLine(session, name, line, false)));
        for (const a of answers) a.after?.();
        return new Response(answers.map((a) => a.line ?? '').join(''), { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
      }
      case 'heartbeat':
        if (key !== null) (await this.#session(key, 0))?.heard();
        return new Response(n.reqok(), { headers: { 'content-type': 'text/plain; charset=utf-8' } });
      default:
        return new Response('not a TLCP request\n', { status: 404 });
    }
  }

  /** The key of a session id of this host; null for any other id. */
  #keyOf(sessionId: string): string | null {
    const m = SESSION_ID_PATTERN.exec(sessionId);
    return m && m[1] === this.ctx.id.toString() ? m[2] : null;
  }

  #sessionIdOf(key: string): string {
    return `E${this.ctx.id.toString()}.${key}`;
  }

  /** Places taken: sessions kept (live or awaiting their client), creates under way, sockets about to create. */
  #occupancy(): number {
    let creating = 0;
    for (const key of this.#opening.keys()) if (!this.#stored.has(key)) creating++;
    return this.#stored.size + creating + this.#pendingSockets;
  }

  /**
   * A create this host has room for goes on; one it has none for is answered for the Worker, which
   * asks the directory for another host. The directory names hosts and their share on the create.
   */
  #admit(request: Request): Response | null {
    const name = request.headers.get(SESSION_HEADERS.host);
    const capacity = Number(request.headers.get(SESSION_HEADERS.capacity));
    if (name && Number.isInteger(capacity) && capacity > 0 && (this.#host?.name !== name || this.#host.capacity !== capacity)) {
      this.#host = { name, capacity };
      void this.ctx.storage.put('host', this.#host);
    }
    if (this.#host && this.#occupancy() >= this.#host.capacity) {
      this.#room = 'full';
      return new Response('this session host is full\n', { status: 503, headers: { [SESSION_HEADERS.full]: '1' } });
    }
    return null;
  }

  /** A session left: a host the directory stopped sending creates to says when it has room again. */
  #left(): void {
    if (!this.#host || this.#room === 'open') return;
    if (this.#occupancy() > this.#host.capacity * (1 - ROOM_AGAIN_SHARE)) return;
    this.#room = 'open';
    const host = this.#host.name;
    this.ctx.waitUntil(directoryOf(this.env, host).hasRoom(host).catch(() => (this.#room = 'unknown')));
  }

  #current(key: string): ClientSession | null {
    const session = this.#live.get(key);
    return session && !session.closed ? session : null;
  }

  /**
   * The session of `key`, restored first if the host restarted since it was created; `startAt` is
   * what the client counts of its notifications, when its request says (a recovery), else 0.
   */
  async #session(key: string, startAt: number): Promise<ClientSession | null> {
    const opening = this.#opening.get(key);
    if (opening) await opening;
    const current = this.#current(key);
    const stored = this.#stored.get(key);
    if (current || !stored) return current;
    const records = (await this.ctx.storage.get<SubscriptionRecord[]>(subscriptionsKey(key))) ?? [];
    const credentials = await unseal<UpstreamCredentials>(this.env.SESSION_SECRET ?? '', stored.credentials);
    if (!credentials) return this.#forget(key);
    const restoring = ClientSession.restore(this.#services(key, stored), credentials, records, startAt);
    this.#opening.set(key, restoring);
    const restored = await restoring;
    this.#opening.delete(key);
    if ('code' in restored) return this.#forget(key);
    this.#live.set(key, restored);
    count('sessionLayerRestores');
    return restored;
  }

  /** Sessions kept for a restart that no client came back to are let go. */
  override async alarm(): Promise<void> {
    if (Date.now() - this.#startedAt >= ABANDONED_AFTER_MS) {
      for (const key of [...this.#stored.keys()]) if (!this.#current(key) && !this.#opening.has(key)) this.#forget(key);
    }
    if (this.#stored.size > 0) await this.ctx.storage.setAlarm(Date.now() + ABANDONED_AFTER_MS);
  }

  /** Nothing of this session can be served any more: nothing of it is kept either. */
  #forget(key: string): null {
    this.#live.delete(key);
    if (this.#stored.delete(key)) void this.ctx.storage.delete([sessionKey(key), subscriptionsKey(key)]);
    this.#left();
    return null;
  }

  async #httpStream(request: Request, name: 'create_session' | 'bind_session', line: string, key: string | null): Promise<Response> {
    const cors = corsHeaders(request);
    const refuse = (code: number, message: string) => new Response(n.conerr(code, message), { headers: { ...STREAM_HEADERS, ...cors } });
    const opened = await this.#open(request, name, line, key);
    if ('code' in opened) return refuse(opened.code, opened.message);
    const stream = new HttpClientStream(opened.options.polling, opened.options.contentLength, { ...STREAM_HEADERS, ...cors });
    const refusal = opened.session.bind(stream, opened.options);
    return refusal ? refuse(refusal.code, refusal.message) : stream.response;
  }

  /**
   * create_session opens a session here; bind_session finds the one its LS_session names (on a
   * socket of the control link, the one the Worker named too).
   */
  async #open(request: Request, name: 'create_session' | 'bind_session', line: string, named: string | null): Promise<Opened | Refusal> {
    let params: Params;
    let options: StreamOptions;
    try {
      params = parseParams(line);
      options = readStreamOptions(params, DEFAULT_KEEPALIVE_MS);
    } catch (err) {
      return { code: ConErr.MALFORMED, message: (err as Error).message };
    }
    if (name === 'bind_session') {
      const asked = scanParam(line, 'LS_session');
      const key = asked === null ? named : this.#keyOf(asked);
      const session = key === null || (named !== null && key !== named) ? null : await this.#session(key, options.recoveryFrom ?? 0);
      return session ? { session, options } : { code: ConErr.SESSION_NOT_FOUND, message: 'session not found' };
    }
    if (named !== null) return { code: ConErr.SESSION_NOT_FOUND, message: 'a create names no session' };
    const key = randomKey();
    const facts: SessionFacts = {
      clientIp: request.headers.get(SESSION_HEADERS.clientIp),
      domain: request.headers.get(SESSION_HEADERS.domain),
      controlBase: request.headers.get(SESSION_HEADERS.controlBase),
    };
    const credentials: UpstreamCredentials = {
      adapterSet: params.get('LS_adapter_set') ?? null,
      user: params.get('LS_user') ?? null,
      password: params.get('LS_password') ?? null,
      requestedBandwidth: params.get('LS_requested_max_bandwidth') ?? null,
    };
    const opening = ClientSession.open(this.#services(key, facts), credentials);
    this.#opening.set(key, opening);
    const opened = await opening;
    if ('code' in opened) {
      this.#opening.delete(key);
      this.#left();
      return opened;
    }
    const stored: StoredSession = { ...facts, credentials: await seal(this.env.SESSION_SECRET ?? '', credentials) };
    this.#stored.set(key, stored);
    this.#live.set(key, opened);
    this.#opening.delete(key);
    await this.ctx.storage.put(sessionKey(key), stored);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + ABANDONED_AFTER_MS);
    count('sessionLayerSessions');
    return { session: opened, options };
  }

  #services(key: string, facts: SessionFacts): SessionServices {
    const env = this.env;
    const config = configOf(env);
    const domain = config.domains.find((d) => d.host === facts.domain) ?? null;
    const waitUntil = (p: Promise<unknown>) => this.ctx.waitUntil(p);
    const sessionId = this.#sessionIdOf(key);
    return {
      sessionId,
      clientIp: facts.clientIp,
      edgeSecret: env.EDGE_SECRET,
      transport: shardTransport(env),
      controlLink: facts.controlBase === null ? null : `${facts.controlBase}/${sessionId}`,
      place: (avoid) => placeUpstream(env, domain, avoid, waitUntil),
      upstreamLifetimeMs: () => (domain && domain.maxSessionMinutes > 0 ? domain.maxSessionMinutes * 60_000 * (1 + domain.maxSessionJitter * (2 * Math.random() - 1)) : null),
      count: (counter, by) => count(counter, by),
      subscriptionsChanged: (records) => {
        if (this.#stored.has(key)) void this.ctx.storage.put(subscriptionsKey(key), records);
      },
      closed: () => this.#forget(key),
    };
  }

  /**
   * The client's WebSocket, accepted here: frames are requests of the session the Worker named (a
   * socket of the control link) or of the one its create opens (a socket of the balancing address,
   * which holds a place from now until its create or its close).
   */
  #socket(request: Request, named: string | null): Response {
    const offered = (request.headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(TLCP_SUBPROTOCOL)) return new Response(`not a TLCP WebSocket (subprotocol ${TLCP_SUBPROTOCOL} required)\n`, { status: 400 });
    const creating = request.headers.get(SESSION_HEADERS.session) === null;
    if (creating) {
      const refusal = this.#admit(request);
      if (refusal) return refusal;
    }
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    let holdsPlace = creating;
    const release = () => {
      if (!holdsPlace) return;
      holdsPlace = false;
      this.#pendingSockets--;
      this.#left();
    };
    if (creating) this.#pendingSockets++;
    server.addEventListener('close', release);
    server.addEventListener('error', release);
    new SessionSocket(
      server,
      async (name, line) => {
        // The create under way takes the socket's place over.
        if (name === 'create_session' && holdsPlace) {
          holdsPlace = false;
          this.#pendingSockets--;
        }
        const opened = await this.#open(request, name, line, named);
        if ('code' in opened) this.#left();
        return opened;
      },
      async () => (named === null ? null : this.#session(named, 0)),
    );
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': TLCP_SUBPROTOCOL } });
  }
}

function randomKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
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
