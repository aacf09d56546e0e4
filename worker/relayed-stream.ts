import type { EdgeRequest } from './edge-request.ts';
import { END_MAX_DURATION, END_SHARD_LOST, conokOf } from './tlcp.ts';
import { StreamWatch, type EdgeEnding } from './stream-watch.ts';
import { count } from './registry-client.ts';
import { shardFailed } from './origin-call.ts';

const encoder = new TextEncoder();
const LF = 0x0a;
/** Enough of a line to tell LOOP and END from the rest. */
const HEAD_BYTES = 6;
/** A stream the edge must end mid-line (a shard that stopped halfway) gets this long to finish it. */
const LINE_END_WAIT_MS = 1_000;

/**
 * How a relayed response ended, for what the edge remembers of the session: `loop` (the session
 * goes on, the client binds again), `end` (the origin or the edge ended the session, or refused the
 * bind), `broken` (the origin's stream failed: the client will try to recover), `client-gone`.
 */
export type StreamOutcome = 'loop' | 'end' | 'broken' | 'client-gone';

type State = 'streaming' | 'ending' | 'closed';

const asciiHead = (bytes: Uint8Array): string => String.fromCharCode(...bytes.subarray(0, HEAD_BYTES));

/**
 * One HTTP TLCP response on its way from an origin to a client. The first line is read before the
 * client gets anything, so the edge can act on it (a full shard's CONERR 5 sends the create elsewhere;
 * CONOK teaches a pin and gets its control link rewritten) and so an origin that never sends it
 * fails the call within the call's deadline. Everything after it streams through chunk by chunk,
 * watched (stream-watch.ts): the edge ends the stream itself, at a line boundary, with END 48.
 */
export class OriginStream {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Bytes read past the first line while looking for it. */
  private rest: Uint8Array = new Uint8Array(0);

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The first line without its CRLF, or null when the stream ended before one. Rejects when the read fails. */
  async firstLine(): Promise<string | null> {
    let head = new Uint8Array(0);
    for (;;) {
      const { done, value } = await this.reader.read();
      if (done) {
        this.rest = head;
        return null;
      }
      const joined = new Uint8Array(head.length + value.length);
      joined.set(head);
      joined.set(value, head.length);
      const eol = joined.indexOf(LF);
      if (eol >= 0) {
        this.rest = joined.subarray(eol + 1);
        return new TextDecoder().decode(joined.subarray(0, eol)).replace(/\r$/, '');
      }
      head = joined;
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel().catch(() => undefined);
  }

  /**
   * The client's body: `first` (the first line as the edge lets it through, or null when there was
   * none), then the rest of the origin's stream, under the edge's watch.
   */
  toClient(er: EdgeRequest, shard: string, first: string | null, options: ClientSideOptions): ReadableStream<Uint8Array> {
    return new ClientSide(er, shard, this.reader, first, this.rest, options).readable;
  }
}

interface ClientSideOptions {
  /** A poll ends by itself within its idle time: no session duration applies to it. */
  readonly polling: boolean;
  readonly onClosed?: (outcome: StreamOutcome) => void;
}

class ClientSide {
  readonly readable: ReadableStream<Uint8Array>;
  private state: State = 'streaming';
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly watch: StreamWatch;
  private atLineStart = true;
  /** The first bytes of the line in progress and of the last complete line. */
  private currentHead = '';
  private lastHead = '';
  private pendingEnding: EdgeEnding | null = null;
  private lineEndTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly er: EdgeRequest,
    private readonly shard: string,
    private readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    first: string | null,
    rest: Uint8Array,
    private readonly options: ClientSideOptions,
  ) {
    this.watch = new StreamWatch(er, shard, options.polling, (ending) => this.endByEdge(ending));
    const keepalive = first === null ? null : conokOf(first)?.fields[3];
    if (keepalive) this.watch.expectKeepalive(Number(keepalive));
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
        if (first !== null) this.pass(encoder.encode(`${first}\r\n`));
        if (rest.length) this.pass(rest);
      },
      pull: () => this.pull(),
      cancel: () => this.close('client-gone', true),
    });
  }

  private async pull(): Promise<void> {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await this.reader.read();
    } catch (err) {
      if (this.state === 'closed') return;
      shardFailed(this.er, this.shard, 'broken');
      this.close('broken', false);
      // An error, not an end: the client sees the stream break at once and recovers the session.
      this.controller.error(err);
      return;
    }
    if (this.state === 'closed') return;
    if (chunk.done) {
      this.close(this.lastHead.startsWith('LOOP') ? 'loop' : this.lastHead.startsWith('END') || this.lastHead.startsWith('CONERR') ? 'end' : 'broken', false);
      this.controller.close();
      return;
    }
    this.watch.sawBytes();
    this.pass(chunk.value);
    if (this.state === 'ending' && this.atLineStart) this.finishEnding();
  }

  private pass(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.trackLines(bytes);
    this.controller.enqueue(bytes);
  }

  private trackLines(bytes: Uint8Array): void {
    const lastLf = bytes.lastIndexOf(LF);
    if (lastLf < 0) {
      if (this.currentHead.length < HEAD_BYTES) this.currentHead += asciiHead(bytes);
    } else {
      const lineStart = bytes.lastIndexOf(LF, lastLf - 1) + 1;
      this.lastHead = lineStart === 0 ? (this.currentHead + asciiHead(bytes)).slice(0, HEAD_BYTES) : asciiHead(bytes.subarray(lineStart));
      this.currentHead = asciiHead(bytes.subarray(lastLf + 1));
    }
    this.atLineStart = bytes[bytes.length - 1] === LF;
  }

  private endByEdge(ending: EdgeEnding): void {
    if (this.state !== 'streaming') return;
    this.state = 'ending';
    this.pendingEnding = ending;
    if (this.atLineStart) return this.finishEnding();
    // Half a notification is on its way: the rest of the line gets a moment, then the stream breaks.
    this.lineEndTimer = setTimeout(() => {
      if (this.state !== 'ending') return;
      this.close('broken', true);
      this.controller.error(new Error('stream ended mid-line'));
    }, LINE_END_WAIT_MS);
  }

  private finishEnding(): void {
    const ending = this.pendingEnding!;
    count(ending === 'shard-lost' ? 'shardLostEnds' : 'maxDurationEnds');
    this.controller.enqueue(encoder.encode(ending === 'shard-lost' ? END_SHARD_LOST : END_MAX_DURATION));
    this.close('end', true);
    this.controller.close();
  }

  /** `cancelOrigin` when the origin's stream is still open: closing it lets the origin unbind the session. */
  private close(outcome: StreamOutcome, cancelOrigin: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.watch.stop();
    if (this.lineEndTimer !== null) clearTimeout(this.lineEndTimer);
    if (cancelOrigin) void this.reader.cancel().catch(() => undefined);
    this.options.onClosed?.(outcome);
  }
}
