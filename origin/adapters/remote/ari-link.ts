/**
 * The server side of ARI for one proxy adapter of adapters.xml: the origin listens as Lightstreamer's
 * proxy adapters do, a remote adapter (written with any official SDK) connects, and the link between
 * them carries requests and replies (and, for data adapters, notifications) as ARI lines.
 *
 * One remote at a time per proxy: a second one is turned away with a CLOSE packet while the first is
 * connected. A connection goes through:
 * - credentials (`RAC`, request id 1): the SDKs send them first, unasked; with `auth` set they must
 *   match a configured pair, or the remote is closed with the reason;
 * - for the two-connection form (`notify_port`, the Node SDK 1.5), the notify connection, paired with
 *   the request/reply one (each may come first);
 * - initialisation (`DPI`/`MPI`) with the protocol version the origin speaks (1.9.1); the remote
 *   answers with the version it speaks (the Node SDK 1.5 says 1.8.3, the Java SDK 1.7 1.9.1), and the
 *   link speaks that dialect from then on.
 *
 * Hostile or broken remotes cost their own link, never the origin: lines are bounded in length (a
 * longer one drops the connection), a line that is no packet is counted and skipped, every request
 * has a deadline (`timeout`) and a bound on how many may wait, and a remote silent for longer than
 * `keepalive_timeout_millis` is dropped. The origin never sends KEEPALIVE itself: the 1.8 SDKs cannot
 * read one.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { ProxyConfig } from '../config/proxy-params.ts';
import {
  AUTH_REQUEST_ID,
  AriSyntaxError,
  ArgReader,
  CLOSE_REQUEST_ID,
  KEEPALIVE,
  abbreviate,
  packetLine,
  parsePacket,
  readReply,
  stringArgs,
  type AriPacket,
} from './ari-wire.ts';
import type { RemoteStats } from './remote-stats.ts';

/** The protocol version the origin offers: the newest the official SDKs speak. */
export const OFFERED_VERSION = '1.9.1';
const ACCEPTED_VERSIONS = new Map<string, Dialect>([
  ['1.8.2', '1.8'],
  ['1.8.3', '1.8'],
  ['1.9.0', '1.9'],
  ['1.9.1', '1.9'],
]);
export type Dialect = '1.8' | '1.9';

/** A longer line drops the connection: an update of this size is no feed's business. */
export const MAX_LINE_CHARS = 1024 * 1024;
/** Requests waiting for their reply on one link; beyond, new ones fail at once. */
const MAX_PENDING_REQUESTS = 10_000;
/** How long a new connection may take to present credentials and its notify connection. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** What a data remote sends unasked: notifications (on the notify connection, or the only one). */
const NOTIFICATIONS = new Set(['UD3', 'UD1', 'UD2', 'EOS', 'CLS', 'FAL', 'DFD']);
/** Requests a metadata remote may send the origin (FAL, and in 1.9 FST and FUS). */
const REMOTE_REQUESTS = new Set(['FST', 'FUS', 'FAL']);
/** Protocol complaints logged per link, at most, per minute. */
const LOG_BUDGET_PER_MINUTE = 10;

export class RemoteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** One socket as lines in and out. */
class LineChannel {
  #tail = '';
  #closed = false;
  lastHeardAt = Date.now();
  /** The remote asked for a CLOSE packet before the origin hangs up (RAC `enableClosePacket`). */
  wantsClosePacket = false;
  /** Credentials seen (or not required). */
  authenticated = false;

