/**
 * The one interface every transport offers a session: somewhere to write notification lines until
 * the stream ends. A session has at most one stream at a time; a new bind replaces it.
 */
import type { TransportName } from '../telemetry.ts';

export interface Stream {
  readonly transport: TransportName;
  readonly polling: boolean;
  /** Bytes this stream may still carry before it must LOOP (HTTP content length); Infinity if unbounded. */
  readonly remaining: number;
  /** The connection's outgoing buffer is above its high-water mark: stop writing until `drain`. */
  readonly congested: boolean;
  /** Returns the bytes written, for the telemetry. */
  write(text: string): number;
  /** Writes a last line (LOOP or END) and ends the stream. WebSocket keeps the socket open for the next bind. */
  finish(text: string, closeSocket?: boolean): void;
  /** Ends without a word: a newer bind replaced it (an END would stop a client still listening). */
  abandon(): void;
  /** Called once when a congested stream can take data again. */
  onDrain(listener: () => void): void;
  /** Called once when the connection goes away without `finish`/`abandon`. */
  onLost(listener: () => void): void;
}

/** Above this many bytes queued in the socket a stream reports congestion. */
export const HIGH_WATER_BYTES = 256 * 1024;
