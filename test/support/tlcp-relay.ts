import net from 'node:net';
import { freePort } from './ports.ts';

export interface TlcpRelay {
  readonly port: number;
  /** What each client connection sent upstream (latin1), in connection order. */
  readonly upstream: string[];
  /** Destroys every relayed connection at once, both sides: a network cut as the client and origin see it. */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay to an origin port that records requests and can cut connections, for the tests of
 * control links (which address later requests reach) and recovery (a socket dying mid-stream).
 */
export async function startTlcpRelay(targetPort: number): Promise<TlcpRelay> {
  const upstream: string[] = [];
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const index = upstream.push('') - 1;
    const target = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, target];
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      upstream[index] += chunk.toString('latin1');
      target.write(chunk);
    });
    target.pipe(client);
    const closeBoth = () => {
      client.destroy();
      target.destroy();
      pairs.delete(pair);
    };
    client.on('close', closeBoth).on('error', closeBoth);
    target.on('close', closeBoth).on('error', closeBoth);
  });
  const port = await freePort();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    port,
    upstream,
    cut() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
      }),
  };
}
