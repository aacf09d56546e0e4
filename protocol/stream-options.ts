/**
 * What a create or bind asks of its stream, read as every TLCP server here reads it (the origin and
 * the edge's session layer). Every number is brought into a range before use: times end up in
 * timers (which fire at once beyond 2^31 ms) and in how long sessions and sockets are kept.
 */
import { ParamReader, type Params } from './request.ts';

/** The official clients' default content length, used when a streaming bind names none. */
const DEFAULT_CONTENT_LENGTH = 50_000_000;
/** A stream shorter than this would carry little more than its CONOK before each re-bind. */
const MIN_CONTENT_LENGTH = 256;
const MIN_KEEPALIVE_MS = 1000;
const MAX_KEEPALIVE_MS = 120_000;
/** Polls wait at most this long for data, whatever the client asks. */
const MAX_IDLE_MS = 60_000;
/** Pauses between polls are at most this long (LOOP announces it): sessions and sockets wait that long. */
export const MAX_POLLING_MS = 300_000;
/** A promise of a request at least this rarely (LS_inactivity_millis) is no promise to act on. */
const MAX_INACTIVITY_MS = 3_600_000;

export interface StreamOptions {
  readonly polling: boolean;
  /** LOOP delay of a polling stream: when the client polls next. */
  readonly pollingMillis: number;
  /** How long a poll waits for data. */
  readonly idleMillis: number;
  readonly keepaliveMillis: number;
  readonly recoveryFrom: number | null;
  /** LS_inactivity_millis: the client promises a request at least this often on a stream; null = no promise. */
  readonly inactivityMillis: number | null;
  /** Bytes a streaming response may carry before it must LOOP. */
  readonly contentLength: number;
}

/** Throws TlcpSyntaxError for a parameter that is not a number or boolean where one is due. */
export function readStreamOptions(params: Params, defaultKeepaliveMs: number): StreamOptions {
  const r = new ParamReader(params);
  const requestedKeepalive = r.int('LS_keepalive_millis');
  const inactivity = r.int('LS_inactivity_millis') ?? 0;
  return {
    polling: r.bool('LS_polling', false),
    pollingMillis: Math.min(r.int('LS_polling_millis') ?? 0, MAX_POLLING_MS),
    idleMillis: Math.min(r.int('LS_idle_millis') ?? 0, MAX_IDLE_MS),
    keepaliveMillis:
      requestedKeepalive === null || requestedKeepalive === 0
        ? defaultKeepaliveMs
        : Math.min(Math.max(requestedKeepalive, MIN_KEEPALIVE_MS), MAX_KEEPALIVE_MS),
    recoveryFrom: r.int('LS_recovery_from'),
    inactivityMillis: inactivity > 0 && inactivity <= MAX_INACTIVITY_MS ? inactivity : null,
    contentLength: Math.max(r.int('LS_content_length') ?? DEFAULT_CONTENT_LENGTH, MIN_CONTENT_LENGTH),
  };
}
