/**
 * The write allowance of a session with a maximum bandwidth: bytes accrue at the granted rate up to
 * one second's worth (a burst), and a write may overdraw them — a line is never split — so the debt
 * delays the next one. Sessions without a limit have no bucket at all.
 */

/** The longest a full bucket lets a session send at once, in seconds of its rate. */
const BURST_SECONDS = 1;
/** Waits are at least this long: a fast limited session wakes for a few lines at a time, not for each byte. */
const MIN_WAIT_MS = 20;
/** A timer holds at most this long (Node fires longer ones at once). */
const MAX_WAIT_MS = 2 ** 31 - 1;

export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly bytesPerSecond: number,
    now: number,
  ) {
    this.#tokens = this.#burst;
    this.#at = now;
  }

  /** Bytes that may be written now; zero or less: none until `msUntilAvailable`. */
  available(now: number): number {
    if (now > this.#at) {
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.bytesPerSecond) / 1000);
      this.#at = now;
    }
    return this.#tokens;
  }

  spend(bytes: number, now: number): void {
    this.available(now);
    this.#tokens -= bytes;
  }

  /** How long until a write is allowed again; 0 when it is now. */
  msUntilAvailable(now: number): number {
    const tokens = this.available(now);
    if (tokens > 0) return 0;
    return Math.min(MAX_WAIT_MS, Math.max(MIN_WAIT_MS, Math.ceil(((1 - tokens) * 1000) / this.bytesPerSecond)));
  }

  get #burst(): number {
    return this.bytesPerSecond * BURST_SECONDS;
  }
}
