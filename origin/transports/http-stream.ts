/**
 * HTTP streams: the response of a bind_session (or create_session) request.
 *
 * Streaming responses are chunked and written through as they come (Node flushes each write on a
 * no-delay socket; nothing here buffers). Their content length is a budget the session honours by
 * ending with LOOP before exceeding it. Polling responses are the same object with `polling` set:
 * the session ends them with LOOP once it has delivered what was pending or the idle time passed.
 */
import type { ServerResponse } from 'node:http';
import type { TransportName } from '../telemetry.ts';
import { HIGH_WATER_BYTES, type Stream } from './stream.ts';

export const STREAM_HEADERS = {
  'content-type': 'text/enriched; charset=UTF-8',
  'cache-control': 'no-store, no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

// Fan-out writes the same line to many responses in a row: encode it once for all of them.
let lastText = '';
let lastBytes = Buffer.alloc(0);

export class HttpStream implements Stream {
  readonly transport: TransportName;
  #written = 0;
  #ended = false;
  #lost: (() => void) | null = null;

  constructor(
    private readonly res: ServerResponse,
    readonly polling: boolean,
    private readonly contentLength: number,
    headers: Record<string, string>,
  ) {
    this.transport = polling ? 'HTTP-POLLING' : 'HTTP-STREAMING';
    res.writeHead(200, { ...STREAM_HEADERS, ...headers });
    res.once('close', () => {
      if (this.#ended) return;
      this.#ended = true;
      this.#lost?.();
    });
  }

  get remaining(): number {
    return this.polling ? Infinity : this.contentLength - this.#written;
  }

  get congested(): boolean {
    return this.res.writableLength > HIGH_WATER_BYTES;
  }

  write(text: string): number {
    if (this.#ended) return 0;
    if (text !== lastText) {
      lastText = text;
      lastBytes = Buffer.from(text);
    }
    this.#written += lastBytes.length;
    this.res.write(lastBytes);
    return lastBytes.length;
  }

  finish(text: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.res.end(text);
  }

  abandon(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.res.end();
  }

  onDrain(listener: () => void): void {
    this.res.once('drain', listener);
  }

  onLost(listener: () => void): void {
    this.#lost = listener;
  }
}
