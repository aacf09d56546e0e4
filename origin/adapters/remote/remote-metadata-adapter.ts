/**
 * The metadata adapter of adapters.xml served by a remote adapter over ARI: each MetadataAdapter
 * call is one request (NUS, NNS, NSC, GIS, GSC, GIT + GUI, NNT, NTC, NUM), each reply or exception
 * turned into the adapter API's answer or refusal.
 *
 * The two dialects differ in what a subscription ("table") carries (1.9 adds the data adapter and the
 * item names) and in a few replies (1.9's NNS answers a time-to-live, its NNT two flags); the link's
 * dialect decides. Item data (GIT: modes, DISTINCT snapshot length) depends on the item alone and is
 * cached, as Lightstreamer does; user item data (GUI) is asked per subscription.
 *
 * While the remote is away (robust proxy), new sessions are refused as `notify_user_on_disconnection`
 * says, subscriptions and messages fail, and session and subscription closes wait (bounded) to be
 * told to the next remote as `close_notifications_recovery` says.
 */
import type { Logger } from 'pino';
import { ConErr, EndCode } from '../../../protocol/codes.ts';
import {
  AccessError,
  AdapterError,
  CreditsError,
  ItemsError,
  ResourceUnavailableError,
  SchemaError,
  type ItemLimits,
  type ItemLimitsRequest,
  type ItemsRequest,
  type MessageRequest,
  type MetadataAdapter,
  type SchemaRequest,
  type SessionInfo,
  type SubscriptionMode,
  type TableInfo,
  type TablesRequest,
  type UserGrant,
  type UserRequest,
} from '../adapter.ts';
import type { ProxyConfig } from '../config/proxy-params.ts';
import { AriEndpoint, type AriLink } from './ari-link.ts';
import { ArgReader, encodeModes, encodeString, readReply, stringArgs, type AriMode, type AriPacket, type AriReply } from './ari-wire.ts';
import type { RemoteStats } from './remote-stats.ts';

/** Item data cached at most (items named by clients: bounded). */
const ITEM_DATA_CACHE = 10_000;
/** Close notifications kept for the next remote at most. */
const MAX_QUEUED_CLOSES = 10_000;

/** What the remote may ask of the origin's sessions (1.9 FST, FUS). */
export interface SessionControl {
  /** Ends a session; false if it is not here. */
  endSession(sessionId: string, code: number, message: string): boolean;
  /** Ends a subscription as if the client had deleted it; false if there is none. */
  endSubscription(sessionId: string, subscriptionId: number): boolean;
}

interface ItemData {
  readonly modes: readonly SubscriptionMode[] | null;
  readonly distinctSnapshotLength: number | null;
}

export class RemoteMetadataAdapter implements MetadataAdapter {
  readonly endpoint: AriEndpoint;
  readonly #itemData = new Map<string, ItemData>();
  /** Closes to tell the next remote, oldest first, each with the request to send. */
  #queuedCloses: Array<{ method: string; args: string[] }> = [];
  #sessionControl: SessionControl | null = null;

  constructor(
    private readonly config: ProxyConfig,
    private readonly stats: RemoteStats,
    private readonly logger: Logger,
    initParams: ReadonlyMap<string, string>,
  ) {
    this.endpoint = new AriEndpoint({
      config,
      stats,
      logger,
      initMethod: 'MPI',
      initParams,
      onLink: (link) => this.#connected(link),
      onLinkLost: () => this.#itemData.clear(),
    });
  }

  /** The origin's sessions, for the remote's FST and FUS requests. */
  control(sessions: SessionControl): void {
    this.#sessionControl = sessions;
  }

  async notifyUser(request: UserRequest): Promise<UserGrant> {
    const link = this.endpoint.link;
    if (!link) {
      const message = this.config.notifyUserDisconnectionMessage ?? 'remote metadata adapter unavailable';
      switch (this.config.notifyUserOnDisconnection) {
        case 'send_code':
          throw new CreditsError(this.config.notifyUserDisconnectionCode ?? 0, message);
        case 'force_retry':
          throw new ResourceUnavailableError(message);
        default:
          throw new AdapterError(ConErr.ADAPTER_FAILURE, message);
      }
    }
    const headers = Object.entries(request.httpHeaders).flatMap(([name, value]) => stringArgs(name, value));
    const reply = await this.#ask(link, 'NUS', [...stringArgs(request.user, request.password), ...headers]);
    if (!reply.ok) throw refusal(reply, 'notifyUser');
    const maxBandwidth = reply.reader.double();
    return { maxBandwidth: maxBandwidth ?? undefined, wantsTablesNotification: reply.reader.boolean() };
  }

