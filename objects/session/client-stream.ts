/**
 * Where a client session's notifications go: at most one stream at a time, replaced by each bind —
 * a WebSocket (streaming, or one poll of WS-POLLING: the socket outlives it) or the response to an
 * HTTP create or bind (streaming up to its content length, or one poll). The session decides what to
 * write and when; a stream only carries it and says when it is gone.
 */

export type ClientTransport = 'WS-STREAMING' | 'WS-POLLING' | 'HTTP-STREAMING' | 'HTTP-POLLING';

export interface ClientStream {
  readonly transport: ClientTransport;
  readonly polling: boolean;
  /** Bytes it may still carry before it must LOOP (an HTTP content length); Infinity if unbounded. */
  readonly remaining: number;
  /** Bytes written that the client has not taken yet: they wait in the runtime's buffers. */
  readonly queuedBytes: number;
  /** Returns the bytes written. */
  write(text: string): number;
  /** Writes a last line (LOOP or END) and ends the stream; a WebSocket stays open for the next bind unless `closeSocket`. */
  finish(text: string, closeSocket?: boolean): void;
  /** Ends without a word: a newer bind replaced it. */
  abandon(): void;
  /** Called once when the connection goes away without finish/abandon. */
  onLost(listener: () => void): void;
}

const encoder = new TextEncoder();

/** The streaming response of an HTTP create or bind, written as the session writes. */
export class HttpClientStream implements ClientStream {
  readonly transport: ClientTransport;
  readonly response: Response;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #written = 0;
  #queued = 0;
  #state: 'open' | 'ended' = 'open';
  #lost: (() => void) | null = null;

  constructor(
    readonly polling: boolean,
    private readonly contentLength: number,
    headers: HeadersInit,
  ) {
    this.transport = polling ? 'HTTP-POLLING' : 'HTTP-STREAMING';
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.#writer = writable.getWriter();
    // The client going away errors the writer: the stream is lost.
    this.#writer.closed.catch(() => this.#gone());
    this.response = new Response(readable, { headers });
  }

  get remaining(): number {
    return this.polling ? Infinity : this.contentLength - this.#written;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  write(text: string): number {
    if (this.#state !== 'open') return 0;
    const bytes = encoder.encode(text);
    this.#written += bytes.length;
    // The response body reads from the transform only as fast as the client takes it: a write
    // resolves once the runtime has taken its chunk.
    this.#queued += bytes.length;
    this.#writer.write(bytes).then(
      () => void (this.#queued -= bytes.length),
      () => this.#gone(),
    );
    return bytes.length;
  }

  finish(text: string): void {
    if (this.#state !== 'open') return;
    this.write(text);
    this.#state = 'ended';
    this.#writer.close().catch(() => undefined);
  }

  abandon(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.#writer.close().catch(() => undefined);
  }

  onLost(listener: () => void): void {
    this.#lost = listener;
  }

  #gone(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.#lost?.();
  }
}

/** What a WebSocket stream needs of the socket it runs on (the session's client socket). */
export interface ClientSocket {
  send(text: string): number;
  /** Bytes sent that the client has not taken yet. */
  readonly bufferedBytes: number;
  /** The stream is over; the socket may carry the next bind (polling). */
  released(stream: WsClientStream): void;
  close(): void;
}

export class WsClientStream implements ClientStream {
  readonly transport: ClientTransport;
  readonly remaining = Infinity;
  #state: 'open' | 'ended' = 'open';
  #lost: (() => void) | null = null;

  constructor(
    private readonly socket: ClientSocket,
    readonly polling: boolean,
  ) {
    this.transport = polling ? 'WS-POLLING' : 'WS-STREAMING';
  }

  get queuedBytes(): number {
    return this.socket.bufferedBytes;
  }

  write(text: string): number {
    return this.#state === 'open' ? this.socket.send(text) : 0;
  }

  finish(text: string, closeSocket = false): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.socket.send(text);
    this.socket.released(this);
    if (closeSocket) this.socket.close();
  }

  abandon(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.socket.released(this);
  }

  onLost(listener: () => void): void {
    this.#lost = listener;
  }

  /** The socket went away under the stream. */
  lost(): void {
    if (this.#state !== 'open') return;
    this.#state = 'ended';
    this.#lost?.();
  }
}
