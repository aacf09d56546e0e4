import { DurableObject } from 'cloudflare:workers';

/**
 * The learned home of one session whose id does not name its shard (a genuine Lightstreamer Server,
 * or an origin with opaque ids): written once from the CONOK the edge saw pass by, read by any
 * isolate that meets the session for the first time. One object per session id, so pins never
 * contend with each other.
 */
export class SessionPin extends DurableObject<unknown> {
  async pin(shard: string, ttlMs: number): Promise<void> {
    await this.ctx.storage.put('shard', shard);
    await this.ctx.storage.setAlarm(Date.now() + ttlMs);
  }

  async shard(): Promise<string | null> {
    return (await this.ctx.storage.get<string>('shard')) ?? null;
  }

  async unpin(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