  async notifyNewSession(session: SessionInfo): Promise<void> {
    const props = Object.entries(session.properties).flatMap(([name, value]) => stringArgs(name, value));
    const reply = await this.#ask(this.#link(), 'NNS', [...stringArgs(session.user, session.sessionId), ...props]);
    if (!reply.ok) throw refusal(reply, 'notifyNewSession');
  }

  async notifySessionClose(sessionId: string): Promise<void> {
    await this.#tellClose('NSC', stringArgs(sessionId));
  }

  async getItems(request: ItemsRequest): Promise<string[]> {
    const reply = await this.#ask(this.#link(), 'GIS', stringArgs(request.user, request.group, request.sessionId));
    if (!reply.ok) throw refusal(reply, 'getItems');
    return strings(reply.reader);
  }

  async getSchema(request: SchemaRequest): Promise<string[]> {
    const reply = await this.#ask(this.#link(), 'GSC', stringArgs(request.user, request.group, request.schema, request.sessionId));
    if (!reply.ok) throw refusal(reply, 'getSchema');
    return strings(reply.reader);
  }

  async getItemLimits(request: ItemLimitsRequest): Promise<ItemLimits[]> {
    const link = this.#link();
    const missing = request.items.filter((item) => !this.#itemData.has(item));
    const [userData] = await Promise.all([
      this.#ask(link, 'GUI', stringArgs(request.user, ...request.items)),
      missing.length > 0 ? this.#loadItemData(link, missing) : Promise.resolve(),
    ]);
    if (!userData.ok) throw refusal(userData, 'getUserItemData');
    return request.items.map((item) => {
      const itemData = this.#itemData.get(item);
      const bufferSize = userData.reader.int();
      const maxFrequency = userData.reader.double();
      const userModes = userData.reader.modes();
      let modes: readonly SubscriptionMode[] | undefined = userModes ?? undefined;
      if (itemData?.modes) modes = (modes ?? itemData.modes).filter((m) => itemData.modes!.includes(m));
      return {
        modes,
        bufferSize: bufferSize ?? undefined,
        maxFrequency: maxFrequency ?? undefined,
        distinctSnapshotLength: itemData?.distinctSnapshotLength ?? undefined,
      };
    });
  }

  async notifyNewTables(request: TablesRequest): Promise<void> {
    const link = this.#link();
    const reply = await this.#ask(link, 'NNT', [...stringArgs(request.user, request.sessionId), ...request.tables.flatMap((t) => tableArgs(t, link.dialect, false))]);
    if (!reply.ok) throw refusal(reply, 'notifyNewTables');
  }

  async notifyTablesClose(request: TablesRequest): Promise<void> {
    const dialect = this.endpoint.link?.dialect ?? '1.9';
    await this.#tellClose('NTC', [...stringArgs(request.sessionId), ...request.tables.flatMap((t) => tableArgs(t, dialect, true))], request.tables);
  }

  async notifyUserMessage(request: MessageRequest): Promise<string> {
    const reply = await this.#ask(this.#link(), 'NUM', stringArgs(request.user, request.sessionId, request.message));
    if (!reply.ok) throw refusal(reply, 'notifyUserMessage');
    // ARI answers no text (V); should a remote send one, it is the MSGDONE response.
    return reply.reader.peekType() === 'S' ? (reply.reader.string() ?? '') : '';
  }

  async close(): Promise<void> {
    await this.endpoint.close();
  }

  #link(): AriLink {
    const link = this.endpoint.link;
    if (!link) throw new AdapterError(ConErr.ADAPTER_FAILURE, `remote metadata adapter ${this.config.label} not connected`);
    return link;
  }

