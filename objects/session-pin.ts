import { DurableObject } from 'cloudflare:workers';

/**
 * The learned home of one session whose id does not name its shard (a genuine Lightstreamer Server,
 * or an origin with opaque ids): written once from the CONOK the edge saw pass by, read by any
 * isolate that meets the session for the first time. One object per session id, so pins never
 * contend with each other.
 *
 * A pin lives as long as its session, not a fixed day: every bind the edge relays renews it, an END
 * deletes it, and a stream that broke without either leaves it a short grace — long enough for the
 * client to recover the session, short enough that sessions whose clients vanished do not leave a
 * pin behind each. A release only counts if no bind was seen after the stream it describes began:
 * isolates report in any order.
 */
export interface Pin {
  readonly shard: string;
  readonly expiresAt: number;
}

interface StoredPin extends Pin {
  /** When the latest bind (or the create) was seen. */
  readonly boundAt: number;
}

export class SessionPin extends DurableObject<unknown> {
  async pin(shard: string, ttlMs: number): Promise<Pin> {
    const now = Date.now();
    return this.store({ shard, expiresAt: now + ttlMs, boundAt: now });
  }

  async lookup(): Promise<Pin | null> {
    const pin = await this.current();
    return pin && { shard: pin.shard, expiresAt: pin.expiresAt };
  }

  /** A bind of the session passed, at `boundAt`: it lives for another `ttlMs`. */
  async renew(boundAt: number, ttlMs: number): Promise<void> {
    const pin = await this.current();
    if (pin) await this.store({ ...pin, expiresAt: Math.max(pin.expiresAt, boundAt + ttlMs), boundAt: Math.max(pin.boundAt, boundAt) });
  }

  /** The stream bound at `boundAt` broke: unless a later bind renewed the pin, it expires within `graceMs`. */
  async release(boundAt: number, graceMs: number): Promise<void> {
    const pin = await this.current();
    if (pin && boundAt >= pin.boundAt) await this.store({ ...pin, expiresAt: Math.min(pin.expiresAt, Date.now() + graceMs) });
  }

  async unpin(): Promise<void> {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }

  override async alarm(): Promise<void> {
    const pin = await this.ctx.storage.get<StoredPin>('pin');
    if (pin && pin.expiresAt > Date.now()) await this.ctx.storage.setAlarm(pin.expiresAt);
    else await this.ctx.storage.deleteAll();
  }

  private async current(): Promise<StoredPin | null> {
    const pin = await this.ctx.storage.get<StoredPin>('pin');
    return pin && pin.expiresAt > Date.now() ? pin : null;
  }

  private async store(pin: StoredPin): Promise<Pin> {
    await this.ctx.storage.put('pin', pin);
    await this.ctx.storage.setAlarm(pin.expiresAt);
    return { shard: pin.shard, expiresAt: pin.expiresAt };
  }
}
