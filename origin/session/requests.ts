/**
 * What TLCP requests mean, whatever transport carried them: opening or finding a session for a
 * create or bind, reading its stream's options, and answering control and msg lines. This is the
 * one inbound path: transports (transports/) only carry bytes in and the answers out.
 */
import type { Logger } from 'pino';
import * as n from '../../protocol/notifications.ts';
import { ConErr, EndCode, ReqErr } from '../../protocol/codes.ts';
import { ParamReader, TlcpSyntaxError, isRequestId, parseParams, scanParam, type Params } from '../../protocol/request.ts';
import { AdapterError, isOnDemand, onDemandBusItem, type AdapterSet, type DataAdapter, type ItemLimits, type SubscriptionMode, type TableInfo } from '../adapters/adapter.ts';
import { schemaOf, type DeltaKind, type FieldDeltas, type ItemHub, type ItemRef } from '../subscriptions/item-hub.ts';
import { readSupportedDeltas } from '../../protocol/update-line.ts';
import { DEFAULT_BUFFER, MAX_BUFFER, MIN_MAX_FREQUENCY, capFrequency, type SubscriptionSpec } from '../subscriptions/subscription.ts';
import type { Telemetry } from '../telemetry.ts';
import { bindRefusal, type Lookup, type SessionRegistry } from './registry.ts';
import type { Session, SessionServices } from './session.ts';
import { MAX_POLLING_MS, readStreamOptions, type StreamOptions } from '../../protocol/stream-options.ts';
import { FEED_POSITION_FIELD } from '../../protocol/feed-position.ts';
import { bandwidthCap, readRequestedBandwidth, type Bandwidth } from '../../protocol/bandwidth.ts';

/*
 * Every number a client sends is brought into a range before use (stream options: protocol/
 * stream-options.ts): times end up in timers, which fire at once beyond 2^31 ms.
 */
/** A message waits for its predecessors at most this long (LS_max_wait), then they count as skipped. */
const POSITIONED_SCHEMA_SUFFIX = ` ${FEED_POSITION_FIELD}`;
const MAX_MESSAGE_WAIT_MS = 300_000;
/** Subscription ids key per-event caches next to item positions (item-hub.ts): they stay below 2^31. */
const MAX_SUBSCRIPTION_ID = 2 ** 31 - 1;
/** Fields of one subscription's schema: every update of every item encodes that many values. */
const MAX_SCHEMA_FIELDS = 1000;
/**
 * How long an add waits for the items this origin does not hold yet (read from the shared bus):
 * with Redis unreachable or hung, the client hears REQERR after this, not never.
 */
const ITEMS_LOAD_TIMEOUT_MS = 4_000;
/**
 * A full origin answers CONERR 5 after this pause: the 9.2 client retries a 5 at once, with no
 * backoff, so an immediate answer would turn every refused client into a tight request loop.
 */
const OVERLOADED_ANSWER_DELAY_MS = 1_000;
/**
 * How long the origin waits for a metadata adapter's answer (an in-process one that never settles;
 * remote adapters have their own `timeout`): the client then hears the failure code.
 */
const METADATA_TIMEOUT_MS = 10_000;
const MODES: readonly SubscriptionMode[] = ['MERGE', 'DISTINCT', 'COMMAND', 'RAW'];
/**
 * Item names a metadata adapter may hand out: they become bus keys and channels (Redis hash tags
 * are braces) and travel in no TLCP line, so only blanks, braces and control characters are out.
 */
const ADAPTER_ITEM_NAME = /^[^\s{}\x00-\x1f\x7f]{1,512}$/;
const SEQUENCE_NAME = /^[A-Za-z0-9_]{1,64}$/;
// A Lightstreamer Server's wording, which client libraries' tests and applications match on.
const ADAPTER_SET_UNAVAILABLE_MESSAGE = 'Requested Adapter Set not available';
const MODE_NOT_ALLOWED_MESSAGE = 'Invalid mode for these items';

