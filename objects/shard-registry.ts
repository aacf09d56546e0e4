import { DurableObject } from 'cloudflare:workers';
import { urlTransport } from './shard-transport.ts';
import type { RosterEntry, ShardView, Snapshot } from './registry-types.ts';

export type { RosterEntry, ShardView, Snapshot } from './registry-types.ts';

/**
 * The shard registry: one instance (named "global") holds the roster, health, load, weights, drain
 * state and the edge's routing counters. Its alarm is the cluster's heartbeat: every tick it probes
 * each shard (`/lightstreamer/healthcheck` and `/api/status`) and moves sessions off draining or
 * shedding shards at a bounded rate. Isolates read it through a short-lived cached snapshot, so the
 * request path never waits on it except for an isolate's very first request.
 */

export interface ShardStatus extends ShardView {
  readonly url: string;
  readonly configuredWeight: number;
  readonly weightOverride: number | null;
  readonly drained: boolean;
  readonly shedPending: number;
  readonly moved: number;
  readonly lastProbeAt: number | null;
  readonly lastError: string | null;
  readonly origin: unknown;
}

export interface RegistryStatus {
  readonly shards: readonly ShardStatus[];
  readonly counters: Readonly<Record<string, number>>;
  readonly probeIntervalMs: number;
  readonly moveRate: number;
}

interface Health {
  healthy: boolean;
  upSince: number | null;
  successes: number;
  sessions: number;
  lastProbeAt: number | null;
  lastError: string | null;
  origin: unknown;
}

/** Admin decisions survive restarts of the object; health is re-learned by probing. */
interface Intent {
  weightOverride: number | null;
  draining: boolean;
  drained: boolean;
  shedPending: number;
  moved: number;
}

export interface RegistrySettings {
  readonly probeIntervalMs: number;
  readonly moveRate: number;
  readonly originAdminToken: string | undefined;
}

const PROBE_TIMEOUT_MS = 1_000;
/** Consecutive good probes before a shard that was down takes sessions again. */
const RECOVERY_PROBES = 2;

