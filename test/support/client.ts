/**
 * The official Node client with a forced transport, and small awaitable views of what it receives:
 * the origin tests assert on exactly what an application would see.
 */
import ls from 'lightstreamer-client-node';
import { waitUntil } from './wait.ts';

const { LightstreamerClient, Subscription } = ls;
export type Client = InstanceType<typeof LightstreamerClient>;
export type LsSubscription = InstanceType<typeof Subscription>;

export const TRANSPORTS = ['WS-STREAMING', 'HTTP-STREAMING', 'WS-POLLING', 'HTTP-POLLING'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface ClientOptions {
  readonly transport?: Transport;
  readonly adapterSet?: string;
  /** A small content length makes HTTP streams LOOP and rebind often: many CR requests. */
  readonly contentLength?: number;
  /** The client follows CONOK's control link unless this is set (guide §6, session-id mode). */
  readonly ignoreControlLink?: boolean;
  readonly cookies?: boolean;
  readonly headers?: Record<string, string>;
}

export interface WatchedClient {
  readonly client: Client;
  /** Every status the client went through, in order. */
  readonly statuses: string[];
  readonly serverErrors: Array<{ code: number; message: string }>;
  /** Every session id the client was given, in order. */
  readonly sessions: string[];
  /** The shard that created the current session, from SERVNAME (`edgepush <shard>`). */
  shard(): string | null;
  /** Resolves once the client reports a status matching `pattern` (after `from` statuses). */
  status(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  disconnect(): Promise<void>;
  /** Disconnects without waiting. */
  close(): void;
}

export function createClient(url: string, options: ClientOptions = {}): WatchedClient {
  const client = new LightstreamerClient(url, options.adapterSet ?? 'DEMO');
  const o = client.connectionOptions;
  if (options.transport) o.setForcedTransport(options.transport);
  if (options.contentLength) o.setContentLength(options.contentLength);
  if (options.ignoreControlLink) o.setServerInstanceAddressIgnored(true);
  if (options.cookies) o.setCookieHandlingRequired(true);
  if (options.headers) o.setHttpExtraHeaders(options.headers);
  const statuses: string[] = [];
  const serverErrors: Array<{ code: number; message: string }> = [];
  const sessions: string[] = [];
  client.addListener({
    onStatusChange: (s: string) => void statuses.push(s),
    onServerError: (code: number, message: string) => void serverErrors.push({ code, message }),
    onPropertyChange: (p: string) => {
      const id = client.connectionDetails.getSessionId();
      if (p === 'sessionId' && id && sessions.at(-1) !== id) sessions.push(id);
    },
  });
  return {
    client,
    statuses,
    serverErrors,
    sessions,
    shard: () => /^edgepush (\S+)$/.exec(client.connectionDetails.getServerSocketName() ?? '')?.[1] ?? null,
    async status(pattern, from = 0, timeoutMs = 15_000) {
      const found = () => statuses.slice(from).find((s) => pattern.test(s));
      await waitUntil(() => found() !== undefined, timeoutMs, () => `status ${pattern} not reached: ${statuses.join(' > ')}; errors ${JSON.stringify(serverErrors)}`);
      return found()!;
    },
    async disconnect() {
      client.disconnect();
      await waitUntil(() => statuses.at(-1) === 'DISCONNECTED', 5000, () => statuses.join(' > '));
    },
    close: () => client.disconnect(),
  };
}

const connected = (watched: WatchedClient, transport: Transport | undefined) =>
  watched.status(transport ? new RegExp(`^CONNECTED:${transport}$`) : /^CONNECTED:(?!STREAM-SENSING)/);

/** Connects and waits for a CONNECTED status on the forced transport (or any, when none is forced). */
export async function connectClient(url: string, options: ClientOptions = {}): Promise<WatchedClient> {
  const watched = createClient(url, options);
  watched.client.connect();
  await connected(watched, options.transport);
  return watched;
}

/** A client subscribed, from its first request, to one FEED item's field `v`. */
export interface FeedClient extends WatchedClient {
  readonly subscription: WatchedSubscription;
  /** Values of `v` received, in order. */
  readonly values: string[];
}

/**
 * A client of the cluster's steady feed (support/feed.ts): subscribed to `item` (MERGE, field `v`,
 * with snapshot) before it connects, so the subscription rides along with every session it opens.
 */
export async function connectFeedClient(url: string, options: ClientOptions & { readonly item: string }): Promise<FeedClient> {
  const watched = createClient(url, options);
  const subscription = watchSubscription(watched.client, { mode: 'MERGE', items: [options.item], fields: ['v'], dataAdapter: 'FEED', snapshot: 'yes' });
  const values: string[] = [];
  subscription.sub.addListener({
    onItemUpdate: (u: { getValue(f: string): string | null }) => {
      const v = u.getValue('v');
      if (v !== null) values.push(v);
    },
  });
  watched.client.connect();
  await connected(watched, options.transport);
  return { ...watched, subscription, values };
}

export interface Update {
  readonly item: string;
  readonly pos: number;
  readonly snapshot: boolean;
  readonly values: Record<string, string | null>;
  readonly changed: string[];
  /** COMMAND mode: the key's value of the row. */
  readonly key: string | null;
}

export interface WatchedSubscription {
  readonly sub: LsSubscription;
  readonly updates: Update[];
  readonly endOfSnapshot: string[];
  readonly clearSnapshot: string[];
  readonly lost: Array<{ item: string; lost: number }>;
  readonly errors: Array<{ code: number; message: string }>;
  /** How often onSubscription and onUnsubscription fired: a re-created session subscribes again. */
  readonly calls: { readonly subscribed: number; readonly unsubscribed: number };
  subscribed(): Promise<void>;
  unsubscribed(): Promise<void>;
  /** Resolves once `check` holds over the updates. */
  until(check: (updates: Update[]) => boolean, what?: string, timeoutMs?: number): Promise<void>;
  error(): Promise<{ code: number; message: string }>;
}

export interface SubscriptionOptions {
  readonly mode: 'MERGE' | 'DISTINCT' | 'COMMAND' | 'RAW';
  readonly items: string[];
  readonly fields: string[];
  readonly dataAdapter?: string;
  readonly snapshot?: 'yes' | 'no' | number;
  readonly maxFrequency?: number | 'unlimited' | 'unfiltered';
  readonly bufferSize?: number | 'unlimited';
}

export function watchSubscription(client: Client, options: SubscriptionOptions): WatchedSubscription {
  const sub = new Subscription(options.mode, options.items, options.fields);
  if (options.dataAdapter) sub.setDataAdapter(options.dataAdapter);
  if (options.snapshot !== undefined) sub.setRequestedSnapshot(String(options.snapshot));
  if (options.maxFrequency !== undefined) sub.setRequestedMaxFrequency(options.maxFrequency as number);
  if (options.bufferSize !== undefined) sub.setRequestedBufferSize(options.bufferSize as number);
  const updates: Update[] = [];
  const endOfSnapshot: string[] = [];
  const clearSnapshot: string[] = [];
  const lost: Array<{ item: string; lost: number }> = [];
  const errors: Array<{ code: number; message: string }> = [];
  let subscribedCount = 0;
  let unsubscribedCount = 0;
  sub.addListener({
    onItemUpdate(u) {
      const values: Record<string, string | null> = {};
      const changed: string[] = [];
      for (const f of options.fields) values[f] = u.getValue(f);
      u.forEachChangedField((name: string) => void changed.push(name));
      updates.push({
        item: u.getItemName(),
        pos: u.getItemPos(),
        snapshot: u.isSnapshot(),
        values,
        changed,
        key: options.mode === 'COMMAND' ? u.getValue('key') : null,
      });
    },
    onEndOfSnapshot: (item: string) => void endOfSnapshot.push(item),
    onClearSnapshot: (item: string) => void clearSnapshot.push(item),
    onItemLostUpdates: (item: string, _pos: number, n: number) => void lost.push({ item, lost: n }),
    onSubscriptionError: (code: number, message: string) => void errors.push({ code, message }),
    onSubscription: () => void subscribedCount++,
    onUnsubscription: () => void unsubscribedCount++,
  });
  client.subscribe(sub);
  const describe = () => `${updates.length} updates, last ${JSON.stringify(updates.slice(-3))}, errors ${JSON.stringify(errors)}`;
  return {
    sub,
    updates,
    endOfSnapshot,
    clearSnapshot,
    lost,
    errors,
    get calls() {
      return { subscribed: subscribedCount, unsubscribed: unsubscribedCount };
    },
    subscribed: () => waitUntil(() => subscribedCount > 0 || errors.length > 0, 15_000, () => `not subscribed: ${describe()}`).then(() => {
      if (errors.length > 0) throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
    }),
    unsubscribed: () => waitUntil(() => unsubscribedCount > 0, 15_000, () => `not unsubscribed: ${describe()}`),
    until: (check, what = 'condition', timeoutMs = 15_000) => waitUntil(() => check(updates), timeoutMs, () => `${what} not met: ${describe()}`),
    async error() {
      await waitUntil(() => errors.length > 0, 15_000, () => `no subscription error: ${describe()}`);
      return errors[0];
    },
  };
}

export type MessageOutcome =
  | { readonly kind: 'processed'; readonly response: string }
  | { readonly kind: 'deny'; readonly code: number; readonly message: string }
  | { readonly kind: 'discarded' | 'error' | 'abort' };

/** Sends a message with a listener and resolves with its outcome. */
export function sendMessage(client: Client, text: string, sequence?: string, delayMs?: number): Promise<MessageOutcome> {
  return new Promise((resolve) => {
    client.sendMessage(text, sequence, delayMs ?? -1, {
      onProcessed: (_m: string, response: string) => resolve({ kind: 'processed', response }),
      onDeny: (_m: string, code: number, message: string) => resolve({ kind: 'deny', code, message }),
      onDiscarded: () => resolve({ kind: 'discarded' }),
      onError: () => resolve({ kind: 'error' }),
      onAbort: () => resolve({ kind: 'abort' }),
    });
  });
}