  constructor(
    readonly socket: net.Socket,
    private readonly onLine: (line: string, channel: LineChannel) => void,
    private readonly onClose: (channel: LineChannel, why: string) => void,
  ) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.#read(chunk));
    socket.on('error', (err) => this.#closedBy(`socket error: ${err.message}`));
    socket.on('close', () => this.#closedBy('connection closed by the remote'));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peer(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  write(line: string): void {
    if (!this.#closed) this.socket.write(line);
  }

  /** Ends the connection, with a CLOSE packet first if the remote can read one. */
  close(reason: string | null): void {
    if (this.#closed) return;
    if (reason !== null && this.wantsClosePacket) this.socket.write(packetLine(CLOSE_REQUEST_ID, 'CLOSE', stringArgs('reason', reason)));
    this.socket.end();
    // A remote that does not read its end of the connection must not keep it open.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
    this.#closedBy(reason ?? 'closed');
  }

  #read(chunk: string): void {
    if (this.#closed) return;
    this.lastHeardAt = Date.now();
    let data = this.#tail + chunk;
    let start = 0;
    for (let nl = data.indexOf('\n', start); nl >= 0 && !this.#closed; nl = data.indexOf('\n', start)) {
      const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (end > start) this.onLine(data.slice(start, end), this);
      start = nl + 1;
    }
    data = data.slice(start);
    if (data.length > MAX_LINE_CHARS) {
      this.#tail = '';
      this.close(`line longer than ${MAX_LINE_CHARS} characters`);
      return;
    }
    this.#tail = data;
  }

  #closedBy(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.destroy();
    this.onClose(this, why);
  }
}

interface Pending {
  readonly method: string;
  readonly resolve: (packet: AriPacket) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout | null;
}

export interface LinkHandlers {
  /** A notification (data links): UD3, EOS, CLS, FAL, DFD. */
  onNotification(packet: AriPacket): void;
  /** A request from the remote (1.9 metadata links): FST, FUS, FAL. Reply with `link.reply`. */
  onRemoteRequest(packet: AriPacket, link: AriLink): void;
}

/** An initialised link to one remote adapter. */
export class AriLink {
  #nextId = 10;
  readonly #pending = new Map<string, Pending>();
  #closed = false;
  #watchdog: NodeJS.Timeout | null = null;
  #logBudget = LOG_BUDGET_PER_MINUTE;
  #logBudgetAt = Date.now();

  constructor(
    readonly main: LineChannel,
    readonly notify: LineChannel | null,
    private readonly config: ProxyConfig,
    private readonly stats: RemoteStats,
    private readonly logger: Logger,
    private readonly onClosed: (link: AriLink, why: string) => void,
  ) {
    if (config.keepaliveTimeoutMs !== null) {
      const limit = config.keepaliveTimeoutMs;
      this.#watchdog = setInterval(() => {
        const now = Date.now();
        for (const channel of [this.main, this.notify]) {
          if (channel && now - channel.lastHeardAt > limit) this.close(`no message or keepalive for ${limit} ms`);
        }
      }, Math.max(100, Math.min(limit / 4, 1_000)));
      this.#watchdog.unref();
    }
  }

  /** Set once the init reply named it. */
  dialect: Dialect = '1.8';
  version = '';
  handlers: LinkHandlers | null = null;

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends a request; resolves with the reply packet (an exception reply too), rejects on timeout or loss. */
  request(method: string, args: readonly string[]): Promise<AriPacket> {
    return this.send(method, args).reply;
  }

