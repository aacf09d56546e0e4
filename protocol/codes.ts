/**
 * TLCP error codes, named. The numbers are the protocol's; the comments say how the 9.2 client
 * reacts, because that reaction — not the name — is what decides which code the server must pick.
 */

/** CONERR codes (create_session / bind_session refused). */
export const ConErr = {
  /** Metadata adapter refused the credentials. Client gives up. */
  BAD_CREDENTIALS: 1,
  /** LS_adapter_set names no adapter set. Client gives up. */
  ADAPTER_SET_UNAVAILABLE: 2,
  /** Recovery asked for data the replay buffer no longer holds. Client opens a new session. */
  RECOVERY_DATA_LOST: 4,
  /** Server overloaded (also: this origin holds as many sessions as it may). Client retries at once. */
  OVERLOADED: 5,
  /** The session is not held here (expired, never existed). Client opens a new session. */
  SESSION_NOT_FOUND: 20,
  /**
   * The session id names another shard: a routing mistake upstream. Client gives up. Used despite
   * tlcp.md §E's preference for 20 because issue 2 asks for the guide §4 wrong-instance answer, so
   * misrouting shows; the edge never sends a session to another shard, and answers 20 for dead ones.
   */
  WRONG_INSTANCE: 21,
  /** Session closed because it reached the maximum duration. Client opens a new session. */
  MAX_DURATION: 48,
  /** The request is not well formed (bad encoding, missing parameter). Client gives up. */
  MALFORMED: 65,
  /** The metadata adapter failed unexpectedly. */
  ADAPTER_FAILURE: 66,
  /** Internal error. */
  INTERNAL: 68,
} as const;

/** END codes (a live session is closed). */
export const EndCode = {
  /** Client asked for it (control `destroy` without LS_close_socket code). */
  DESTROYED: 31,
  /** Closed by the server operator. */
  CLOSED_BY_SERVER: 32,
  /** Internal error while the session was active. */
  INTERNAL: 33,
  /** Maximum session duration reached: the client opens a new session at once (guide §5). */
  MAX_DURATION: 48,
} as const;

/** REQERR codes for control, msg and subscription requests. */
export const ReqErr = {
  /**
   * A limit of this origin: subscriptions or subscribed items per session, items or fields per
   * subscription. TLCP has no code of its own for it; codes ≤ 0 are the Metadata Adapter's refusals,
   * which is what a subscription policy is, and reach the application as onSubscriptionError without
   * ending the session. The message names the limit.
   */
  LIMIT: 0,
  /** The session of a control request is not held here. Client re-creates the session. */
  SESSION_NOT_FOUND: 20,
  /**
   * The session of a control request lives on another instance. The client treats it as fatal and
   * reports it as 21. Chosen over 20 for the same reason as ConErr.WRONG_INSTANCE.
   */
  WRONG_INSTANCE: 11,
  /** COMMAND subscription whose schema lacks `key`. */
  NO_KEY_FIELD: 15,
  /** COMMAND subscription whose schema lacks `command`. */
  NO_COMMAND_FIELD: 16,
  BAD_DATA_ADAPTER: 17,
  /** LS_subId already names a live subscription, or names none (delete/reconf). */
  BAD_SUBSCRIPTION_ID: 19,
  BAD_GROUP: 21,
  BAD_GROUP_FOR_SCHEMA: 22,
  BAD_SCHEMA: 23,
  MODE_NOT_ALLOWED: 24,
  BAD_SELECTOR: 25,
  UNFILTERED_NOT_ALLOWED: 26,
  /** LS_sequence=UNORDERED_MESSAGES, or another message parameter the server cannot accept. */
  BAD_MESSAGE: 34,
  MALFORMED: 65,
  ADAPTER_FAILURE: 66,
  /** A request the session's current state does not allow (e.g. unknown LS_op). */
  INVALID_REQUEST: 67,
  /** Also: the items of a subscription could not be loaded in time (the shared bus unreachable). */
  INTERNAL: 68,
} as const;

/** MSGFAIL codes besides the adapter's own (≤ 0, the client's onDeny). */
export const MsgFail = {
  /** One message skipped: LS_max_wait elapsed before its predecessor arrived. Client: onDiscarded. */
  SKIPPED: 38,
  /** Several skipped at once; the message field carries how many. Client: onDiscarded each. */
  SKIPPED_MANY: 39,
  /** The adapter failed unexpectedly. Client: onError. */
  ADAPTER_FAILURE: 68,
} as const;