export class ShardRegistry extends DurableObject<unknown> {
  private roster: RosterEntry[] = [];
  private settings: RegistrySettings = { probeIntervalMs: 2_000, moveRate: 10, originAdminToken: undefined };
  private readonly health = new Map<string, Health>();
  private intents = new Map<string, Intent>();
  private counters: Record<string, number> = {};
  private probing: Promise<void> | undefined;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.roster = (await ctx.storage.get<RosterEntry[]>('roster')) ?? [];
      this.settings = (await ctx.storage.get<RegistrySettings>('settings')) ?? this.settings;
      this.intents = new Map(Object.entries((await ctx.storage.get<Record<string, Intent>>('intents')) ?? {}));
      this.counters = (await ctx.storage.get<Record<string, number>>('counters')) ?? {};
    });
  }

  /**
   * Isolates call this when their snapshot is stale: they hand over the roster from their config
   * (the registry follows whatever the deployed config says) and the counter increments they
   * accumulated since the last call.
   */
  async sync(roster: RosterEntry[], settings: RegistrySettings, counterDeltas: Record<string, number>): Promise<Snapshot> {
    await this.adopt(roster, settings);
    for (const [k, v] of Object.entries(counterDeltas)) this.counters[k] = (this.counters[k] ?? 0) + v;
    if (Object.keys(counterDeltas).length) await this.ctx.storage.put('counters', this.counters);
    return this.snapshot();
  }

  /** An isolate saw a shard refuse a connection: probe now rather than at the next tick. */
  async reportUnreachable(): Promise<void> {
    await this.probeAll();
  }

  async status(roster: RosterEntry[], settings: RegistrySettings): Promise<RegistryStatus> {
    await this.adopt(roster, settings);
    return {
      shards: this.roster.map((s) => {
        const h = this.healthOf(s.id);
        const i = this.intentOf(s.id);
        return {
          ...this.view(s),
          url: s.url,
          configuredWeight: s.weight,
          weightOverride: i.weightOverride,
          drained: i.drained,
          shedPending: i.shedPending,
          moved: i.moved,
          lastProbeAt: h.lastProbeAt,
          lastError: h.lastError,
          origin: h.origin,
        };
      }),
      counters: { ...this.counters },
      probeIntervalMs: this.settings.probeIntervalMs,
      moveRate: this.settings.moveRate,
    };
  }

  /** Stop new sessions on a shard, then move its sessions away until none remain (guide §5). */
  async drain(id: string): Promise<Intent> {
    return this.updateIntent(id, (i) => ({ ...i, draining: true, drained: false }));
  }

  async undrain(id: string): Promise<Intent> {
    return this.updateIntent(id, (i) => ({ ...i, draining: false, drained: false }));
  }

  /** Move `count` sessions off an overloaded shard; they re-create on the others. */
  async shed(id: string, count: number): Promise<Intent> {
    return this.updateIntent(id, (i) => ({ ...i, shedPending: i.shedPending + count }));
  }

  async setWeight(id: string, weight: number | null): Promise<Intent> {
    return this.updateIntent(id, (i) => ({ ...i, weightOverride: weight }));
  }

  override async alarm(): Promise<void> {
    await this.probeAll();
    await this.moveSessions();
    await this.ctx.storage.setAlarm(Date.now() + this.settings.probeIntervalMs);
  }

  private async adopt(roster: RosterEntry[], settings: RegistrySettings): Promise<void> {
    if (JSON.stringify(roster) !== JSON.stringify(this.roster)) {
      this.roster = roster;
      await this.ctx.storage.put('roster', roster);
    }
    if (JSON.stringify(settings) !== JSON.stringify(this.settings)) {
      this.settings = settings;
      await this.ctx.storage.put('settings', settings);
    }
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + this.settings.probeIntervalMs);
    }
    // Nobody may balance on a roster that was never probed.
    if (this.roster.some((s) => !this.health.has(s.id))) await this.probeAll();
  }

  private snapshot(): Snapshot {
    return { takenAt: Date.now(), shards: this.roster.map((s) => this.view(s)) };
  }

  private view(s: RosterEntry): ShardView {
    const h = this.healthOf(s.id);
    const i = this.intentOf(s.id);
    return {
      id: s.id,
      healthy: h.healthy,
      draining: i.draining,
      weight: i.weightOverride ?? s.weight,
      sessions: h.sessions,
      upSince: h.upSince,
    };
  }

  private healthOf(id: string): Health {
    return (
      this.health.get(id) ?? { healthy: false, upSince: null, successes: 0, sessions: 0, lastProbeAt: null, lastError: 'not probed yet', origin: null }
    );
  }

  private intentOf(id: string): Intent {
    return this.intents.get(id) ?? { weightOverride: null, draining: false, drained: false, shedPending: 0, moved: 0 };
  }

  private async updateIntent(id: string, change: (i: Intent) => Intent): Promise<Intent> {
    if (!this.roster.some((s) => s.id === id)) throw new Error(`unknown shard "${id}"`);
    const next = change(this.intentOf(id));
    this.intents.set(id, next);
    await this.ctx.storage.put('intents', Object.fromEntries(this.intents));
    return next;
  }

  /** Single-flight: concurrent callers share one round of probes. */
  private probeAll(): Promise<void> {
    this.probing ??= Promise.all(this.roster.map((s) => this.probe(s))).then(
      () => (this.probing = undefined),
      () => (this.probing = undefined),
    );
    return this.probing;
  }

  private async probe(shard: RosterEntry): Promise<void> {
    const prev = this.healthOf(shard.id);
    const now = Date.now();
    try {
      const [health, status] = await Promise.all([
        urlTransport.fetch(shard, '/lightstreamer/healthcheck', { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }),
        urlTransport.fetch(shard, '/api/status', { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }),
      ]);
      const ok = health.ok && (await health.text()).startsWith('OK');
      const origin: unknown = status.ok ? await status.json() : null;
      if (!ok) throw new Error(`healthcheck answered ${health.status}`);
      const successes = prev.successes + 1;
      // The first probe after the registry starts trusts a shard at once; a shard that was seen down
      // must prove itself twice, then starts slow.
      const healthy = prev.lastProbeAt === null || prev.healthy || successes >= RECOVERY_PROBES;
      this.health.set(shard.id, {
        healthy,
        upSince: healthy ? (prev.healthy ? prev.upSince : prev.lastProbeAt === null ? 0 : now) : null,
        successes,
        sessions: sessionsOf(origin),
        lastProbeAt: now,
        lastError: null,
        origin,
      });
    } catch (err) {
      this.health.set(shard.id, {
        ...prev,
        healthy: false,
        upSince: null,
        successes: 0,
        lastProbeAt: now,
        lastError: err instanceof Error ? err.message : String(err),
      });
    }
  }

  private async moveSessions(): Promise<void> {
    const { moveRate, originAdminToken } = this.settings;
    await Promise.all(
      this.roster.map(async (shard) => {
        const intent = this.intentOf(shard.id);
        const wanted = intent.draining && !intent.drained ? moveRate : Math.min(moveRate, intent.shedPending);
        if (wanted <= 0 || !this.healthOf(shard.id).healthy) return;
        try {
          const res = await urlTransport.fetch(shard, '/api/sessions/end', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${originAdminToken ?? ''}` },
            body: JSON.stringify({ count: wanted }),
            signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
          });
          if (!res.ok) throw new Error(`POST /api/sessions/end answered ${res.status}: ${await res.text()}`);
          const { ended, remaining } = (await res.json()) as { ended: number; remaining: number };
          await this.updateIntent(shard.id, (i) => ({
            ...i,
            moved: i.moved + ended,
            shedPending: Math.max(0, i.shedPending - ended),
            drained: i.draining && remaining === 0,
          }));
          this.counters.moved = (this.counters.moved ?? 0) + ended;
        } catch (err) {
          const h = this.healthOf(shard.id);
          this.health.set(shard.id, { ...h, lastError: err instanceof Error ? err.message : String(err) });
        }
      }),
    );
  }
}

function sessionsOf(status: unknown): number {
  const n = (status as { sessions?: unknown } | null)?.sessions;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}
