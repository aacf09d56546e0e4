import { DurableObject } from 'cloudflare:workers';
import { describeShard, shardTransport, type ShardBindings, type ShardTransport } from './shard-transport.ts';
import type { RosterEntry, ShardView, Snapshot } from './registry-types.ts';

export type { RosterEntry, ShardFailure, ShardView, Snapshot } from './registry-types.ts';

/**
 * The shard registry: one instance (named "global") holds the roster, health, load, weights, drain
 * state and the edge's routing counters. Its alarm is the cluster's heartbeat: every tick it probes
 * each shard (`/lightstreamer/healthcheck` and `/api/status`) and moves sessions off draining or
 * shedding shards at a bounded rate. Isolates read it through a short-lived cached snapshot, so the
 * request path never waits on it except for an isolate's very first request.
 *
 * A shard is declared down only when two probes in a row fail (the second follows the first at
 * once), because isolates end every stream they relay for a down shard: one slow answer must not
 * cost a healthy shard its sessions. Isolates report what they see between ticks (`reportFailure`):
 * the registry probes at once, and a shard whose requests keep timing out while its probes pass is
 * ejected — it keeps its sessions but takes no new ones for a while (Envoy's outlier ejection).
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
  /** Outlier ejection: no new sessions until then (ms epoch); 0 when not ejected. */
  ejectedUntil: number;
  /** Ejections in a row: each lasts twice the one before, up to MAX_EJECTION_MS. */
  ejections: number;
  /** When isolates reported timeouts or silent streams, within the last TIMEOUT_WINDOW_MS. */
  recentTimeouts: number[];
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
/** Timeouts reported within the window that eject a shard whose probes still pass. */
const EJECT_AFTER_TIMEOUTS = 3;
const TIMEOUT_WINDOW_MS = 30_000;
const BASE_EJECTION_MS = 10_000;
const MAX_EJECTION_MS = 300_000;

export class ShardRegistry extends DurableObject<ShardBindings> {
  private readonly transport: ShardTransport;
  private roster: RosterEntry[] = [];
  private settings: RegistrySettings = { probeIntervalMs: 2_000, moveRate: 10, originAdminToken: undefined };
  private readonly health = new Map<string, Health>();
  private intents = new Map<string, Intent>();
  private counters: Record<string, number> = {};
  private readonly probing = new Map<string, Promise<void>>();

