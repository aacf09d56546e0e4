import { DurableObject } from 'cloudflare:workers';
import type { Env } from '../worker/env.ts';

/**
 * Which session host takes a domain's new sessions in one Cloudflare location (mode `session`). Hosts
 * are filled one after another, so a domain's sessions occupy as few objects as their number allows
 * (each object is billed for its whole life, full or not). The Worker asks only when it knows no host
 * with room; a host refuses a create once full, and says when it has room again.
 *
 * Hosts are named `<directory name>#<n>`: a host's name says where to report, and a host is created
 * where its first session came from, near the clients of this directory's location.
 */

/** `<domain>@<location>#<n>`. */
export type HostName = string;

interface Stored {
  /** The number the next new host gets: never reused, so a name never meets an older host's sessions. */
  readonly next: number;
  /** Hosts that have room, the one creates go to first. */
  readonly open: HostName[];
}

export class SessionDirectory extends DurableObject<Env> {
  #state: Stored = { next: 0, open: [] };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => {
      this.#state = (await ctx.storage.get<Stored>('state')) ?? this.#state;
    });
  }

  /**
   * The host new sessions go to; `full` is a host that just refused one (the Worker's last answer),
   * which gets no more until it says it has room.
   */
  async hostFor(directory: string, full: HostName | null): Promise<HostName> {
    let { next, open } = this.#state;
    if (full !== null) open = open.filter((h) => h !== full);
    if (open.length === 0) open = [`${directory}#${next++}`];
    await this.#save({ next, open });
    return open[0];
  }

  /** A full host has room again: it takes creates after those already open. */
  async hasRoom(host: HostName): Promise<void> {
    if (this.#state.open.includes(host)) return;
    await this.#save({ next: this.#state.next, open: [...this.#state.open, host] });
  }

  async #save(state: Stored): Promise<void> {
    this.#state = state;
    await this.ctx.storage.put('state', state);
  }
}

/** The directory a host reports to, from its name. */
export function directoryOf(env: Env, host: HostName): DurableObjectStub<SessionDirectory> {
  return env.SESSION_DIRECTORY.get(env.SESSION_DIRECTORY.idFromName(directoryNameOf(host)));
}

export function directoryNameOf(host: HostName): string {
  return host.slice(0, host.lastIndexOf('#'));
}
