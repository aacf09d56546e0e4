import type { EdgeRequest } from './edge-request.ts';
import type { ShardFailure } from '../objects/registry-types.ts';
import { shardTransport } from '../objects/shard-transport.ts';
import { count, reportFailure } from './registry-client.ts';

/**
 * Every call the edge makes to an origin for a client: each with a deadline for the origin's answer,
 * each failure classified. Only what says something about the shard is a failure — the connection
 * failed, a gateway in front of the shard said it is unreachable (502–504), or the answer did not
 * come in time. Any other HTTP answer, 4xx above all, is the answer to this client's own request
 * (an oversized header gets 431) and is passed back to that client: it never makes the shard look
 * unreachable to everyone else.
 */

export type CallKind = 'create' | 'bind' | 'control' | 'upgrade' | 'page';

/**
 * How long the origin has to answer (response headers; for a create or a bind, the first line too,
 * which the relays wait for). The official client gives up on a create after about 4 s and retries;
 * a deadline a little longer only matters to clients that wait longer, and keeps a create that an
 * origin's metadata adapter is slow to authenticate from counting against the shard.
 */
export const DEADLINE_MS: Readonly<Record<CallKind, number>> = {
  create: 6_000,
  bind: 5_000,
  control: 5_000,
  upgrade: 5_000,
  page: 5_000,
};

const GATEWAY_FAILURE = new Set([502, 503, 504]);

export class ShardCallFailed extends Error {
  constructor(
    readonly shard: string,
    readonly failure: ShardFailure,
    detail: string,
  ) {
    super(`shard ${shard} ${failure}: ${detail}`);
  }
}

const FAILURE_COUNTER: Readonly<Record<ShardFailure, string>> = {
  unreachable: 'originUnreachable',
  timeout: 'originTimeouts',
  silent: 'silentStreams',
  broken: 'originConnectionsBroken',
};

/**
 * Reports a failure seen on a call or stream: the isolate stops placing sessions on a shard it could
 * not connect to until its next registry snapshot, and the registry probes the shard at once (and
 * counts timeouts towards ejection). Nothing else stops this isolate's traffic to the shard: a
 * client can make its own request slow, an origin can drop one client's connection, and neither
 * may cost other clients their sessions.
 */
export function shardFailed(er: EdgeRequest, shard: string, failure: ShardFailure): void {
  count(FAILURE_COUNTER[failure]);
  reportFailure(er.env, shard, failure, er.waitUntil);
}

/** A deadline that the caller can extend past the headers (to the first line) and then lift. */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | null;
  expired = false;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort(new Error(`no answer within ${ms} ms`));
    }, ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The answer came: the rest of the stream lives as long as the client wants it. */
  lift(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Calls `shard` and resolves with its answer; throws ShardCallFailed (already reported) when the shard
 * could not be reached or did not answer in time. The deadline stays armed until the caller lifts
 * it, so a create or bind can hold the origin to its first line as well.
 */
export async function callShard(
  er: EdgeRequest,
  shard: string,
  kind: CallKind,
  pathAndQuery: string,
  init: RequestInit,
): Promise<{ res: Response; deadline: Deadline }> {
  const deadline = new Deadline(DEADLINE_MS[kind]);
  let res: Response;
  try {
    res = await shardTransport(er.env).fetch(er.config.shards.get(shard)!, pathAndQuery, { ...init, signal: deadline.signal });
  } catch (err) {
    deadline.lift();
    const failure: ShardFailure = deadline.expired ? 'timeout' : 'unreachable';
    shardFailed(er, shard, failure);
    throw new ShardCallFailed(shard, failure, err instanceof Error ? err.message : String(err));
  }
  if (GATEWAY_FAILURE.has(res.status) && !res.webSocket) {
    deadline.lift();
    await res.body?.cancel();
    shardFailed(er, shard, 'unreachable');
    throw new ShardCallFailed(shard, 'unreachable', `answered ${res.status}`);
  }
  return { res, deadline };
}

/**
 * A call whose whole answer is short (control, msg and heartbeat answers, one line per request line):
 * read in full within the deadline, so a shard that hangs halfway through an answer fails the call
 * like one that never answered.
 */
export async function callShardForText(er: EdgeRequest, shard: string, kind: CallKind, pathAndQuery: string, init: RequestInit): Promise<{ res: Response; text: string }> {
  const { res, deadline } = await callShard(er, shard, kind, pathAndQuery, init);
  try {
    const text = await res.text();
    return { res, text };
  } catch (err) {
    const failure: ShardFailure = deadline.expired ? 'timeout' : 'broken';
    shardFailed(er, shard, failure);
    throw new ShardCallFailed(shard, failure, err instanceof Error ? err.message : String(err));
  } finally {
    deadline.lift();
  }
}
