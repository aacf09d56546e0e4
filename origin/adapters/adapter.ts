/**
 * The adapter API: how a team brings its own users and data to an origin, in Lightstreamer's split.
 *
 * A **metadata adapter** decides who may open a session (`notifyUser`), what a client's group and
 * schema names mean (`getItems`, `getSchema`), what each user may do with each item (`getItemLimits`),
 * whether a subscription is allowed (`notifyNewTables`), and what a client message does
 * (`notifyUserMessage`). It hears of sessions and subscriptions ending.
 *
 * A **data adapter** produces item updates, in one of two ways:
 * - *on demand* (`subscribe`/`unsubscribe`): the origin subscribes an item when the first session of
 *   this shard asks for it and unsubscribes it after the last one left. Updates go into the bus, so
 *   every shard's sessions get them; when several shards run the same adapter, one of them at a time
 *   holds the item (a cluster-wide lease) and publishes, the others take over if it goes away;
 * - *self-fed* (`start(bus)`): the adapter publishes into the bus itself (the DEMO feeds).
 *
 * Every method may answer synchronously or with a promise. Refusals are thrown as the errors below;
 * anything else thrown counts as an adapter failure (the client gets the protocol's failure code and
 * the origin logs it). Adapters are configured in `adapters.xml` (ADAPTERS_CONF): an adapter class
 * names a module exporting a factory, `createMetadataAdapter(params)` / `createDataAdapter(params)`,
 * which receives the `<param>` values of its block.
 */
import type { Bus } from '../bus/bus.ts';

export type SubscriptionMode = 'MERGE' | 'DISTINCT' | 'COMMAND' | 'RAW';
export const SUBSCRIPTION_MODES: readonly SubscriptionMode[] = ['MERGE', 'DISTINCT', 'COMMAND', 'RAW'];

/**
 * A refusal with a TLCP code: CONERR (session), REQERR (subscription) or MSGFAIL (message). Codes of
 * zero or less are the application's own: the client hands them to `onServerError`,
 * `onSubscriptionError` or the message listener's `onDeny`.
 */
export class AdapterError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'AdapterError';
  }
}

/** Bad credentials: the client's `onServerError(1, message)`. */
export class AccessError extends AdapterError {
  constructor(message: string) {
    super(1, message);
    this.name = 'AccessError';
  }
}

/**
 * The user may not do this: the client gets `clientCode` (zero or negative; a positive one is sent as
 * 0, since positive codes are the protocol's) with `clientMessage`; `detail` is for the logs.
 */
export class CreditsError extends AdapterError {
  constructor(
    clientCode: number,
    clientMessage: string,
    readonly detail: string = clientMessage,
  ) {
    super(clientCode > 0 ? 0 : clientCode, clientMessage);
    this.name = 'CreditsError';
  }
}

/** The adapter cannot decide now (a backend down): the client retries later (CONERR 6 on create). */
export class ResourceUnavailableError extends AdapterError {
  constructor(message: string) {
    super(6, message);
    this.name = 'ResourceUnavailableError';
  }
}

/** A group that names no items this adapter knows: REQERR 21. */
export class ItemsError extends AdapterError {
  constructor(message: string) {
    super(21, message);
    this.name = 'ItemsError';
  }
}

/** A schema that names fields the items do not have: REQERR 23. */
export class SchemaError extends AdapterError {
  constructor(message: string) {
    super(23, message);
    this.name = 'SchemaError';
  }
}

/** A data adapter that cannot serve an item (`subscribe` refused it). */
export class SubscriptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubscriptionError';
  }
}

/** Who is opening a session. */
export interface UserRequest {
  readonly user: string | null;
  readonly password: string | null;
  /** The client's address as the origin sees it (the edge's `CF-Connecting-IP` when proven). */
  readonly clientIp: string;
  /** The HTTP headers of the create request (or of the WebSocket upgrade), names in lower case. */
  readonly httpHeaders: Readonly<Record<string, string>>;
}