  async #ask(link: AriLink, method: string, args: readonly string[]): Promise<AriReply> {
    const reply = readReply(await link.request(method, args));
    if (!reply.ok) this.stats.requestFailures++;
    return reply;
  }

  async #loadItemData(link: AriLink, items: readonly string[]): Promise<void> {
    const reply = await this.#ask(link, 'GIT', stringArgs(...items));
    if (!reply.ok) throw refusal(reply, 'getItemData');
    for (const item of items) {
      const distinctSnapshotLength = reply.reader.int();
      reply.reader.double();
      const modes = reply.reader.modes();
      if (this.#itemData.size >= ITEM_DATA_CACHE) this.#itemData.delete(this.#itemData.keys().next().value!);
      this.#itemData.set(item, { modes, distinctSnapshotLength });
    }
  }

  /** A session or subscription close: told now, or kept for the next remote. */
  async #tellClose(method: string, args: string[], tables?: readonly TableInfo[]): Promise<void> {
    const link = this.endpoint.link;
    if (!link) {
      this.#keep(method, args);
      return;
    }
    try {
      const reply = await this.#ask(link, method, args);
      if (!reply.ok) this.logger.warn({ adapter: this.config.label, method, why: reply.message, tables: tables?.length }, 'remote metadata adapter refused a close notification');
    } catch (err) {
      // Lost with the link: whether the remote processed it is unknown, so "pessimistic" resends it.
      if (this.config.closeNotificationsRecovery === 'pessimistic') this.#keep(method, args);
      this.logger.debug({ adapter: this.config.label, method, err: (err as Error).message }, 'close notification not confirmed');
    }
  }

  #keep(method: string, args: string[]): void {
    if (this.config.closeNotificationsRecovery === 'unneeded') return;
    if (this.#queuedCloses.length >= MAX_QUEUED_CLOSES) this.#queuedCloses.shift();
    this.#queuedCloses.push({ method, args });
  }

  #connected(link: AriLink): void {
    link.handlers = {
      onNotification: () => {},
      onRemoteRequest: (packet, l) => this.#remoteRequest(packet, l),
    };
    const queued = this.#queuedCloses;
    this.#queuedCloses = [];
    for (const { method, args } of queued) void this.#tellClose(method, args);
  }

  #remoteRequest(packet: AriPacket, link: AriLink): void {
    const r = new ArgReader(packet);
    switch (packet.method) {
      case 'FAL': {
        this.stats.remoteFailures++;
        const reply = readReply(packet);
        this.logger.error({ adapter: this.config.label, why: reply.ok ? '' : reply.message }, 'the remote metadata adapter reported a failure');
        return;
      }
      case 'FST': {
        const sessionId = r.requiredString();
        let code: number = EndCode.CLOSED_BY_SERVER;
        let message = 'closed by the metadata adapter';
        if (r.peekType() === 'I') {
          code = r.int() ?? code;
          message = r.string() ?? message;
        }
        const ended = this.#sessionControl?.endSession(sessionId, code, message) ?? false;
        link.reply(packet.id, 'FST', ended ? ['V'] : ['E', encodeString(`no session ${sessionId}`)]);
        return;
      }
      case 'FUS': {
        const sessionId = r.requiredString();
        const subscriptionId = r.int() ?? -1;
        const ended = this.#sessionControl?.endSubscription(sessionId, subscriptionId) ?? false;
        link.reply(packet.id, 'FUS', ['B', ended ? '1' : '0']);
        return;
      }
    }
  }
}

function strings(reader: ArgReader): string[] {
  const out: string[] = [];
  while (!reader.done) out.push(reader.string() ?? '');
  return out;
}

/** A table as NNT and NTC carry it, in the link's dialect. */
function tableArgs(table: TableInfo, dialect: '1.8' | '1.9', closing: boolean): string[] {
  const mode = encodeModes([table.mode as AriMode]);
  if (dialect === '1.8') {
    return ['I', String(table.subscriptionId), 'M', mode, ...stringArgs(table.group, table.schema), 'I', '1', 'I', String(table.items.length), ...stringArgs(null)];
  }
  return [
    'I',
    String(table.subscriptionId),
    'M',
    mode,
    ...stringArgs(table.group, table.dataAdapter, table.schema),
    'I',
    '1',
    'I',
    String(table.items.length),
    ...stringArgs(null),
    'I',
    String(table.items.length),
    ...stringArgs(...table.items),
    // No subscription statistics: the origin does not ask for them (wantsFinalStatistics).
    ...(closing ? ['I', '0'] : []),
  ];
}

/** A remote's exception as the adapter API's refusal. */
function refusal(reply: Exclude<AriReply, { ok: true }>, call: string): Error {
  switch (reply.kind) {
    case 'A':
      return new AccessError(reply.message);
    case 'C':
    case 'X':
      return new CreditsError(reply.clientCode ?? 0, reply.clientMessage ?? '', reply.message);
    case 'R':
      return new ResourceUnavailableError(reply.message);
    case 'I':
      return new ItemsError(reply.message);
    case 'S':
      return new SchemaError(reply.message);
    default:
      return new Error(`remote metadata adapter failed on ${call}: ${reply.message}`);
  }
}
