import * as n from '../../protocol/notifications.ts';
import type { ServerLine } from '../../protocol/server-line.ts';

/**
 * A session-layer session's messages: each goes to the current upstream under that upstream
 * session's own progressive (per sequence), and its outcome comes back under the client's. A
 * message that went to an upstream that is lost before answering gets a definite outcome all the
 * same: MSGFAIL, which the client reports as an error (onError), since whether the lost shard's
 * adapter processed it cannot be known. It is never sent again: it might be processed twice.
 */

/** MSGFAIL for a message whose upstream was lost before it answered (not 38/39/≤0: the client's onError). */
export const OUTCOME_UNKNOWN = 68;

interface Pending {
  readonly sequence: string | null;
  readonly clientProg: number;
}

export class MessageTable {
  /** Per sequence (`*`: unordered), the last progressive used on the current upstream. */
  readonly #upstreamProgs = new Map<string, number>();
  /** Messages awaiting their outcome, by `<sequence>|<upstream prog>`. */
  readonly #pending = new Map<string, Pending>();

  constructor(private readonly emit: (line: string) => void) {}

  /**
   * The msg request for the upstream (without LS_reqId) that carries the client's message: the same
   * parameters, its progressive replaced by the upstream's own. `params` as the client sent them,
   * but LS_reqId and LS_ack.
   */
  forward(params: ReadonlyMap<string, string>): string {
    const sequence = params.get('LS_sequence') ?? null;
    const wantsOutcome = params.get('LS_outcome') !== 'false';
    const clientProg = params.get('LS_msg_prog');
    const out = new Map(params);
    if (clientProg !== undefined) {
      const key = sequence ?? '*';
      const prog = (this.#upstreamProgs.get(key) ?? 0) + 1;
      this.#upstreamProgs.set(key, prog);
      out.set('LS_msg_prog', String(prog));
      if (wantsOutcome) this.#pending.set(`${key}|${prog}`, { sequence, clientProg: Number(clientProg) });
    }
    return [...out].map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  }

  /** Feeds a line of the upstream's stream; false when it is not a message outcome. */
  onUpstreamLine(line: ServerLine): boolean {
    if (line.tag !== 'MSGDONE' && line.tag !== 'MSGFAIL') return false;
    const key = `${line.sequence ?? '*'}|${line.prog}`;
    const pending = this.#pending.get(key);
    if (!pending) return true;
    this.#pending.delete(key);
    this.emit(
      line.tag === 'MSGDONE'
        ? n.msgdone(pending.sequence, pending.clientProg, line.response)
        : n.msgfail(pending.sequence, pending.clientProg, line.code, line.message),
    );
    return true;
  }

  /** The upstream is gone: every message it had not answered fails; the next upstream numbers from 1. */
  upstreamLost(): void {
    for (const pending of this.#pending.values()) {
      this.emit(n.msgfail(pending.sequence, pending.clientProg, OUTCOME_UNKNOWN, 'outcome unknown: the server instance handling it was lost'));
    }
    this.#pending.clear();
    this.#upstreamProgs.clear();
  }
}
