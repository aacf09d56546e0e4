/**
 * The Worker isolate's JavaScript heap in workerd on Miniflare, through workerd's V8 inspector
 * (support/bench-edge.ts `inspector`): what the Worker and its Durable Objects (they share the
 * isolate) still hold after garbage collection, apart from workerd's own native memory, which only
 * the process's RSS shows.
 */
import WebSocket from 'ws';

export interface IsolateHeap {
  /** Bytes of V8 heap in use after two forced collections. */
  usedAfterGc(): Promise<number>;
  close(): void;
}

export async function connectIsolateHeap(inspectorPort: number): Promise<IsolateHeap> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { id: string; webSocketDebuggerUrl: string }[];
  // Miniflare names the user's Worker `core:user:<name>`; its other services are its own.
  const target = targets.find((t) => t.id.startsWith('core:user:'));
  if (!target) throw new Error(`no user Worker among the inspector's targets: ${targets.map((t) => t.id).join(', ')}`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  let lastId = 0;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (message.id === undefined) return;
    pending.get(message.id)?.(message.error ? new Error(`inspector: ${message.error.message}`) : message.result);
    pending.delete(message.id);
  });
  const call = <T>(method: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = ++lastId;
      pending.set(id, (result) => (result instanceof Error ? reject(result) : resolve(result as T)));
      socket.send(JSON.stringify({ id, method }));
    });
  return {
    async usedAfterGc() {
      // Two passes: the first may only queue weak callbacks and finalizers that the second reclaims.
      await call('HeapProfiler.collectGarbage');
      await call('HeapProfiler.collectGarbage');
      return (await call<{ usedSize: number }>('Runtime.getHeapUsage')).usedSize;
    },
    close: () => socket.close(),
  };
}
