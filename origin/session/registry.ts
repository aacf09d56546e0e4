/**
 * The sessions this origin holds, keyed by id, and the periodic sweep that sends keepalives,
 * expires sessions nobody re-binds and ends those past the maximum duration.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ConErr, EndCode } from '../../protocol/codes.ts';
import { newSessionId, shardOfSessionId } from '../../protocol/session-id.ts';
import type { SessionIdStyle } from '../config.ts';
import type { Telemetry } from '../telemetry.ts';
import { Session, type SessionServices } from './session.ts';

/** How long a session without a stream is kept: a recovering or polling client comes back sooner. */
const UNBOUND_TTL_MS = 30_000;
/** How long an ended session's code is remembered, so a late bind learns why (END it never saw). */
const TOMBSTONE_TTL_MS = 60_000;
const SWEEP_MS = 500;

export type Lookup =
  | { readonly found: true; readonly session: Session }
  | { readonly found: false; readonly wrongInstance: boolean; readonly endedWith: number | null };

export interface RegistryOptions {
  readonly shardId: string;
  readonly sessionIdStyle: SessionIdStyle;
  readonly maxSessionDurationMs: number;
  readonly maxSessions: number;
  readonly telemetry: Telemetry;
  readonly logger: Logger;
}

/** `draining`: shutting down (session/drain.ts); creates are refused while its sessions move away. */
export type Admission = 'open' | 'draining';

export class SessionRegistry {
  #admission: Admission = 'open';
  // Insertion order is creation order: ending "the oldest n" walks from the front.
  readonly #sessions = new Map<string, Session>();
  readonly #tombstones = new Map<string, { code: number; until: number }>();
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly options: RegistryOptions) {
    this.#timer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#timer.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** No room for another session. */
  get full(): boolean {
    return this.#sessions.size >= this.options.maxSessions;
  }

  get admission(): Admission {
    return this.#admission;
  }

  stopAdmitting(): void {
    this.#admission = 'draining';
  }

  create(clientIp: string, user: string | null, services: Omit<SessionServices, 'onClosed'>): Session {
    const id =
      this.options.sessionIdStyle === 'opaque'
        ? randomBytes(24).toString('base64url')
        : newSessionId(this.options.shardId, (size) => randomBytes(size));
    const session = new Session(id, clientIp, user, { ...services, onClosed: (s) => this.#forget(s) });
    this.#sessions.set(id, session);
    this.options.logger.debug({ session: id, clientIp, user }, 'session created');
    this.options.telemetry.sessions = this.#sessions.size;
    this.options.telemetry.sessionsCreated++;
    return session;
  }

  /** Finds a session; a miss says whether the id names another shard (counted: a routing mistake). */
  lookup(id: string): Lookup {
    const session = this.#sessions.get(id);
    if (session) return { found: true, session };
    const shard = shardOfSessionId(id);
    const wrongInstance = shard !== null && shard !== this.options.shardId;
    if (wrongInstance) this.options.telemetry.wrongInstance++;
    return { found: false, wrongInstance, endedWith: this.#tombstones.get(id)?.code ?? null };
  }

  /** Ends up to `count` sessions, oldest first; returns how many ended. */
  endOldest(count: number, code: number, message: string): number {
    let ended = 0;
    for (const session of [...this.#sessions.values()]) {
      if (ended >= count) break;
      this.#end(session, code, message);
      ended++;
    }
    return ended;
  }

  endAll(code: number, message: string): number {
    return this.endOldest(Infinity, code, message);
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #end(session: Session, code: number, message: string): void {
    // The END may never reach the client: a session without a stream cannot hear it, and a stream
    // flushing pending data may LOOP before it. Either way its next bind gets the code as CONERR.
    this.#tombstones.set(session.id, { code, until: Date.now() + TOMBSTONE_TTL_MS });
    session.end(code, message);
  }

  #forget(session: Session): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    this.options.logger.debug({ session: session.id }, 'session closed');
    this.options.telemetry.sessions = this.#sessions.size;
  }

  #sweep(): void {
    const now = Date.now();
    const maxAge = this.options.maxSessionDurationMs;
    for (const session of [...this.#sessions.values()]) {
      try {
        if (maxAge > 0 && now - session.createdAt >= maxAge) {
          this.#end(session, EndCode.MAX_DURATION, 'maximum session duration reached');
        } else if (!session.bound && now - session.unboundSince > UNBOUND_TTL_MS + session.returnDelayMs) {
          this.options.logger.debug({ session: session.id }, 'unbound session expired');
          session.close();
        } else {
          session.tick(now);
        }
      } catch (err) {
        this.options.logger.error({ err, session: session.id }, 'session sweep failed');
      }
    }
    for (const [id, t] of this.#tombstones) if (t.until < now) this.#tombstones.delete(id);
  }
}

/** The CONERR for a bind to a session not held here. */
export function bindRefusal(lookup: Exclude<Lookup, { found: true }>): { code: number; message: string } {
  if (lookup.endedWith !== null) return { code: lookup.endedWith, message: 'session ended' };
  if (lookup.wrongInstance) return { code: ConErr.WRONG_INSTANCE, message: 'session belongs to another instance' };
  return { code: ConErr.SESSION_NOT_FOUND, message: 'session not found' };
}