export interface TlcpContext {
  readonly registry: SessionRegistry;
  readonly adapterSets: ReadonlyMap<string, AdapterSet>;
  readonly defaultAdapterSet: string;
  readonly keepaliveMs: number;
  /** Refused creates and binds are recorded as recent errors for the dashboard. */
  readonly telemetry: Telemetry;
  readonly logger: Logger;
  readonly services: (adapterSet: AdapterSet) => Omit<SessionServices, 'onClosed' | 'wantsTablesNotification' | 'bandwidthCap' | 'supportedDeltas'>;
}

export type Refusal = { readonly code: number; readonly message: string };

/** A create or a bind that found its session: what a transport binds its stream to. */
export interface Opening {
  readonly session: Session;
  readonly options: StreamOptions;
}

/**
 * create_session or bind_session: reads the request line and opens a session (create) or finds
 * the one `sessionId` names (bind; the transport says which id the request names).
 */
export async function openOrFind(
  ctx: TlcpContext,
  name: 'create_session' | 'bind_session',
  line: string,
  clientIp: string,
  sessionId: string | null,
  httpHeaders: Readonly<Record<string, string>> = {},
): Promise<Opening | Refusal> {
  let params: Params;
  let options: StreamOptions;
  try {
    params = parseParams(line);
    options = readStreamOptions(params, ctx.keepaliveMs);
  } catch (err) {
    return { code: ConErr.MALFORMED, message: (err as Error).message };
  }
  if (name === 'create_session') {
    const opened = await openSession(ctx, params, clientIp, httpHeaders);
    return 'id' in opened ? { session: opened, options } : opened;
  }
  if (sessionId === null) return { code: ConErr.MALFORMED, message: 'missing LS_session' };
  const found = ctx.registry.lookup(sessionId);
  return found.found ? { session: found.session, options } : bindRefusal(found);
}

/**
 * One control or msg line, for the session the request is for (`current`, already looked up) or —
 * where a line may name its own (`LS_session` in a WebSocket frame) — the one it names.
 */
export async function answerLine(ctx: TlcpContext, name: 'control' | 'msg', line: string, current: Lookup | null, overWebSocket: boolean): Promise<Answer> {
  let params: Params;
  try {
    params = parseParams(line);
  } catch (err) {
    const reqId = scanParam(line, 'LS_reqId');
    return isRequestId(reqId) ? { line: n.reqerr(reqId, ReqErr.MALFORMED, (err as Error).message) } : unreadable(err);
  }
  let lookup = current;
  const named = overWebSocket ? params.get('LS_session') : undefined;
  if (named !== undefined && !(lookup?.found && lookup.session.id === named)) lookup = ctx.registry.lookup(named);
  if (!lookup?.found || lookup.session.closed) return missingSession(params, lookup !== null && !lookup.found && lookup.wrongInstance);
  const { session } = lookup;
  return name === 'control' ? controlLine(session, session.adapterSet, params, overWebSocket) : messageLine(session, params, overWebSocket);
}