  /** `request`, with the request's id (notifications of a subscription carry its SUB's id). */
  send(method: string, args: readonly string[]): { readonly id: string; readonly reply: Promise<AriPacket> } {
    const id = String(this.#nextId++);
    if (this.#closed) return { id, reply: Promise.reject(new RemoteError('remote adapter not connected')) };
    if (this.#pending.size >= MAX_PENDING_REQUESTS) {
      return { id, reply: Promise.reject(new RemoteError(`more than ${MAX_PENDING_REQUESTS} requests waiting for the remote adapter`)) };
    }
    this.stats.requests++;
    const reply = new Promise<AriPacket>((resolve, reject) => {
      const timeout = this.config.timeoutMs;
      const timer =
        timeout === null
          ? null
          : setTimeout(() => {
              if (!this.#pending.delete(id)) return;
              this.stats.pendingRequests = this.#pending.size;
              this.stats.requestTimeouts++;
              this.#complain(`${method} request ${id} not answered within ${timeout} ms`);
              reject(new RemoteError(`${method} not answered by the remote adapter within ${timeout} ms`));
            }, timeout);
      this.#pending.set(id, { method, resolve, reject, timer });
      this.stats.pendingRequests = this.#pending.size;
      this.main.write(packetLine(id, method, args));
    });
    return { id, reply };
  }

  reply(id: string, method: string, args: readonly string[]): void {
    this.main.write(packetLine(id, method, args));
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.main.close(reason);
    this.notify?.close(reason);
    for (const [id, pending] of this.#pending) {
      if (pending.timer) clearTimeout(pending.timer);
      this.#pending.delete(id);
      pending.reject(new RemoteError(`remote adapter disconnected (${reason})`));
    }
    this.stats.pendingRequests = 0;
    this.onClosed(this, reason);
  }

  /** A line from either connection, once initialised. */
  receive(line: string, channel: LineChannel): void {
    if (line === KEEPALIVE) return;
    let packet: AriPacket;
    try {
      packet = parsePacket(line);
    } catch (err) {
      this.#protocolError(err, line);
      return;
    }
    if (packet.method === 'RAC') return;
    if (this.config.kind === 'data' && NOTIFICATIONS.has(packet.method)) {
      try {
        this.handlers?.onNotification(packet);
      } catch (err) {
        this.#protocolError(err, line);
      }
      return;
    }
    if (channel !== this.main) {
      this.#protocolError(new AriSyntaxError(`${packet.method} on the notify connection`), line);
      return;
    }
    const pending = this.#pending.get(packet.id);
    if (pending && pending.method === packet.method) {
      this.#pending.delete(packet.id);
      this.stats.pendingRequests = this.#pending.size;
      if (pending.timer) clearTimeout(pending.timer);
      pending.resolve(packet);
      return;
    }
    if (this.config.kind === 'metadata' && REMOTE_REQUESTS.has(packet.method)) {
      try {
        this.handlers?.onRemoteRequest(packet, this);
      } catch (err) {
        this.#protocolError(err, line);
      }
      return;
    }
    // A reply after its request timed out lands here too: it is late, not hostile.
    this.#protocolError(new AriSyntaxError(`a reply to no pending request (${packet.method} ${abbreviate(packet.id, 20)})`), line);
  }

  #protocolError(err: unknown, line: string): void {
    this.stats.protocolErrors++;
    this.#complain(`${err instanceof Error ? err.message : String(err)}: ${abbreviate(line)}`);
  }

  /** Logs at most LOG_BUDGET_PER_MINUTE complaints a minute: a flood of garbage must not flood the logs. */
  #complain(message: string): void {
    const now = Date.now();
    if (now - this.#logBudgetAt > 60_000) {
      this.#logBudgetAt = now;
      this.#logBudget = LOG_BUDGET_PER_MINUTE;
    }
    if (this.#logBudget-- > 0) this.logger.warn({ adapter: this.config.label }, `remote adapter: ${message}`);
  }
}

export interface EndpointOptions {
  readonly config: ProxyConfig;
  readonly stats: RemoteStats;
  readonly logger: Logger;
  /** The init request's method (DPI, MPI) and the params the protocol adds (adapters_conf.id, …). */
  readonly initMethod: 'DPI' | 'MPI';
  readonly initParams: ReadonlyMap<string, string>;
  readonly onLink: (link: AriLink) => void;
  readonly onLinkLost: (link: AriLink, why: string) => void;
}

/** A proxy adapter's listening port(s) and its current link. */
export class AriEndpoint {
  readonly #servers: net.Server[] = [];
  #link: AriLink | null = null;
  /** A connection going through credentials and init; at most one. */
  #handshaking: { main: LineChannel | null; notify: LineChannel | null; timer: NodeJS.Timeout } | null = null;
  #refusingUntil = 0;
  #closed = false;
  readonly #proxyInstanceId = randomUUID();
  readonly #connectedWaiters = new Set<() => void>();

  constructor(private readonly options: EndpointOptions) {}

  get link(): AriLink | null {
    return this.#link;
  }

  async listen(): Promise<void> {
    const { config } = this.options;
    const ports: Array<[number, boolean]> = [[config.requestReplyPort, false]];
    if (config.notifyPort !== null) ports.push([config.notifyPort, true]);
    for (const [port, isNotify] of ports) {
      const onSocket = (socket: net.Socket) => this.#accept(socket, isNotify);
      const server = config.tls
        ? tls.createServer({ pfx: config.tls.pfx, passphrase: config.tls.passphrase, minVersion: config.tls.minVersion, maxVersion: config.tls.maxVersion, honorCipherOrder: config.tls.honorCipherOrder }, onSocket)
        : net.createServer(onSocket);
      server.on('tlsClientError', (err: Error) => this.options.logger.debug({ err: err.message, adapter: config.label }, 'remote adapter TLS handshake failed'));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, config.host ?? undefined, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) => this.options.logger.error({ err, adapter: config.label }, 'remote adapter listener failed'));
      this.#servers.push(server);
    }
    this.options.logger.info({ adapter: config.label, port: config.requestReplyPort, notifyPort: config.notifyPort ?? undefined, tls: config.tls !== null }, 'waiting for the remote adapter');
  }