/** What `notifyUser` may grant besides letting the user in. */
export interface UserGrant {
  /** Have `notifyNewTables` and `notifyTablesClose` called for this user's subscriptions. */
  readonly wantsTablesNotification?: boolean;
  /**
   * The most bandwidth (kilobits per second) each of the user's sessions may have: a client asking
   * for more, or for no limit, gets this (CONS says so). Absent, zero or negative: no limit.
   */
  readonly maxBandwidth?: number;
}

export interface SessionInfo {
  readonly sessionId: string;
  readonly user: string | null;
  readonly clientIp: string;
  /** Lightstreamer's context properties: REMOTE_IP, USER_AGENT, LOCAL_SERVER. */
  readonly properties: Readonly<Record<string, string>>;
}

export interface ItemsRequest {
  readonly user: string | null;
  readonly sessionId: string;
  readonly group: string;
  readonly dataAdapter: string;
}

export interface SchemaRequest extends ItemsRequest {
  readonly schema: string;
  readonly items: readonly string[];
}

export interface ItemLimitsRequest {
  readonly user: string | null;
  readonly sessionId: string;
  readonly dataAdapter: string;
  /** Distinct item names. */
  readonly items: readonly string[];
}

/**
 * What one user may do with one item. Omitted fields mean no limit; `modes` omitted means every
 * mode. Combines Lightstreamer's item data (allowed modes, DISTINCT snapshot length) and user item
 * data (allowed modes, buffer size, update frequency).
 */
export interface ItemLimits {
  readonly modes?: readonly SubscriptionMode[];
  /** Events a DISTINCT snapshot holds at most; 0: no snapshot. */
  readonly distinctSnapshotLength?: number;
  /** Updates a non-conflated subscription may hold for a slow client. */
  readonly bufferSize?: number;
  /** Updates per second per item (MERGE; a lower request stands). */
  readonly maxFrequency?: number;
}

/** One subscription ("table") as the metadata adapter sees it. */
export interface TableInfo {
  /** The client's subscription id (LS_subId). */
  readonly subscriptionId: number;
  readonly mode: SubscriptionMode;
  readonly group: string;
  readonly dataAdapter: string;
  readonly schema: string;
  readonly items: readonly string[];
}

export interface TablesRequest {
  readonly user: string | null;
  readonly sessionId: string;
  readonly tables: readonly TableInfo[];
}

export interface MessageRequest {
  readonly user: string | null;
  readonly sessionId: string;
  readonly clientIp: string;
  readonly message: string;
}

type Maybe<T> = T | Promise<T>;

export interface MetadataAdapter {
  /** Lets the user in, or throws AccessError / CreditsError / ResourceUnavailableError. */
  notifyUser(request: UserRequest): Maybe<UserGrant | void>;
  /** The session exists now; throwing CreditsError refuses it (CONERR with the code). */
  notifyNewSession?(session: SessionInfo): Maybe<void>;
  /** The session ended, whatever the reason. Failures are logged. */
  notifySessionClose?(sessionId: string): Maybe<void>;
  /** Resolves a group name to item names; throws ItemsError for a group it does not know. */
  getItems(request: ItemsRequest): Maybe<readonly string[]>;
  /** Resolves a schema name to field names; throws SchemaError. */
  getSchema(request: SchemaRequest): Maybe<readonly string[]>;
  /** Per item of the request, in order: what the user may do with it. Without it, anything. */
  getItemLimits?(request: ItemLimitsRequest): Maybe<readonly ItemLimits[]>;
  /** Only for users granted `wantsTablesNotification`: throws CreditsError to refuse a subscription. */
  notifyNewTables?(request: TablesRequest): Maybe<void>;
  notifyTablesClose?(request: TablesRequest): Maybe<void>;
  /** Resolves with the MSGDONE response; throws CreditsError (the client's onDeny) or AdapterError. */
  notifyUserMessage(request: MessageRequest): Maybe<string>;
  /** The origin is stopping. */
  close?(): Maybe<void>;
}

