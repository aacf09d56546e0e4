/**
 * A scripted remote adapter over a raw TCP connection: the test writes ARI lines itself and reads
 * the origin's, to play the 1.9 SDKs (one connection, their string encoding) or a hostile remote.
 */
import net from 'node:net';
import { waitUntil } from './wait.ts';

export interface RawPacket {
  readonly id: string;
  readonly method: string;
  readonly args: string[];
  readonly line: string;
}

export class RawRemote {
  readonly received: RawPacket[] = [];
  #tail = '';
  readonly #taken = new Set<RawPacket>();
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      const data = this.#tail + chunk;
      const lines = data.split('\r\n');
      this.#tail = lines.pop()!;
      for (const line of lines) {
        const [id, method, ...args] = line.split('|');
        this.received.push({ id, method, args, line });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static async connect(port: number): Promise<RawRemote> {
    const socket = net.createConnection(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawRemote(socket);
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`);
  }

  /** The first packet with `method` no earlier call took. */
  async next(method: string, timeoutMs = 10_000): Promise<RawPacket> {
    let found: RawPacket | undefined;
    await waitUntil(
      () => {
        found = this.received.find((p) => !this.#taken.has(p) && p.method === method);
        if (!found) return false;
        this.#taken.add(found);
        return true;
      },
      timeoutMs,
      () => `no ${method}; received ${this.received.map((p) => p.line.slice(0, 80)).join(' / ')}`,
    );
    return found!;
  }

  /** Credentials as the SDKs send them, then the init answered with `version`. */
  async handshake(version: string, credentials = 'S|user|S|remote-adapter|S|password|S|remote-adapter-secret|'): Promise<RawPacket> {
    this.send(`1|RAC|${credentials}S|enableClosePacket|S|true|S|SDK|S|Raw+Test+SDK`);
    let init: RawPacket | undefined;
    await waitUntil(() => (init = this.received.find((p) => p.method === 'DPI' || p.method === 'MPI')) !== undefined, 10_000, () => 'no DPI or MPI');
    this.#taken.add(init!);
    this.send(`${init!.id}|${init!.method}|S|ARI.version|S|${version}`);
    return init!;
  }

  close(): void {
    this.socket.destroy();
  }
}
