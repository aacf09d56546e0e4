/**
 * Client messages of one session (msg requests). Messages of a named sequence reach the metadata
 * adapter one at a time in prog order; a message that arrives early waits for its predecessors, at
 * most LS_max_wait, after which the missing ones are declared skipped (MSGFAIL 38, or 39 with their
 * count) and the sequence moves on. Unordered messages are handled as they come.
 *
 * Names of sequences and numbers of messages come from the client: a session holds a bounded number
 * of sequences and of messages not yet answered, however slow the adapter is, and refuses beyond.
 */
import * as n from '../../protocol/notifications.ts';
import { MsgFail } from '../../protocol/codes.ts';
import { AdapterError } from '../adapters/adapter.ts';

export interface ClientMessage {
  readonly text: string;
  /** null: unordered (`*` in outcomes). */
  readonly sequence: string | null;
  /** null only for unordered messages sent without a listener. */
  readonly prog: number | null;
  readonly maxWaitMs: number | null;
  /** false: the client wants no MSGDONE/MSGFAIL. */
  readonly outcome: boolean;
}

/** Sequences one session may use: each one is remembered for as long as the session lives. */
export const MAX_SEQUENCES = 100;
/**
 * Messages of one session not answered yet: waiting for a predecessor, queued behind one, or with
 * the adapter.
 */
export const MAX_OUTSTANDING = 1000;

interface Sequence {
  next: number;
  readonly waiting: Map<number, { message: ClientMessage; deadline: number }>;
  timer: NodeJS.Timeout | null;
  /** Processing of the sequence so far: each message starts after the previous one settled. */
  chain: Promise<void>;
}

export class MessageSequencer {
  readonly #sequences = new Map<string, Sequence>();
  #outstanding = 0;
  #closed = false;

  constructor(
    private readonly process: (text: string) => Promise<string>,
    private readonly emit: (line: string) => void,
    private readonly onUnexpected: (err: unknown) => void,
  ) {}

  /** Returns an error message when the message cannot even be queued. */
  submit(message: ClientMessage): string | null {
    if (message.sequence === null) {
      if (this.#outstanding >= MAX_OUTSTANDING) return 'too many messages pending in this session';
      this.#outstanding++;
      void this.#run(message);
      return null;
    }
    if (message.prog === null) return 'LS_msg_prog is required with LS_sequence';
    let seq = this.#sequences.get(message.sequence);
    if (!seq) {
      if (this.#sequences.size >= MAX_SEQUENCES) return `too many message sequences in this session (at most ${MAX_SEQUENCES})`;
      seq = { next: 1, waiting: new Map(), timer: null, chain: Promise.resolve() };
      this.#sequences.set(message.sequence, seq);
    }
    // A prog already handled or already waiting is a retransmission: its outcome is on its way.
    if (message.prog < seq.next || seq.waiting.has(message.prog)) return null;
    if (this.#outstanding >= MAX_OUTSTANDING) return 'too many messages pending in this session';
    this.#outstanding++;
    const deadline = message.maxWaitMs === null ? Infinity : Date.now() + message.maxWaitMs;
    seq.waiting.set(message.prog, { message, deadline });
    this.#drain(message.sequence, seq);
    return null;
  }

  close(): void {
    this.#closed = true;
    for (const seq of this.#sequences.values()) if (seq.timer) clearTimeout(seq.timer);
    this.#sequences.clear();
  }

  #drain(name: string, seq: Sequence): void {
    for (let entry = seq.waiting.get(seq.next); entry; entry = seq.waiting.get(seq.next)) {
      seq.waiting.delete(seq.next);
      seq.next++;
      const { message } = entry;
      seq.chain = seq.chain.then(() => this.#run(message));
    }
    if (seq.timer) clearTimeout(seq.timer);
    seq.timer = null;
    if (seq.waiting.size === 0) return;
    const first = Math.min(...seq.waiting.keys());
    const { deadline } = seq.waiting.get(first)!;
    if (deadline === Infinity) return;
    seq.timer = setTimeout(() => {
      seq.timer = null;
      if (this.#closed) return;
      const skipped = first - seq.next;
      if (skipped === 1) this.emit(n.msgfail(name, seq.next, MsgFail.SKIPPED, 'message skipped: max wait elapsed'));
      else this.emit(n.msgfail(name, first - 1, MsgFail.SKIPPED_MANY, String(skipped)));
      seq.next = first;
      this.#drain(name, seq);
    }, Math.max(0, deadline - Date.now()));
  }

  async #run(message: ClientMessage): Promise<void> {
    let line: string;
    try {
      const response = await this.process(message.text);
      line = n.msgdone(message.sequence, message.prog ?? 0, response);
    } catch (err) {
      if (err instanceof AdapterError) {
        line = n.msgfail(message.sequence, message.prog ?? 0, err.code, err.message);
      } else {
        this.onUnexpected(err);
        line = n.msgfail(message.sequence, message.prog ?? 0, MsgFail.ADAPTER_FAILURE, 'message processing failed');
      }
    }
    this.#outstanding--;
    if (message.outcome && message.prog !== null && !this.#closed) this.emit(line);
  }
}
