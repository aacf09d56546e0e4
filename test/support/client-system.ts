/**
 * What the ported client system tests (test/client-system*.test.ts) share: the official client set up
 * as the client library's own system tests set it up, a harness that runs each scenario on each
 * transport with a fresh client and disconnects it afterwards, and Expectations — a scripted sequence
 * of actions and of the exact signals the listeners must emit in between, in order.
 */
import ls from 'lightstreamer-client-node';
import { afterEach, describe, it } from 'vitest';
import type { Client, Transport } from './client.ts';

const { LightstreamerClient } = ls;

/** The original allows each scenario 3 s on a quiet machine; two shared cores need more room. */
export const SCENARIO_TIMEOUT_MS = 15_000;

export interface ScenarioContext {
  readonly transport: Transport;
  /** The server address the clients are given. */
  readonly url: string;
  /** A client of `adapterSet` on the forced transport (polling: no idle wait, 100 ms between polls), disconnected after the scenario. */
  client(adapterSet?: string): Client;
  readonly expectations: () => Expectations;
}

export type Scenario = (ctx: ScenarioContext) => Promise<void>;

/** Defines `it(name)` for each scenario on each transport, against the server at `url()`; `title` prefixes each transport's block. */
export function runScenarios(scenarios: Readonly<Record<string, Scenario>>, transports: readonly Transport[], url: () => string, title = ''): void {
  const clients: Client[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.disconnect();
  });
  for (const transport of transports) {
    describe(`${title}${transport}`, () => {
      for (const [name, scenario] of Object.entries(scenarios)) {
        it(name, () =>
          scenario({
            transport,
            url: url(),
            client(adapterSet = 'TEST') {
              const client = new LightstreamerClient(url(), adapterSet);
              client.connectionOptions.setForcedTransport(transport);
              if (transport.endsWith('POLLING')) {
                client.connectionOptions.setIdleTimeout(0);
                client.connectionOptions.setPollingInterval(100);
              }
              clients.push(client);
              return client;
            },
            expectations: () => new Expectations(),
          }),
        );
      }
    });
  }
}

type Slot = { readonly kind: 'await'; readonly expected: string } | { readonly kind: 'then'; readonly block: () => void };

type Outcome = { readonly state: 'running' } | { readonly state: 'done' } | { readonly state: 'failed'; readonly error: Error };

/**
 * A script: `then` runs an action once every signal before it was seen, `await` expects the next
 * signal to be exactly this one. Signals are checked as they come, from the start; `verify()` runs
 * the leading actions and settles when the script has run to its end, or on the first signal out of
 * place (naming every signal so far). Signals after the end are ignored, as in the original.
 */
export class Expectations {
  readonly #slots: Slot[] = [];
  readonly #seen: string[] = [];
  #outcome: Outcome = { state: 'running' };
  #onOutcome: (() => void) | null = null;

  then(block: () => void): this {
    this.#slots.push({ kind: 'then', block });
    return this;
  }

  await(expected: string): this {
    this.#slots.push({ kind: 'await', expected });
    return this;
  }

  signal(actual: string): void {
    this.#seen.push(actual);
    const slot = this.#slots[0];
    if (!slot || this.#outcome.state !== 'running') return;
    if (slot.kind === 'then') return this.#fail(`"${actual}" while an action was due`);
    if (slot.expected !== actual) return this.#fail(`expected "${slot.expected}", got "${actual}"`);
    this.#slots.shift();
    this.#runActions();
  }

  verify(timeoutMs = SCENARIO_TIMEOUT_MS): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(`timed out waiting for "${(this.#slots[0] as { expected?: string } | undefined)?.expected}"`), timeoutMs);
      this.#onOutcome = () => {
        const outcome = this.#outcome;
        if (outcome.state === 'running') return;
        clearTimeout(timer);
        if (outcome.state === 'failed') reject(outcome.error);
        else resolve();
      };
      this.#runActions();
      this.#onOutcome();
    });
  }

  #runActions(): void {
    while (this.#slots[0]?.kind === 'then') {
      const { block } = this.#slots.shift() as Extract<Slot, { kind: 'then' }>;
      // Outside the listener that signalled, as the original runs its blocks.
      setTimeout(() => {
        try {
          block();
        } catch (err) {
          this.#fail(`action failed: ${(err as Error).message}`);
        }
      }, 0);
    }
    if (this.#slots.length === 0 && this.#outcome.state === 'running') {
      // Done once the actions just scheduled have run.
      setTimeout(() => {
        if (this.#outcome.state !== 'running') return;
        this.#outcome = { state: 'done' };
        this.#onOutcome?.();
      }, 0);
    }
  }

  #fail(why: string): void {
    if (this.#outcome.state !== 'running') return;
    this.#outcome = { state: 'failed', error: new Error(`${why}; signals so far: ${JSON.stringify(this.#seen)}`) };
    this.#slots.length = 0;
    this.#onOutcome?.();
  }
}

/** A promise with its resolve and reject at hand, settled by a listener; rejected after the scenario timeout. */
export function completion<T = void>(what: string, timeoutMs = SCENARIO_TIMEOUT_MS): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: Error) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`timed out: ${what}`)), timeoutMs);
    resolve = (value) => (clearTimeout(timer), res(value));
    reject = (err) => (clearTimeout(timer), rej(err));
  });
  return { promise, resolve, reject };
}
