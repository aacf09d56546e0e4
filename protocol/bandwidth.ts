/**
 * A session's maximum bandwidth as TLCP has it: kilobits per second (1 kbit = 1000 bits), asked for
 * with `LS_requested_max_bandwidth` (create_session, constrain) and announced with `CONS`. Pure:
 * shared by anything that reads or grants it.
 */
import { ParamReader, TlcpSyntaxError, type Params } from './request.ts';

/** Kilobits per second; null is unlimited. */
export type Bandwidth = number | null;

/**
 * The lowest bandwidth granted: below it a session would wait seconds for each line, and the wait
 * for the next byte (a timer) would grow past what a timer can hold.
 */
export const MIN_BANDWIDTH_KBPS = 1;

/** `LS_requested_max_bandwidth`: a positive decimal or `unlimited`; undefined when absent. */
export function readRequestedBandwidth(params: Params): Bandwidth | undefined {
  const v = params.get('LS_requested_max_bandwidth');
  if (v === undefined) return undefined;
  if (v === 'unlimited') return null;
  const kbps = new ParamReader(params).number('LS_requested_max_bandwidth');
  if (kbps === null || kbps <= 0) throw new TlcpSyntaxError('LS_requested_max_bandwidth must be a positive number or unlimited');
  return kbps;
}

/** What the session gets: the lower of the client's request and the user's cap (the metadata adapter's). */
export function grantedBandwidth(requested: Bandwidth, cap: Bandwidth): Bandwidth {
  const granted = cap === null ? requested : requested === null ? cap : Math.min(requested, cap);
  return granted === null ? null : Math.max(granted, MIN_BANDWIDTH_KBPS);
}

/** A user cap as an adapter states it: zero, negative or not a number means no limit. */
export function bandwidthCap(kbps: number | undefined): Bandwidth {
  return kbps !== undefined && Number.isFinite(kbps) && kbps > 0 ? kbps : null;
}

/** Bytes per second of a granted bandwidth. */
export function bytesPerSecond(kbps: number): number {
  return (kbps * 1000) / 8;
}
