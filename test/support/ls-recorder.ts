/**
 * The official Node client, reduced to what cluster tests and benchmarks need: connect to an origin,
 * subscribe, and record every update (values of every field, snapshot flag, arrival time).
 */
import ls from 'lightstreamer-client-node';

const { LightstreamerClient, Subscription } = ls;
type Client = InstanceType<typeof LightstreamerClient>;

export interface RecordedUpdate {
  readonly item: string;
  readonly snapshot: boolean;
  readonly values: Record<string, string | null>;
  readonly at: number;
}

export interface Recorder {
  readonly updates: RecordedUpdate[];
  readonly endOfSnapshot: Set<string>;
  readonly errors: Array<{ code: number; message: string }>;
  /** Resolves when `check` holds over the recorded updates, or fails after `timeoutMs`. */
  until(check: (updates: RecordedUpdate[]) => boolean, timeoutMs?: number): Promise<void>;
  unsubscribe(): void;
}

export interface SubscribeOptions {
  readonly mode: 'MERGE' | 'DISTINCT' | 'COMMAND' | 'RAW';
  readonly items: readonly string[];
  readonly fields: readonly string[];
  readonly dataAdapter?: string;
  readonly snapshot?: boolean;
}

export async function connect(url: string, transport = 'WS-STREAMING'): Promise<Client> {
  const client = new LightstreamerClient(url, 'DEMO');
  client.connectionOptions.setForcedTransport(transport);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connection to ${url}`)), 15_000);
    client.addListener({
      onStatusChange(status: string) {
        if (status.startsWith('CONNECTED:') && status !== 'CONNECTED:STREAM-SENSING') {
          clearTimeout(timer);
          resolve();
        }
      },
    });
    client.connect();
  });
  return client;
}

export function subscribe(client: Client, options: SubscribeOptions): Recorder {
  const sub = new Subscription(options.mode, [...options.items], [...options.fields]);
  if (options.dataAdapter) sub.setDataAdapter(options.dataAdapter);
  if (options.mode !== 'RAW') {
    sub.setRequestedSnapshot(options.snapshot === false ? 'no' : 'yes');
    // Every update, never conflated: the tests compare exact sequences (RAW never conflates).
    sub.setRequestedMaxFrequency('unfiltered' as unknown as number);
  }
  const updates: RecordedUpdate[] = [];
  const endOfSnapshot = new Set<string>();
  const errors: Array<{ code: number; message: string }> = [];
  sub.addListener({
    onItemUpdate(update) {
      const values: Record<string, string | null> = {};
      for (const field of options.fields) values[field] = update.getValue(field);
      updates.push({ item: update.getItemName(), snapshot: update.isSnapshot(), values, at: performance.now() });
    },
    onEndOfSnapshot(item: string) {
      endOfSnapshot.add(item);
    },
    onSubscriptionError(code: number, message: string) {
      errors.push({ code, message });
    },
  });
  client.subscribe(sub);
  return {
    updates,
    endOfSnapshot,
    errors,
    async until(check, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(updates)) {
        if (errors.length > 0) throw new Error(`subscription error ${JSON.stringify(errors)}`);
        if (Date.now() > deadline) {
          throw new Error(`condition not met in ${timeoutMs} ms; ${updates.length} updates: ${JSON.stringify(updates.slice(-5))}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    unsubscribe: () => client.unsubscribe(sub),
  };
}

