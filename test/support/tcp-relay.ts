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
   * Resets the next `n` connections whose first bytes match `request` (all when absent) instead of
   * relaying them: a connection that fails, for the requests the test cares about only.
   */
  resetNext(n: number, request?: RegExp): void;
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
  let reset = { left: 0, request: /(?:)/ };
  const server = net.createServer((client) => {
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
    });
  });
  const relay = (client: net.Socket) => {
    const index = upstream.push('') - 1;
    const target = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(target);
    if (options.prefix !== undefined) target.write(options.prefix);
    client.on('data', (chunk: Buffer) => {
      upstream[index] += chunk.toString('latin1');
      target.write(chunk);
    });
    target.pipe(client);
    const closeBoth = () => {
      client.destroy();
      target.destroy();
      sockets.delete(client);
      sockets.delete(target);
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
    resetNext: (n, request = /(?:)/) => {
      reset = { left: n, request };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
