import { DurableObject } from 'cloudflare:workers';

/**
 * The learned home of one session whose id does not name its shard (a genuine Lightstreamer Server,
 * or an origin with opaque ids): written once from the CONOK the edge saw pass by, read by any
 * isolate that meets the session for the first time. One object per session id, so pins never
 * contend with each other.
 */
export interface Pin {
  readonly shard: string;
  readonly expiresAt: number;
}

export class SessionPin extends DurableObject<unknown> {
  async pin(shard: string, ttlMs: number): Promise<Pin> {
    const pin = { shard, expiresAt: Date.now() + ttlMs };
    await this.ctx.storage.put('pin', pin);
    await this.ctx.storage.setAlarm(pin.expiresAt);
    return pin;
  }

  async lookup(): Promise<Pin | null> {
    const pin = await this.ctx.storage.get<Pin>('pin');
    return pin && pin.expiresAt > Date.now() ? pin : null;
  }

  async unpin(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}
