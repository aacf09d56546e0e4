import type { TransportName } from '../telemetry.ts';
import { HIGH_WATER_BYTES, type Stream } from './stream.ts';

/** What a WebSocket stream needs of the connection it runs on (websocket.ts). */
export interface WsCarrier {
  /** Writes a text frame; returns the bytes written. */
  send(text: string): number;
  /** Bytes queued on the socket, not yet written to the network. */
  readonly bufferedAmount: number;
  onceDrained(listener: () => void): void;
  /** The stream is over: the connection may carry the next bind (polling) or wait to be closed. */
  released(stream: WsStream): void;
  close(): void;
}

/**
 * A session's stream on a WebSocket (WS-STREAMING, or one WS-POLLING poll). The socket outlives it:
 * after a polling LOOP the client binds again on the same socket.
 */
export class WsStream implements Stream {
  readonly transport: TransportName;
  readonly remaining = Infinity;
  #done = false;
  #lost: (() => void) | null = null;

  constructor(
    private readonly carrier: WsCarrier,
    readonly polling: boolean,
  ) {
    this.transport = polling ? 'WS-POLLING' : 'WS-STREAMING';
  }

  get congested(): boolean {
    return this.carrier.bufferedAmount > HIGH_WATER_BYTES;
  }

  write(text: string): number {
    return this.#done ? 0 : this.carrier.send(text);
  }

  finish(text: string, closeSocket = false): void {
    if (this.#done) return;
    this.#done = true;
    this.carrier.send(text);
    this.carrier.released(this);
    // After LOOP the client opens a new socket (streaming) or re-binds on this one (polling).
    if (closeSocket) this.carrier.close();
  }

  abandon(): void {
    if (this.#done) return;
    this.#done = true;
    this.carrier.released(this);
    this.carrier.close();
  }

  /**
   * Ends this stream quietly while its socket carries on with a newer one. Its session is told, as
   * for a cut: otherwise it stays bound to a stream that writes nothing, and never expires.
   */
  supersede(): void {
    if (this.#done) return;
    this.#done = true;
    this.carrier.released(this);
    this.#lost?.();
  }

  onDrain(listener: () => void): void {
    this.carrier.onceDrained(listener);
  }

  onLost(listener: () => void): void {
    this.#lost = listener;
  }

  /** The socket went away under the stream. */
  lost(): void {
    if (this.#done) return;
    this.#done = true;
    this.#lost?.();
  }
}
