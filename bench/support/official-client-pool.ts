/**
 * The bench's side of official-clients.ts: a few client processes sharing one population of official
 * clients (spread round-robin), asked together and their answers merged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../test/support/process.ts';
import type { ClientsState, OutcomeRow } from './official-clients.ts';
import type { FaultWindow, PublishLog, SessionSpec } from './session-record.ts';

export interface Outcomes {
  /** One list per fault, every session of every process. */
  readonly perFault: OutcomeRow[][];
  readonly duplicatesInSession: number;
  readonly announcedLost: number;
}

export class OfficialClientPool {
  readonly #children: ChildProcess[];

  constructor(processes: number) {
    this.#children = Array.from({ length: processes }, () =>
      spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'official-clients.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }

  get pids(): number[] {
    return this.#children.map((c) => c.pid!);
  }

  /** Starts every client at once (round-robin over the processes); resolves when each got its first update or the wait ran out. */
  async open(specs: readonly SessionSpec[], reference = false): Promise<{ connected: number; failures: string[] }> {
    const shares = this.#children.map((_, i) => specs.filter((_, j) => j % this.#children.length === i));
    const answers = await Promise.all(
      this.#children.map((child, i) => this.#ask<{ connected: number; failures: string[] }>(child, { type: 'open', specs: shares[i], reference }, 'opened')),
    );
    return { connected: answers.reduce((s, a) => s + a.connected, 0), failures: answers.flatMap((a) => a.failures) };
  }

  /** `required`: per item, the `n` every client must hold to count as current. */
  async state(required: Readonly<Record<string, number>>): Promise<ClientsState> {
    const answers = await Promise.all(this.#children.map((child) => this.#ask<ClientsState>(child, { type: 'state', required }, 'state')));
    const byShard: Record<string, number> = {};
    for (const a of answers) for (const [shard, n] of Object.entries(a.byShard)) byShard[shard] = (byShard[shard] ?? 0) + n;
    const sum = (key: 'total' | 'current' | 'connected' | 'degraded' | 'fatal') => answers.reduce((s, a) => s + a[key], 0);
    return {
      total: sum('total'),
      current: sum('current'),
      connected: sum('connected'),
      degraded: sum('degraded'),
      fatal: sum('fatal'),
      byShard,
      laggards: answers.flatMap((a) => a.laggards),
    };
  }

  async firstUpdates(): Promise<number[]> {
    const answers = await Promise.all(this.#children.map((child) => this.#ask<{ ms: number[] }>(child, { type: 'firstUpdates' }, 'firstUpdates')));
    return answers.flatMap((a) => a.ms);
  }

  /** One fresh session alone, in the first process: connect to first update. */
  async probe(spec: SessionSpec): Promise<number | null> {
    return (await this.#ask<{ ms: number | null }>(this.#children[0], { type: 'probe', spec }, 'probe')).ms;
  }

  async outcomes(faults: readonly FaultWindow[], published: PublishLog): Promise<Outcomes> {
    const answers = await Promise.all(
      this.#children.map((child) => this.#ask<{ outcomes: OutcomeRow[][]; duplicatesInSession: number; announcedLost: number }>(child, { type: 'outcomes', faults, published }, 'outcomes')),
    );
    return {
      perFault: faults.map((_, f) => answers.flatMap((a) => a.outcomes[f])),
      duplicatesInSession: answers.reduce((s, a) => s + a.duplicatesInSession, 0),
      announcedLost: answers.reduce((s, a) => s + a.announcedLost, 0),
    };
  }

  /** Reference clients: from `at` to each one's own detection of a silent stream. */
  async detection(at: number): Promise<Array<{ ms: number; status: string } | null>> {
    const answers = await Promise.all(this.#children.map((child) => this.#ask<{ seen: Array<{ ms: number; status: string } | null> }>(child, { type: 'detection', at }, 'detection')));
    return answers.flatMap((a) => a.seen);
  }

  async close(): Promise<void> {
    await Promise.all(this.#children.map((child) => this.#ask(child, { type: 'close' }, 'closed').catch(() => undefined)));
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.disconnect();
            setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
          }),
      ),
    );
  }

  #ask<T>(child: ChildProcess, message: object, answer: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== answer) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = () => reject(new Error(`client process exited with ${child.exitCode}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  }
}
