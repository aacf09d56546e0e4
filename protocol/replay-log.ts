/**
 * A session's outgoing data notifications, numbered as the client counts them for recovery
 * (`LS_recovery_from`): line k is the k-th data notification of the session.
 *
 * Lines not yet written are always kept (the subscriptions bound how many there can be); of the
 * written ones the most recent are kept up to a character budget, so a recovery after a dropped
 * connection can resend what the dead socket swallowed.
 */
export class ReplayLog {
  #lines: string[] = [];
  /** Index in #lines of the oldest kept line. */
  #head = 0;
  /** Number of the line before the oldest kept one. */
  #base = 0;
  #sent = 0;
  /** Characters of the written lines still kept. */
  #keptChars = 0;
  /** Characters of the lines not yet written. */
  #pendingChars = 0;

  /**
   * `startAt`: the number of the line before the first one appended — what the client already
   * counts when a session is restored after its server restarted, so that numbering goes on.
   */
  constructor(
    private readonly budgetChars: number,
    startAt = 0,
  ) {
    this.#base = startAt;
    this.#sent = startAt;
  }

  /** Number of the last appended line. */
  get total(): number {
    return this.#base + this.#lines.length - this.#head;
  }

  /** Number of the last line handed out for writing. */
  get sent(): number {
    return this.#sent;
  }

  get pending(): number {
    return this.total - this.#sent;
  }

  /** Characters of the lines not yet written: what a client that does not read costs in memory. */
  get pendingChars(): number {
    return this.#pendingChars;
  }

  append(line: string): void {
    this.#lines.push(line);
    this.#pendingChars += line.length;
  }

  /** The next line to write, or undefined. */
  peek(): string | undefined {
    return this.#lines[this.#head + this.#sent - this.#base];
  }

  /** Marks the peeked line written. */
  advance(): void {
    const line = this.#lines[this.#head + this.#sent - this.#base];
    this.#sent++;
    this.#keptChars += line.length;
    this.#pendingChars -= line.length;
    this.#trim();
  }

  /** Whether a client that has seen `k` lines can be brought up to date from here. */
  canResumeFrom(k: number): boolean {
    return k >= this.#base && k <= this.total;
  }

  /** The next line to write becomes k+1. */
  resumeFrom(k: number): void {
    if (!this.canResumeFrom(k)) throw new Error(`cannot resume from ${k}`);
    this.#sent = k;
    this.#keptChars = 0;
    this.#pendingChars = 0;
    const firstPending = this.#head + k - this.#base;
    for (let i = this.#head; i < this.#lines.length; i++) {
      if (i < firstPending) this.#keptChars += this.#lines[i].length;
      else this.#pendingChars += this.#lines[i].length;
    }
  }

  #trim(): void {
    // Keep at least the last written line: a recovery from exactly `sent` needs nothing, but one
    // from sent-1 is the common case of a line lost in flight.
    while (this.#keptChars > this.budgetChars && this.#base < this.#sent - 1) {
      this.#keptChars -= this.#lines[this.#head].length;
      this.#head++;
      this.#base++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#lines.length) {
      this.#lines = this.#lines.slice(this.#head);
      this.#head = 0;
    }
  }
}