/** create_session: authenticates and registers a session (not yet bound). */
async function openSession(ctx: TlcpContext, params: Params, clientIp: string, httpHeaders: Readonly<Record<string, string>>): Promise<Session | Refusal> {
  const r = new ParamReader(params);
  // A draining origin answers as a full one: the edge places the create on another shard.
  if (ctx.registry.full || ctx.registry.admission === 'draining') {
    await new Promise((resolve) => setTimeout(resolve, OVERLOADED_ANSWER_DELAY_MS));
    return { code: ConErr.OVERLOADED, message: ctx.registry.full ? 'server at its session capacity' : 'server shutting down' };
  }
  const setName = r.string('LS_adapter_set') ?? ctx.defaultAdapterSet;
  const adapterSet = ctx.adapterSets.get(setName);
  if (!adapterSet) return { code: ConErr.ADAPTER_SET_UNAVAILABLE, message: ADAPTER_SET_UNAVAILABLE_MESSAGE };
  const { metadata } = adapterSet;
  const user = r.string('LS_user');
  let requestedBandwidth: Bandwidth | undefined;
  try {
    requestedBandwidth = readRequestedBandwidth(params);
  } catch (err) {
    return { code: ConErr.MALFORMED, message: (err as Error).message };
  }
  let wantsTablesNotification = false;
  let cap: Bandwidth = null;
  try {
    const grant = await withDeadline(metadata.notifyUser({ user, password: r.string('LS_password'), clientIp, httpHeaders }), 'notifyUser');
    wantsTablesNotification = grant?.wantsTablesNotification === true;
    cap = bandwidthCap(grant?.maxBandwidth);
  } catch (err) {
    return metadataRefusal(ctx, err, 'notifyUser', ConErr.ADAPTER_FAILURE);
  }
  const services = ctx.services(adapterSet);
  const supportedDeltas = readSupportedDeltas(params.get('LS_supported_diffs'));
  const session = ctx.registry.create(clientIp, user, { ...services, wantsTablesNotification, bandwidthCap: cap, supportedDeltas });
  session.requestBandwidth(requestedBandwidth, false);
  if (metadata.notifyNewSession) {
    const properties: Record<string, string> = { REMOTE_IP: clientIp, LOCAL_SERVER: services.serverName };
    if (httpHeaders['user-agent'] !== undefined) properties.USER_AGENT = httpHeaders['user-agent'];
    try {
      await withDeadline(metadata.notifyNewSession({ sessionId: session.id, user, clientIp, properties }), 'notifyNewSession');
    } catch (err) {
      session.close();
      return metadataRefusal(ctx, err, 'notifyNewSession', ConErr.ADAPTER_FAILURE);
    }
  }
  session.announced();
  return session;
}

/** A metadata adapter's refusal as the protocol's code; anything unexpected is logged as a failure. */
function metadataRefusal(ctx: Pick<TlcpContext, 'logger'>, err: unknown, call: string, failureCode: number): Refusal {
  if (err instanceof AdapterError) return { code: err.code, message: err.message };
  ctx.logger.error({ err, call }, 'metadata adapter failed');
  return { code: failureCode, message: `metadata adapter failure (${call})` };
}

