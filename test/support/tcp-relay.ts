import net from 'node:net';
import { freePort } from './ports.ts';

export interface RelayOptions {
  /** Bytes sent upstream before anything from the client, e.g. a PROXY protocol header. */
  readonly prefix?: string | Buffer;
}

export interface Relay {
  readonly port: number;
  /** What each client connection sent upstream (latin1), in connection order. */
  readonly upstream: string[];
  /** Drops every open connection, both ways, as a failing network would. */
  cut(): void;
  /**
   * The connections open now carry nothing more either way (what their clients send is still
   * recorded in `upstream`): a network path gone silent, until `cut()` ends them.
   */
  stall(): void;
  /**
   * Resets the next `n` connections whose first bytes match `request` (all when absent) instead of
   * relaying them: a connection that fails, for the requests the test cares about only.
   */
  resetNext(n: number, request?: RegExp): void;
  /**
   * New connections are accepted but go nowhere until `release()`: a network path that takes its
   * time to come back. Connections open already are not affected.
   */
  hold(): void;
  /** The first bytes (latin1) of each connection held so far, not yet released: which requests wait. */
  readonly held: string[];
  /** Relays every held connection, and the next ones at once. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort`: stands in for a layer-4 balancer (with `prefix` a PROXY
 * header) and shows which requests took which path. It never parses what it carries (beyond
 * matching the first bytes of a connection `resetNext` asks for), so it works for TLS and WebSocket alike.
 */
export async function startRelay(targetPort: number, options: RelayOptions = {}): Promise<Relay> {
  const upstream: string[] = [];
  const sockets = new Set<net.Socket>();
  const stallers = new Set<() => void>();
  let reset = { left: 0, request: /(?:)/ };
  let holding: { client: net.Socket; first: string }[] | null = null;
  const server = net.createServer((client) => {
    if (holding) {
      const held = holding;
      sockets.add(client);
      client.once('data', (first: Buffer) => {
        client.pause();
        client.unshift(first);
        if (holding === held) return void held.push({ client, first: first.toString('latin1') });
        relay(client);
        client.resume();
      });
      return;
    }
    if (reset.left === 0) return relay(client);
    client.once('data', (first: Buffer) => {
      if (reset.left > 0 && reset.request.test(first.toString('latin1'))) {
        reset.left--;
        client.resetAndDestroy();
        return;
      }
      client.pause();
      client.unshift(first);
      relay(client);
      // Paused explicitly, the socket stays paused for relay's own listener: a connection the reset
      // passes over would hang.
      client.resume();
    });
  });
  const relay = (client: net.Socket) => {
    const index = upstream.push('') - 1;
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(target);
    if (options.prefix !== undefined) target.write(options.prefix);
    let stalled = false;
    client.on('data', (chunk: Buffer) => {
      upstream[index] += chunk.toString('latin1');
      if (!stalled) target.write(chunk);
    });
    target.pipe(client);
    const stall = () => {
      stalled = true;
      target.unpipe(client);
      target.pause();
    };
    stallers.add(stall);
    const closeBoth = () => {
      client.destroy();
      target.destroy();
      sockets.delete(client);
      sockets.delete(target);
      stallers.delete(stall);
    };
    client.on('close', closeBoth).on('error', closeBoth).on('end', () => target.end());
    target.on('close', closeBoth).on('error', closeBoth);
  };
  const port = await freePort();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port,
    upstream,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    stall: () => {
      for (const stall of stallers) stall();
    },
    resetNext: (n, request = /(?:)/) => {
      reset = { left: n, request };
    },
    hold: () => {
      holding ??= [];
    },
    get held() {
      return (holding ?? []).map((h) => h.first);
    },
    release: () => {
      const held = holding ?? [];
      holding = null;
      for (const { client } of held) {
        if (client.destroyed) continue;
        relay(client);
        client.resume();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
