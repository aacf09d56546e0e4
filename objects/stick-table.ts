import { DurableObject } from 'cloudflare:workers';

/**
 * A load balancer's stick table (guide 1.A.1, 2.A.1): client key (the source IP, IPv6 by /64) →
 * shard, with a fixed expiry counted from when the association was made (guide §4: an expiring
 * association is what lets imbalance heal, so it is never extended by traffic). A domain's table is
 * spread over several of these objects by a hash of the client key (worker/affinity.ts): each key
 * lives in exactly one object, whose single thread makes every decision about it atomic.
 */
export interface Stick {
  readonly shard: string;
  readonly expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;

export class StickTable extends DurableObject<unknown> {
  private readonly sql: SqlStorage;
  /** Rows stored, expired ones included until they are swept: what the capacity bounds. */
  private rows: number;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS stick (key TEXT PRIMARY KEY, shard TEXT NOT NULL, expires_at INTEGER NOT NULL)');
    this.sql.exec('CREATE INDEX IF NOT EXISTS stick_by_expiry ON stick (expires_at)');
    this.rows = this.count();
  }

  lookup(key: string): Stick | null {
    const row = this.row(key);
    return row && row.expiresAt > Date.now() ? row : null;
  }

  /**
   * The association for `key`: the live one if its shard is still in `usable`, else `proposed`,
   * recorded for `ttlMs`, in a table of at most `capacity` rows. Atomic, so two isolates racing on
   * one client agree on one shard.
   */
  async stick(key: string, proposed: string, usable: string[], ttlMs: number, capacity: number): Promise<Stick> {
    const now = Date.now();
    const existing = this.row(key);
    if (existing && existing.expiresAt > now && usable.includes(existing.shard)) return existing;
    if (!existing) this.makeRoomForOne(capacity, now);
    const stick = { shard: proposed, expiresAt: now + ttlMs };
    this.sql.exec('INSERT OR REPLACE INTO stick (key, shard, expires_at) VALUES (?, ?, ?)', key, stick.shard, stick.expiresAt);
    if (!existing) this.rows++;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + SWEEP_EVERY_MS);
    return stick;
  }

  override async alarm(): Promise<void> {
    this.sql.exec('DELETE FROM stick WHERE expires_at <= ?', Date.now());
    this.rows = this.count();
    if (this.rows > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }

  /**
   * A full table first drops what has expired, then the associations due to expire soonest: they are
   * the ones closest to ending anyway, and a client that loses one is only re-placed on its next
   * create. A percent of the capacity goes at once, so a table kept full by a flood of new clients
   * pays for the eviction once per hundred inserts rather than on each.
   */
  private makeRoomForOne(capacity: number, now: number): void {
    if (this.rows < capacity) return;
    this.sql.exec('DELETE FROM stick WHERE expires_at <= ?', now);
    this.rows = this.count();
    if (this.rows < capacity) return;
    const keep = capacity - Math.max(1, Math.floor(capacity / 100));
    this.sql.exec('DELETE FROM stick WHERE key IN (SELECT key FROM stick ORDER BY expires_at LIMIT ?)', this.rows - keep);
    this.rows = keep;
  }

  private row(key: string): Stick | null {
    const row = this.sql.exec<{ shard: string; expires_at: number }>('SELECT shard, expires_at FROM stick WHERE key = ?', key).toArray()[0];
    return row ? { shard: row.shard, expiresAt: row.expires_at } : null;
  }

  private count(): number {
    return this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM stick').one().n;
  }
}