/** Where an on-demand data adapter sends what it has for an item it was asked to subscribe. */
export interface ItemListener {
  /**
   * One update: `null` is a null value, an absent field is unchanged. `isSnapshot` marks the item's
   * state as of the subscription (the first updates after it), followed by `endOfSnapshot`.
   */
  update(fields: Readonly<Record<string, string | null>>, isSnapshot: boolean): void;
  endOfSnapshot(): void;
  /** The item's state is void (DISTINCT and COMMAND clients get CS, later ones an empty snapshot). */
  clearSnapshot(): void;
}

/** An adapter's availability, for adapters that may come and go (remote ones). */
export interface Availability {
  readonly available: boolean;
  /** Called on every change; returns a function that stops listening. */
  onChange(listener: (available: boolean) => void): () => void;
  /** Whether an item depends on it (an item the adapter serves by itself does not); default all. */
  covers?(item: string): boolean;
}

/**
 * A way to send a field's new value as its difference from the previous one (TLCP's delta
 * delivery), Lightstreamer's names: `JSONPATCH` an RFC 6902 JSON Patch, for values that are JSON
 * texts (the client gets an equal JSON value, not necessarily the same text: key order, blanks and
 * number spelling are the client's); `DIFF_MATCH_PATCH` a TLCP-diff of any text without surrogate
 * pairs (emoji and other characters beyond U+FFFF are sent whole).
 */
export type DiffAlgorithm = 'JSONPATCH' | 'DIFF_MATCH_PATCH';
export const DIFF_ALGORITHMS: readonly DiffAlgorithm[] = ['JSONPATCH', 'DIFF_MATCH_PATCH'];

/**
 * How an on-demand item is put back when its upstream is subscribed again after a loss (a remote
 * adapter back, another shard taking the item over): Lightstreamer's `events_recovery`.
 * `leave_hole`: the snapshot the adapter sends again is dropped; `use_snapshot`: it goes out as
 * ordinary updates; `enforce_snapshot`: the item is cleared first, then the snapshot goes out.
 */
export type EventsRecovery = 'leave_hole' | 'use_snapshot' | 'enforce_snapshot';

export interface DataAdapter {
  readonly name: string;
  /**
   * Per field of `item`, the difference formats the origin may send its values in, tried in order:
   * an update of the field goes out as the first difference that applies to both values and is
   * shorter than the value itself; else, and always for the first value a client gets, whole.
   * Lightstreamer's `declareFieldDiffOrder`. Asked once per item per subscription; fields not named
   * (or no answer, or no method) are always sent whole.
   */
  diffOrder?(item: string): Readonly<Record<string, readonly DiffAlgorithm[]>> | null | undefined;
  /** On demand: start sending the item's updates to `listener`; throw SubscriptionError to refuse. */
  subscribe?(item: string, listener: ItemListener): Maybe<void>;
  /** On demand: stop; no update may follow. */
  unsubscribe?(item: string): Maybe<void>;
  /** On demand: whether `subscribe` will send a snapshot first (else there is none to wait for). */
  isSnapshotAvailable?(item: string): boolean;
  /** On demand: default `use_snapshot`. */
  readonly eventsRecovery?: EventsRecovery;
  /** On demand, adapters that may come and go: while unavailable the origin does not subscribe. */
  readonly availability?: Availability;
  /** Self-fed: publish into the bus (once per origin; use `bus.runExclusive` for once per cluster). */
  start?(bus: Bus): void;
  stop?(): Maybe<void>;
}

export interface AdapterSet {
  /** LS_adapter_set. */
  readonly name: string;
  readonly metadata: MetadataAdapter;
  readonly dataAdapters: ReadonlyMap<string, DataAdapter>;
  /** Used when a subscription names no LS_data_adapter. */
  readonly defaultDataAdapter: string;
}

/**
 * The bus item an on-demand adapter's item goes into: named for its set and adapter, so two
 * adapters' items of one name never mix. An adapter that also publishes beside its listener (to
 * another of its items, from a client message) publishes there.
 */
export function onDemandBusItem(adapterSet: string, dataAdapter: string, item: string): string {
  return `${adapterSet}/${dataAdapter}/${item}`;
}

/** A data adapter the origin subscribes items of (rather than one that feeds the bus itself). */
export function isOnDemand(adapter: DataAdapter): boolean {
  return typeof adapter.subscribe === 'function';
}
