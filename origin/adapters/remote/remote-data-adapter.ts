/**
 * A data adapter of adapters.xml served by a remote adapter over ARI (PROXY_FOR_REMOTE_ADAPTER or
 * ROBUST_PROXY_FOR_REMOTE_ADAPTER): the origin's on-demand subscribe/unsubscribe become SUB/USB, and
 * the remote's UD3, EOS and CLS notifications reach the item's listener.
 *
 * Notifications carry the SUB request's id, so those of an older subscription of the same item
 * (unsubscribed and subscribed again) are told apart and dropped; they may arrive before the SUB's
 * reply (the two-connection form uses two sockets). While the remote is away the adapter is
 * unavailable: the origin's feeds let other shards lead its items, and subscribe again when it is
 * back. The robust proxy's `status_item` is served here, whatever the remote does.
 */
import type { Logger } from 'pino';
import { SubscriptionError, type Availability, type DataAdapter, type EventsRecovery, type ItemListener } from '../adapter.ts';
import type { ProxyConfig } from '../config/proxy-params.ts';
import { AriEndpoint, RemoteError, type AriLink } from './ari-link.ts';
import { ArgReader, readReply, stringArgs, type AriPacket } from './ari-wire.ts';
import type { RemoteStats } from './remote-stats.ts';

type RemoteStatus = 'connecting' | 'connected' | 'reconnecting';

interface Upstream {
  readonly listener: ItemListener;
  /** The SUB request's id: the remote's notifications for this subscription carry it. */
  subscriptionId: string | null;
}

export class RemoteDataAdapter implements DataAdapter {
  readonly endpoint: AriEndpoint;
  readonly eventsRecovery: EventsRecovery;
  readonly availability: Availability;
  readonly #availabilityListeners = new Set<(available: boolean) => void>();
  /** Items subscribed upstream (or being), by item name and by SUB id. */
  readonly #byItem = new Map<string, Upstream>();
  readonly #bySubscription = new Map<string, Upstream>();
  #status: RemoteStatus = 'connecting';
  readonly #statusListeners = new Set<ItemListener>();

  constructor(
    readonly name: string,
    private readonly config: ProxyConfig,
    private readonly stats: RemoteStats,
    private readonly logger: Logger,
    initParams: ReadonlyMap<string, string>,
  ) {
    this.eventsRecovery = config.eventsRecovery;
    const self = this;
    this.availability = {
      get available() {
        return self.endpoint.link !== null;
      },
      onChange(listener) {
        self.#availabilityListeners.add(listener);
        return () => self.#availabilityListeners.delete(listener);
      },
      covers: (item) => item !== config.statusItem,
    };
    this.endpoint = new AriEndpoint({
      config,
      stats,
      logger,
      initMethod: 'DPI',
      initParams,
      onLink: (link) => this.#connected(link),
      onLinkLost: () => this.#disconnected(),
    });
  }

  async subscribe(item: string, listener: ItemListener): Promise<void> {
    if (item === this.config.statusItem) {
      this.#statusListeners.add(listener);
      listener.update({ status: this.#status }, true);
      listener.endOfSnapshot();
      return;
    }
    const link = this.endpoint.link;
    if (!link) throw new SubscriptionError(`remote data adapter ${this.config.label} not connected`);
    if (this.#byItem.has(item)) throw new SubscriptionError(`${item} is subscribed already`);
    const upstream: Upstream = { listener, subscriptionId: null };
    this.#byItem.set(item, upstream);
    const sent = link.send('SUB', stringArgs(item));
    // Known as soon as the request is written: notifications may beat the reply.
    upstream.subscriptionId = sent.id;
    this.#bySubscription.set(sent.id, upstream);
    let reply;
    try {
      reply = readReply(await sent.reply);
    } catch (err) {
      this.#forget(item, upstream);
      throw new SubscriptionError((err as Error).message);
    }
    if (!reply.ok) {
      this.#forget(item, upstream);
      throw new SubscriptionError(`remote data adapter refused ${item}: ${reply.message}`);
    }
  }

  async unsubscribe(item: string): Promise<void> {
    if (item === this.config.statusItem) {
      this.#statusListeners.clear();
      return;
    }
    const upstream = this.#byItem.get(item);
    if (!upstream) return;
    this.#forget(item, upstream);
    const link = this.endpoint.link;
    if (!link) return;
    try {
      const reply = readReply(await link.request('USB', stringArgs(item)));
      if (!reply.ok) this.logger.warn({ adapter: this.config.label, item, why: reply.message }, 'remote data adapter refused an unsubscription');
    } catch (err) {
      if (!(err instanceof RemoteError)) throw err;
      this.logger.debug({ adapter: this.config.label, item, err: err.message }, 'unsubscription not confirmed');
    }
  }

  async stop(): Promise<void> {
    await this.endpoint.close();
  }

  #forget(item: string, upstream: Upstream): void {
    if (this.#byItem.get(item) === upstream) this.#byItem.delete(item);
    if (upstream.subscriptionId !== null && this.#bySubscription.get(upstream.subscriptionId) === upstream) this.#bySubscription.delete(upstream.subscriptionId);
  }

  #connected(link: AriLink): void {
    link.handlers = {
      onNotification: (packet) => this.#notification(packet),
      onRemoteRequest: () => {},
    };
    this.#setStatus('connected');
    for (const listener of [...this.#availabilityListeners]) listener(true);
  }

  #disconnected(): void {
    // Every upstream subscription died with the link; the feeds subscribe again when it is back.
    this.#byItem.clear();
    this.#bySubscription.clear();
    this.#setStatus('reconnecting');
    for (const listener of [...this.#availabilityListeners]) listener(false);
  }

  #setStatus(status: RemoteStatus): void {
    this.#status = status;
    for (const listener of this.#statusListeners) listener.update({ status }, false);
  }

  #notification(packet: AriPacket): void {
    switch (packet.method) {
      case 'UD3': {
        const r = new ArgReader(packet);
        const item = r.requiredString();
        const upstream = this.#upstream(item, r.requiredString());
        const isSnapshot = r.boolean();
        const fields: Record<string, string | null> = Object.create(null);
        while (!r.done) {
          // The Java SDK's indexed events put each field's index first.
          if (r.peekType() === 'I') r.skip('I');
          const name = r.requiredString();
          fields[name] = r.string();
        }
        this.stats.updates++;
        upstream?.listener.update(fields, isSnapshot);
        return;
      }
      case 'EOS':
      case 'CLS': {
        const r = new ArgReader(packet);
        const item = r.requiredString();
        const upstream = this.#upstream(item, r.requiredString());
        if (packet.method === 'EOS') upstream?.listener.endOfSnapshot();
        else upstream?.listener.clearSnapshot();
        return;
      }
      case 'FAL': {
        this.stats.remoteFailures++;
        const reply = readReply(packet);
        this.logger.error({ adapter: this.config.label, why: reply.ok ? '' : reply.message }, 'the remote data adapter reported a failure');
        return;
      }
      default:
        // DFD (diff algorithms per field): the origin sends whole values; UD1/UD2 are of no SDK in use.
        return;
    }
  }

  /** The current subscription of `item` the notification belongs to; null for a stale one. */
  #upstream(item: string, subscriptionId: string): Upstream | null {
    const upstream = this.#bySubscription.get(subscriptionId);
    return upstream && this.#byItem.get(item) === upstream ? upstream : null;
  }
}
