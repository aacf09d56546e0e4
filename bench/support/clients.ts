/**
 * The bench's side of load-clients.ts: a pool of client processes sharing the connections of one
 * measurement between them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../../test/support/process.ts';
import type { OpenRequest, SessionFate, StreamHealth } from './load-clients.ts';

export class ClientPool {
  readonly #children: ChildProcess[];

  constructor(processes: number) {
    this.#children = Array.from({ length: processes }, () =>
      spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'load-clients.ts')], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
  }

  /** Opens `count` connections spread evenly over the processes; throws if any failed. */
  async open(req: OpenRequest): Promise<void> {
    const { open, failed } = await this.tryOpen(req);
    if (open !== req.count) throw new Error(`${open} of ${req.count} ${req.kind} connections opened: ${failed.join('; ')}`);
  }

  /** Opens `count` connections spread evenly over the processes: how many opened, and a few reasons why others did not. */
  async tryOpen(req: OpenRequest): Promise<{ open: number; failed: string[] }> {
    const share = (i: number) => Math.floor(req.count / this.#children.length) + (i < req.count % this.#children.length ? 1 : 0);
    const results = await Promise.all(
      this.#children.map((child, i) => this.#ask<{ open: number; failed: string[] }>(child, { type: 'open', ...req, count: share(i) }, 'opened')),
    );
    return { open: results.reduce((sum, r) => sum + r.open, 0), failed: results.flatMap((r) => r.failed) };
  }

  /** The tlcp-ws sessions of every process: streaming (an update within `staleMs`), stalled, or closed. */
  async health(staleMs: number): Promise<StreamHealth> {
    const all = await Promise.all(this.#children.map((c) => this.#ask<StreamHealth>(c, { type: 'health', staleMs }, 'health')));
    return {
      streaming: all.reduce((sum, h) => sum + h.streaming, 0),
      stalled: all.reduce((sum, h) => sum + h.stalled, 0),
      closed: all.reduce((sum, h) => sum + h.closed, 0),
      closeReasons: all.flatMap((h) => h.closeReasons).slice(0, 5),
    };
  }

  /** U lines received so far by every process together. */
  async received(): Promise<number> {
    const counts = await Promise.all(this.#children.map((c) => this.#ask<{ received: number }>(c, { type: 'count' }, 'count')));
    return counts.reduce((sum, c) => sum + c.received, 0);
  }

  /** Every tlcp-ws session notes the shard serving it now, and from now on what it sees of a move. */
  async mark(): Promise<void> {
    await Promise.all(this.#children.map((c) => this.#ask(c, { type: 'mark' }, 'marked')));
  }

  /** What every tlcp-ws session saw since the mark. */
  async fates(): Promise<SessionFate[]> {
    const all = await Promise.all(this.#children.map((c) => this.#ask<{ fates: SessionFate[] }>(c, { type: 'fates' }, 'fates')));
    return all.flatMap((a) => a.fates);
  }

  async close(): Promise<void> {
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