/** An adapter's answer, or a failure once METADATA_TIMEOUT_MS have passed. */
async function withDeadline<T>(answer: T | Promise<T>, call: string): Promise<T> {
  if (!(answer instanceof Promise)) return answer;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      answer,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${call} not answered within ${METADATA_TIMEOUT_MS} ms`)), METADATA_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A finished control or msg line: the answer (null: none, LS_ack=false) and what to do once it is out. */
export interface Answer {
  readonly line: string | null;
  readonly after?: () => void;
  /** An unexpected failure behind a REQERR 68, for the transport to log: the session goes on. */
  readonly failure?: unknown;
}

/** Answers a line that cannot be attributed to a request id. */
export function unreadable(err: unknown): Answer {
  return { line: n.error(ConErr.MALFORMED, err instanceof Error ? err.message : 'malformed request') };
}

/** One control line (add, delete, reconf, destroy, force_rebind, constrain). */
export async function controlLine(session: Session, adapterSet: AdapterSet, params: Params, overWebSocket: boolean): Promise<Answer> {
  const r = new ParamReader(params);
  const reqId = params.get('LS_reqId');
  if (!isRequestId(reqId)) return unreadable(new TlcpSyntaxError('missing or bad LS_reqId'));
  let ack: boolean;
  try {
    ack = !overWebSocket || r.bool('LS_ack', true);
  } catch (err) {
    return { line: n.reqerr(reqId, ReqErr.MALFORMED, (err as Error).message) };
  }
  const ok = (after?: () => void): Answer => ({ line: ack ? n.reqok(reqId) : null, after });
  const fail = (code: number, message: string): Answer => ({ line: n.reqerr(reqId, code, message) });
  try {
    const op = r.required('LS_op');
    switch (op) {
      case 'add': {
        const refusal = await addSubscription(session, adapterSet, r);
        return refusal ? fail(refusal.code, refusal.message) : ok();
      }
      case 'delete':
        return session.deleteSubscription(r.requiredInt('LS_subId')) ? ok() : fail(ReqErr.BAD_SUBSCRIPTION_ID, 'no such subscription');
      case 'reconf': {
        const frequency = readFrequency(r);
        if (frequency === 'unfiltered') return fail(ReqErr.MALFORMED, 'reconf cannot switch to unfiltered');
        const found = session.reconfigureSubscription(r.requiredInt('LS_subId'), frequency);
        return found ? ok() : fail(ReqErr.BAD_SUBSCRIPTION_ID, 'no such subscription');
      }
      case 'destroy': {
        const code = r.int('LS_cause_code') ?? EndCode.DESTROYED;
        const message = r.string('LS_cause_message') ?? 'destroyed by the client';
        return ok(() => session.end(code, message));
      }
      case 'force_rebind': {
        const pollingMillis = Math.min(r.int('LS_polling_millis') ?? 0, MAX_POLLING_MS);
        return ok(() => session.forceRebind(pollingMillis));
      }
      case 'constrain': {
        const requested = readRequestedBandwidth(params);
        return ok(() => session.requestBandwidth(requested, true));
      }
      default:
        return fail(ReqErr.INVALID_REQUEST, `unknown LS_op ${op}`);
    }
  } catch (err) {
    if (err instanceof TlcpSyntaxError) return fail(ReqErr.MALFORMED, err.message);
    if (err instanceof AdapterError) return fail(err.code, err.message);
    return { line: n.reqerr(reqId, ReqErr.INTERNAL, 'internal error'), failure: err };
  }
}

/** One msg line. */
export function messageLine(session: Session, params: Params, overWebSocket: boolean): Answer {
  const r = new ParamReader(params);
  const reqId = params.get('LS_reqId');
  if (!isRequestId(reqId)) return unreadable(new TlcpSyntaxError('missing or bad LS_reqId'));
  try {
    const ack = !overWebSocket || r.bool('LS_ack', true);
    const text = r.required('LS_message');
    const sequence = r.string('LS_sequence');
    if (sequence === 'UNORDERED_MESSAGES') return { line: n.reqerr(reqId, ReqErr.BAD_MESSAGE, 'UNORDERED_MESSAGES is reserved: omit LS_sequence') };
    if (sequence !== null && !SEQUENCE_NAME.test(sequence)) return { line: n.reqerr(reqId, ReqErr.MALFORMED, 'bad LS_sequence') };
    const maxWaitMs = r.int('LS_max_wait');
    const refusal = session.submitMessage({
      text,
      sequence,
      prog: r.int('LS_msg_prog'),
      maxWaitMs: maxWaitMs === null ? null : Math.min(maxWaitMs, MAX_MESSAGE_WAIT_MS),
      outcome: r.bool('LS_outcome', true),
    });
    if (refusal) return { line: n.reqerr(reqId, ReqErr.BAD_MESSAGE, refusal) };
    return { line: ack ? n.reqok(reqId) : null };
  } catch (err) {
    if (err instanceof TlcpSyntaxError) return { line: n.reqerr(reqId, ReqErr.MALFORMED, err.message) };
    return { line: n.reqerr(reqId, ReqErr.INTERNAL, 'internal error'), failure: err };
  }
}

/** The answer to a control or msg line for a session not held here. */
export function missingSession(params: Params, wrongInstance: boolean): Answer {
  const reqId = params.get('LS_reqId');
  if (!isRequestId(reqId)) return unreadable(new TlcpSyntaxError('missing or bad LS_reqId'));
  return wrongInstance
    ? { line: n.reqerr(reqId, ReqErr.WRONG_INSTANCE, 'session belongs to another instance') }
    : { line: n.reqerr(reqId, ReqErr.SESSION_NOT_FOUND, 'session not found') };
}

async function addSubscription(session: Session, adapterSet: AdapterSet, r: ParamReader): Promise<Refusal | null> {
  const id = r.requiredInt('LS_subId');
  if (id > MAX_SUBSCRIPTION_ID) return { code: ReqErr.MALFORMED, message: `LS_subId must be at most ${MAX_SUBSCRIPTION_ID}` };
  const mode = r.required('LS_mode') as SubscriptionMode;
  if (!MODES.includes(mode)) return { code: ReqErr.MALFORMED, message: `unknown LS_mode ${mode}` };
  const group = r.required('LS_group');
  // A session layer in front asks for each event's position in the shared feed as one more field:
  // the adapter resolves the schema the client named, and the position is this origin's to give.
  const requestedSchema = r.required('LS_schema');
  const positioned = requestedSchema.endsWith(POSITIONED_SCHEMA_SUFFIX);
  const schemaName = positioned ? requestedSchema.slice(0, -POSITIONED_SCHEMA_SUFFIX.length) : requestedSchema;
  if (r.string('LS_selector')) return { code: ReqErr.BAD_SELECTOR, message: 'selectors are not supported' };
  const dataAdapterName = r.string('LS_data_adapter') ?? adapterSet.defaultDataAdapter;
  const dataAdapter = adapterSet.dataAdapters.get(dataAdapterName);
  if (!dataAdapter) return { code: ReqErr.BAD_DATA_ADAPTER, message: `no data adapter ${dataAdapterName}` };

  const snapshotParam = r.string('LS_snapshot') ?? 'false';
  let snapshot: boolean | number;
  if (snapshotParam === 'true' || snapshotParam === 'false') snapshot = snapshotParam === 'true';
  else if (/^\d{1,9}$/.test(snapshotParam) && mode === 'DISTINCT') snapshot = Number(snapshotParam);
  else return { code: ReqErr.MALFORMED, message: 'LS_snapshot must be true, false or a length (DISTINCT)' };
  const frequency = readFrequency(r);
  const unfiltered = frequency === 'unfiltered';
  if (unfiltered && mode === 'RAW') return { code: ReqErr.MALFORMED, message: 'RAW is unfiltered already' };
  const bufferParam = r.string('LS_requested_buffer_size');
  let bufferSize = DEFAULT_BUFFER;
  if (bufferParam === 'unlimited') bufferSize = MAX_BUFFER;
  else if (bufferParam !== null) bufferSize = Math.min(Math.max(1, r.requiredInt('LS_requested_buffer_size')), MAX_BUFFER);

  // The id first: the metadata adapter may take a while, and a delete meanwhile must find it.
  const reservation = session.reserveSubscription(id);
  if (reservation === 'duplicate') return { code: ReqErr.BAD_SUBSCRIPTION_ID, message: `subscription ${id} already exists` };
  if (reservation === 'subscription-limit') return { code: ReqErr.LIMIT, message: 'too many subscriptions in this session' };
  let table: TableInfo | null = null;
  let acquired: ItemHub[];
  try {
    const { metadata } = adapterSet;
    const request = { user: session.user, sessionId: session.id, group, dataAdapter: dataAdapterName };
    // A group may resolve to no item, as on a Lightstreamer Server: SUBOK says 0 and the client,
    // which counted the group's names, reports the mismatch itself (onSubscriptionError 61).
    const items = [...(await withDeadline(metadata.getItems(request), 'getItems'))];
    const badItem = items.find((item) => typeof item !== 'string' || !ADAPTER_ITEM_NAME.test(item));
    if (badItem !== undefined) return abandon(session, id, { code: ReqErr.BAD_GROUP, message: 'the metadata adapter named an item with blanks, braces or control characters' });
    // Before the schema is resolved against the items: that work grows with both.
    const maxItems = session.maxItemsPerSubscription;
    if (items.length > maxItems) return abandon(session, id, { code: ReqErr.LIMIT, message: `too many items in one subscription (at most ${maxItems})` });
    if (!session.countItems(id, items.length)) return abandon(session, id, { code: ReqErr.LIMIT, message: 'too many subscribed items in this session' });
    const resolved = [...(await withDeadline(metadata.getSchema({ ...request, schema: schemaName, items }), 'getSchema'))];
    if (resolved.length === 0) return abandon(session, id, { code: ReqErr.BAD_SCHEMA, message: 'empty schema' });
    if (resolved.length > MAX_SCHEMA_FIELDS) return abandon(session, id, { code: ReqErr.LIMIT, message: `too many fields in one subscription (at most ${MAX_SCHEMA_FIELDS})` });
    const fields = positioned ? [...resolved, FEED_POSITION_FIELD] : resolved;
    if (mode === 'COMMAND' && !fields.includes('key')) return abandon(session, id, { code: ReqErr.NO_KEY_FIELD, message: 'COMMAND needs a key field' });
    if (mode === 'COMMAND' && !fields.includes('command')) return abandon(session, id, { code: ReqErr.NO_COMMAND_FIELD, message: 'COMMAND needs a command field' });

    const distinct = [...new Set(items)];
    const limits = metadata.getItemLimits
      ? await withDeadline(metadata.getItemLimits({ user: session.user, sessionId: session.id, dataAdapter: dataAdapterName, items: distinct }), 'getItemLimits')
      : [];
    const granted = grantedLimits(distinct, limits, mode);
    if ('code' in granted) return abandon(session, id, granted);
    if (unfiltered && granted.maxFrequency !== null) return abandon(session, id, { code: ReqErr.UNFILTERED_NOT_ALLOWED, message: 'unfiltered dispatching is not allowed for these items' });
    if (mode === 'DISTINCT' && granted.distinctSnapshotLength !== null && snapshot !== false) {
      snapshot = snapshot === true ? granted.distinctSnapshotLength : Math.min(snapshot, granted.distinctSnapshotLength);
    }
    const maxFrequency = mode === 'MERGE' ? capFrequency(typeof frequency === 'number' ? frequency : null, granted.maxFrequency) : null;
    if (granted.bufferSize !== null) bufferSize = Math.min(bufferSize, granted.bufferSize);

    if (session.wantsTablesNotification && metadata.notifyNewTables) {
      table = { subscriptionId: id, mode, group, dataAdapter: dataAdapterName, schema: schemaName, items };
      await withDeadline(metadata.notifyNewTables({ user: session.user, sessionId: session.id, tables: [table] }), 'notifyNewTables');
    }

    const spec: SubscriptionSpec = {
      id,
      mode,
      schema: schemaOf(fields),
      snapshot,
      maxFrequency,
      frequencyCap: mode === 'MERGE' ? granted.maxFrequency : null,
      unfiltered,
      bufferSize,
      deltas: mode === 'COMMAND' ? null : deltasOf(session, dataAdapter, items, fields),
    };
    const onDemand = isOnDemand(dataAdapter);
    const refs: ItemRef[] = items.map((item) =>
      onDemand ? { busItem: onDemandBusItem(adapterSet.name, dataAdapterName, item), feed: { adapter: dataAdapter, item } } : { busItem: item },
    );
    try {
      acquired = await session.hubs.acquireAll(refs, ITEMS_LOAD_TIMEOUT_MS);
    } catch (err) {
      session.abandonSubscription(id);
      if (table) session.tableClosed(table);
      return { code: ReqErr.INTERNAL, message: `items unavailable: ${(err as Error).message}` };
    }
    session.startSubscription(spec, acquired, table);
    return null;
  } catch (err) {
    session.abandonSubscription(id);
    if (err instanceof AdapterError) return { code: err.code, message: err.message };
    session.logger.error({ err, session: session.id }, 'metadata adapter failed on a subscription');
    return { code: ReqErr.ADAPTER_FAILURE, message: 'metadata adapter failure' };
  }
}

const DELTA_KINDS = { JSONPATCH: 'json', DIFF_MATCH_PATCH: 'diff' } as const satisfies Record<string, DeltaKind>;

/**
 * Per item, the fields the data adapter lets go out as deltas (diffOrder), in formats the client
 * accepts; null when none may. COMMAND rows are always whole: a delta would need each key's values.
 */
function deltasOf(session: Session, adapter: DataAdapter, items: readonly string[], fields: readonly string[]): Array<FieldDeltas | null> | null {
  if (!adapter.diffOrder || session.supportedDeltas?.size === 0) return null;
  const byItem = new Map<string, FieldDeltas | null>();
  const deltas = items.map((item) => {
    let itemDeltas = byItem.get(item);
    if (itemDeltas === undefined) {
      itemDeltas = fieldDeltas(session, adapter, item, fields);
      byItem.set(item, itemDeltas);
    }
    return itemDeltas;
  });
  return deltas.some((d) => d !== null) ? deltas : null;
}

function fieldDeltas(session: Session, adapter: DataAdapter, item: string, fields: readonly string[]): FieldDeltas | null {
  let order: ReturnType<NonNullable<DataAdapter['diffOrder']>>;
  try {
    order = adapter.diffOrder!(item);
  } catch (err) {
    session.logger.error({ err, item, adapter: adapter.name }, 'data adapter failed on diffOrder; values go out whole');
    return null;
  }
  if (!order) return null;
  const supported = session.supportedDeltas;
  let any = false;
  const deltas = fields.map((field) => {
    const algorithms = field === FEED_POSITION_FIELD || !Object.hasOwn(order, field) ? undefined : order[field];
    if (!Array.isArray(algorithms)) return null;
    const kinds = [...new Set(algorithms.map((a) => DELTA_KINDS[a as keyof typeof DELTA_KINDS]).filter((k) => k !== undefined && (supported === null || supported.has(k))))];
    if (kinds.length === 0) return null;
    any = true;
    return kinds;
  });
  return any ? deltas : null;
}

function abandon(session: Session, id: number, refusal: Refusal): Refusal {
  session.abandonSubscription(id);
  return refusal;
}

interface GrantedLimits {
  readonly maxFrequency: number | null;
  readonly bufferSize: number | null;
  readonly distinctSnapshotLength: number | null;
}

/** The tightest of the items' limits; a mode any item refuses refuses the subscription. */
function grantedLimits(items: readonly string[], limits: readonly ItemLimits[], mode: SubscriptionMode): GrantedLimits | Refusal {
  if (limits.length === 0) return { maxFrequency: null, bufferSize: null, distinctSnapshotLength: null };
  if (limits.length !== items.length) throw new Error(`getItemLimits answered for ${limits.length} items, asked for ${items.length}`);
  let maxFrequency: number | null = null;
  let bufferSize: number | null = null;
  let distinctSnapshotLength: number | null = null;
  const tighter = (current: number | null, next: number | undefined, floor: number) =>
    next === undefined || !Number.isFinite(next) || next < floor ? current : current === null ? next : Math.min(current, next);
  for (const limit of limits) {
    if (limit.modes && !limit.modes.includes(mode)) return { code: ReqErr.MODE_NOT_ALLOWED, message: MODE_NOT_ALLOWED_MESSAGE };
    // Zero or less means no limit, as Lightstreamer's item and user data have it.
    maxFrequency = tighter(maxFrequency, limit.maxFrequency !== undefined && limit.maxFrequency > 0 ? Math.max(limit.maxFrequency, MIN_MAX_FREQUENCY) : undefined, MIN_MAX_FREQUENCY);
    bufferSize = tighter(bufferSize, limit.bufferSize !== undefined && limit.bufferSize > 0 ? Math.floor(limit.bufferSize) : undefined, 1);
    distinctSnapshotLength = tighter(distinctSnapshotLength, limit.distinctSnapshotLength !== undefined ? Math.floor(limit.distinctSnapshotLength) : undefined, 0);
  }
  return { maxFrequency, bufferSize, distinctSnapshotLength };
}

function readFrequency(r: ParamReader): number | null | 'unfiltered' {
  const v = r.string('LS_requested_max_frequency');
  if (v === null || v === 'unlimited') return null;
  if (v === 'unfiltered') return 'unfiltered';
  const f = r.number('LS_requested_max_frequency');
  if (f === null || f <= 0) throw new TlcpSyntaxError('LS_requested_max_frequency must be positive, unlimited or unfiltered');
  // Granted as CONF says: the client learns the rate it gets.
  return Math.max(f, MIN_MAX_FREQUENCY);
}