  /** Resolves once a remote is connected, or after `timeoutMs`. */
  connected(timeoutMs: number): Promise<boolean> {
    if (this.#link) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#connectedWaiters.delete(done);
        resolve(this.#link !== null);
      };
      // setTimeout cannot wait beyond 2^31-1 ms: Infinity waits for the connection alone.
      const timer = Number.isFinite(timeoutMs) ? setTimeout(done, Math.min(timeoutMs, 2 ** 31 - 1)) : undefined;
      this.#connectedWaiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#link?.close('server shutting down');
    this.#abortHandshake('server shutting down');
    await Promise.all(this.#servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }

  #accept(socket: net.Socket, isNotify: boolean): void {
    const { config, logger, stats } = this.options;
    socket.on('error', () => {});
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const refuse = (why: string) => {
      stats.refusedConnections++;
      logger.warn({ adapter: config.label, peer, why }, 'remote adapter connection refused');
      // The SDKs read a CLOSE only once they asked for it; a refused newcomer has not yet: just end.
      socket.end(packetLine(CLOSE_REQUEST_ID, 'CLOSE', stringArgs('reason', why)));
      setTimeout(() => socket.destroy(), 1_000).unref();
    };
    if (this.#closed) return refuse('server shutting down');
    if (config.allowedAddresses && !isAllowed(socket.remoteAddress ?? '', config.allowedAddresses)) return refuse('address not in remote_address_whitelist');
    if (Date.now() < this.#refusingUntil) return refuse('the last initialisation failed; connections are refused for connection_recovery_timeout_millis');
    if (this.#link && !this.#link.closed) return refuse('another remote adapter is connected');
    const channel = new LineChannel(socket, (line, ch) => this.#onLine(line, ch), (ch, why) => this.#onChannelClosed(ch, why));
    channel.authenticated = config.credentials === null;
    if (!this.#handshaking) {
      const timer = setTimeout(() => this.#abortHandshake('no credentials, or no notify connection, in time'), HANDSHAKE_TIMEOUT_MS);
      timer.unref();
      this.#handshaking = { main: null, notify: null, timer };
    }
    const slot = isNotify ? 'notify' : 'main';
    if (this.#handshaking[slot]) {
      channel.close(null);
      return refuse('another remote adapter is connecting');
    }
    this.#handshaking[slot] = channel;
    this.#advance();
  }

  #onLine(line: string, channel: LineChannel): void {
    const link = this.#link;
    if (link && (link.main === channel || link.notify === channel)) {
      link.receive(line, channel);
      return;
    }
    // Before init: only credentials (and keepalives) are expected.
    if (line === KEEPALIVE) return;
    let packet: AriPacket;
    try {
      packet = parsePacket(line);
    } catch {
      this.options.stats.protocolErrors++;
      return;
    }
    if (packet.method !== 'RAC') {
      this.options.stats.protocolErrors++;
      return;
    }
    if (channel === this.#handshaking?.main && packet.id !== AUTH_REQUEST_ID) this.options.stats.protocolErrors++;
    let credentials: Map<string, string | null>;
    try {
      credentials = new ArgReader(packet).pairs();
    } catch {
      this.#abortHandshake('unreadable credentials');
      return;
    }
    channel.wantsClosePacket = credentials.get('enableClosePacket') === 'true';
    const expected = this.options.config.credentials;
    if (expected) {
      const user = credentials.get('user') ?? null;
      const password = credentials.get('password') ?? null;
      if (user === null || password === null || expected.get(user) !== password) {
        this.options.logger.warn({ adapter: this.options.config.label, user: user ?? undefined }, 'remote adapter refused: bad credentials');
        this.options.stats.refusedConnections++;
        this.#abortHandshake('bad credentials');
        return;
      }
    }
    channel.authenticated = true;
    this.#advance();
  }

  #onChannelClosed(channel: LineChannel, why: string): void {
    const h = this.#handshaking;
    if (h && (h.main === channel || h.notify === channel)) {
      this.#abortHandshake(why);
      return;
    }
    const link = this.#link;
    if (link && (link.main === channel || link.notify === channel)) link.close(why);
  }

  #abortHandshake(why: string): void {
    const h = this.#handshaking;
    if (!h) return;
    this.#handshaking = null;
    clearTimeout(h.timer);
    h.main?.close(why);
    h.notify?.close(why);
  }

  /** Starts the init once every connection of the handshake is there and authenticated. */
  #advance(): void {
    const h = this.#handshaking;
    const { config } = this.options;
    if (!h || !h.main || !h.main.authenticated) return;
    if (config.notifyPort !== null && (!h.notify || !h.notify.authenticated)) return;
    this.#handshaking = null;
    clearTimeout(h.timer);
    void this.#initialise(h.main, h.notify);
  }

  async #initialise(main: LineChannel, notify: LineChannel | null): Promise<void> {
    const { config, logger, stats } = this.options;
    const link = new AriLink(main, notify, config, stats, logger, (l, why) => this.#lost(l, why));
    this.#link = link;
    const params = new Map<string, string>([['ARI.version', OFFERED_VERSION]]);
    if (config.keepaliveHintMs !== null) params.set('keepalive_hint.millis', String(config.keepaliveHintMs));
    for (const [k, v] of this.options.initParams) params.set(k, v);
    params.set('proxy.instance_id', this.#proxyInstanceId);
    for (const [k, v] of config.remoteParams) params.set(k, v);
    const args = [...params].flatMap(([k, v]) => stringArgs(k, v));
    let failure: string | null = null;
    try {
      const reply = readReply(await link.request(this.options.initMethod, args));
      if (!reply.ok) {
        failure = `the remote adapter failed to initialise: ${reply.message}`;
      } else {
        const answered = reply.reader.peekType() === 'V' ? new Map<string, string | null>() : reply.reader.pairs();
        const version = answered.get('ARI.version') ?? '1.8.2';
        const dialect = ACCEPTED_VERSIONS.get(version);
        if (!dialect) failure = `the remote adapter speaks ARI ${version}; edgepush speaks 1.8.2 to ${OFFERED_VERSION}`;
        else {
          link.version = version;
          link.dialect = dialect;
        }
      }
    } catch (err) {
      failure = `initialisation failed: ${(err as Error).message}`;
    }
    if (link.closed) return;
    if (failure !== null) {
      logger.error({ adapter: config.label, peer: main.peer }, failure);
      stats.refusedConnections++;
      const recovery = config.connectionRecoveryTimeoutMs;
      this.#refusingUntil = recovery < 0 ? Infinity : Date.now() + recovery;
      link.close(failure);
      return;
    }
    stats.connected = true;
    stats.connections++;
    logger.info({ adapter: config.label, peer: main.peer, version: link.version, notify: notify !== null }, 'remote adapter connected');
    this.options.onLink(link);
    for (const wake of [...this.#connectedWaiters]) wake();
  }

  #lost(link: AriLink, why: string): void {
    if (this.#link !== link) return;
    this.#link = null;
    const { stats, logger, config } = this.options;
    if (stats.connected) {
      stats.connected = false;
      logger.warn({ adapter: config.label, why }, 'remote adapter disconnected');
      this.options.onLinkLost(link, why);
    }
  }
}

function isAllowed(address: string, allowed: readonly string[]): boolean {
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  return allowed.some((a) => a === plain || a === address || (a === 'localhost' && (plain === '127.0.0.1' || plain === '::1')));
}
