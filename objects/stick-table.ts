import { DurableObject } from 'cloudflare:workers';

/**
 * A load balancer's stick table for one domain (guide 1.A.1, 2.A.1): client key (the source IP) →
 * shard, with a fixed expiry counted from when the association was made (guide §4: an expiring
 * association is what lets imbalance heal, so it is never extended by traffic).
 */
export interface Stick {
  readonly shard: string;
  readonly expiresAt: number;
}

const SWEEP_EVERY_MS = 60_000;

export class StickTable extends DurableObject<unknown> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec('CREATE TABLE IF NOT EXISTS stick (key TEXT PRIMARY KEY, shard TEXT NOT NULL, expires_at INTEGER NOT NULL)');
  }

  lookup(key: string): Stick | null {
    const row = this.sql.exec<{ shard: string; expires_at: number }>('SELECT shard, expires_at FROM stick WHERE key = ?', key).toArray()[0];
    return row && row.expires_at > Date.now() ? { shard: row.shard, expiresAt: row.expires_at } : null;
  }

  /**
   * The association for `key`: the live one if its shard is still in `usable`, else `proposed`,
   * recorded for `ttlMs`. Atomic, so two isolates racing on one client agree on one shard.
   */
  async stick(key: string, proposed: string, usable: string[], ttlMs: number): Promise<Stick> {
    const live = this.lookup(key);
    if (live && usable.includes(live.shard)) return live;
    const stick = { shard: proposed, expiresAt: Date.now() + ttlMs };
    this.sql.exec('INSERT OR REPLACE INTO stick (key, shard, expires_at) VALUES (?, ?, ?)', key, stick.shard, stick.expiresAt);
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
    return stick;
  }

  override async alarm(): Promise<void> {
    this.sql.exec('DELETE FROM stick WHERE expires_at <= ?', Date.now());
    const left = this.sql.exec<{ n: number }>('SELECT count(*) AS n FROM stick').one().n;
    if (left > 0) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }
}