  constructor(ctx: DurableObjectState, env: ShardBindings) {
    super(ctx, env);
    this.transport = shardTransport(env);
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

  /**
   * An isolate saw calls to a shard fail: probe it now rather than at the next tick, and count its
   * `timeouts` (and silent streams) towards ejection — a refused connection needs no counting, the
   * probe sees it too.
   */
  async reportFailure(id: string, timeouts: number): Promise<void> {
    const shard = this.roster.find((s) => s.id === id);
    if (!shard) return;
    this.noteTimeouts(id, timeouts, Date.now());
    await this.probeOne(shard);
  }

  async status(roster: RosterEntry[], settings: RegistrySettings): Promise<RegistryStatus> {
    await this.adopt(roster, settings);
    return {
      shards: this.roster.map((s) => {
        const h = this.healthOf(s.id);
        const i = this.intentOf(s.id);
        return {
          ...this.view(s),
          url: describeShard(s),
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
      // An origin shutting down drains itself (origin/session/drain.ts): place nothing more on it.
      draining: i.draining || originDraining(h.origin),
      weight: i.weightOverride ?? s.weight,
      sessions: h.sessions,
      probedAt: h.lastProbeAt,
      upSince: h.upSince,
      ejected: h.ejectedUntil > Date.now(),
    };
  }

  private healthOf(id: string): Health {
    return (
      this.health.get(id) ?? {
        healthy: false,
        ejectedUntil: 0,
        ejections: 0,
        recentTimeouts: [],
        upSince: null,
        successes: 0,
        sessions: 0,
        lastProbeAt: null,
        lastError: 'not probed yet',
        origin: null,
      }
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

  private probeAll(): Promise<void> {
    return Promise.all(this.roster.map((s) => this.probeOne(s))).then(() => undefined);
  }

  /** Single-flight per shard: concurrent callers share the probe under way. */
  private probeOne(shard: RosterEntry): Promise<void> {
    let probing = this.probing.get(shard.id);
    if (!probing) {
      probing = this.probeTwiceOnFailure(shard).finally(() => this.probing.delete(shard.id));
      this.probing.set(shard.id, probing);
    }
    return probing;
  }

  /** A healthy shard that fails a probe is probed again at once, and only declared down if that fails too. */
  private async probeTwiceOnFailure(shard: RosterEntry): Promise<void> {
    let outcome = await probe(this.transport, shard);
    if (!outcome.ok && this.healthOf(shard.id).healthy) outcome = await probe(this.transport, shard);
    this.record(shard.id, outcome, Date.now());
  }

  /**
   * Counts reported timeouts; the EJECT_AFTER_TIMEOUTS-th within the window ejects the shard, unless
   * that would leave less than half the roster taking sessions.
   */
  private noteTimeouts(id: string, timeouts: number, now: number): void {
    if (timeouts <= 0) return;
    const h = this.healthOf(id);
    const recentTimeouts = [...h.recentTimeouts.filter((t) => now - t < TIMEOUT_WINDOW_MS), ...Array<number>(Math.min(timeouts, EJECT_AFTER_TIMEOUTS)).fill(now)];
    let { ejectedUntil, ejections } = h;
    const unavailable = this.roster.filter((s) => s.id !== id && (!this.healthOf(s.id).healthy || this.healthOf(s.id).ejectedUntil > now)).length;
    if (recentTimeouts.length >= EJECT_AFTER_TIMEOUTS && ejectedUntil <= now && unavailable + 1 <= Math.floor(this.roster.length / 2)) {
      // A shard that stayed in rotation for a while since its last ejection starts over.
      if (now - ejectedUntil > MAX_EJECTION_MS) ejections = 0;
      ejections++;
      ejectedUntil = now + Math.min(MAX_EJECTION_MS, BASE_EJECTION_MS * 2 ** (ejections - 1));
      this.counters.ejections = (this.counters.ejections ?? 0) + 1;
      recentTimeouts.length = 0;
    }
    this.health.set(id, { ...h, recentTimeouts, ejectedUntil, ejections });
  }

  private record(id: string, outcome: ProbeOutcome, now: number): void {
    const prev = this.healthOf(id);
    if (!outcome.ok) {
      this.health.set(id, { ...prev, healthy: false, upSince: null, successes: 0, lastProbeAt: now, lastError: outcome.error });
      return;
    }
    const successes = prev.successes + 1;
    // The first probe after the registry starts trusts a shard at once; a shard that was seen down
    // must prove itself twice, then starts slow.
    const healthy = prev.lastProbeAt === null || prev.healthy || successes >= RECOVERY_PROBES;
    this.health.set(id, {
      ...prev,
      healthy,
      upSince: healthy ? (prev.healthy ? prev.upSince : prev.lastProbeAt === null ? 0 : now) : null,
      successes,
      sessions: sessionsOf(outcome.origin),
      lastProbeAt: now,
      lastError: null,
      origin: outcome.origin,
    });
  }

  private async moveSessions(): Promise<void> {
    const { moveRate, originAdminToken } = this.settings;
    await Promise.all(
      this.roster.map(async (shard) => {
        const intent = this.intentOf(shard.id);
        const wanted = intent.draining && !intent.drained ? moveRate : Math.min(moveRate, intent.shedPending);
        if (wanted <= 0 || !this.healthOf(shard.id).healthy) return;
        try {
          const res = await this.transport.fetch(shard, '/api/sessions/end', {
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

type ProbeOutcome = { readonly ok: true; readonly origin: unknown } | { readonly ok: false; readonly error: string };

/** The shard's healthcheck and live load, both within PROBE_TIMEOUT_MS. */
async function probe(transport: ShardTransport, shard: RosterEntry): Promise<ProbeOutcome> {
  try {
    const [health, status] = await Promise.all([
      transport.fetch(shard, '/lightstreamer/healthcheck', { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }),
      transport.fetch(shard, '/api/status', { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }),
    ]);
    const ok = health.ok && (await health.text()).startsWith('OK');
    const origin: unknown = status.ok ? await status.json() : null;
    if (!ok) return { ok: false, error: `healthcheck answered ${health.status}` };
    return { ok: true, origin };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function originDraining(status: unknown): boolean {
  return (status as { draining?: unknown } | null)?.draining === true;
}

function sessionsOf(status: unknown): number {
  const n = (status as { sessions?: unknown } | null)?.sessions;
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}
