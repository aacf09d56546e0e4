/**
 * Child process holding official `lightstreamer-client-node` clients for the chaos bench, so their
 * cost never lands on the servers' CPU and each one reacts to faults exactly as users' clients do:
 * recovery after a dropped stream, a new session on code 20 or END 48, backoff on refusals — none of
 * it reimplemented here. Each client records what its application sees (session-record.ts).
 * Driven over IPC by official-client-pool.ts:
 *   {type:'open', specs}          → {type:'opened', connected, failures}   (waits for every first update)
 *   {type:'state', required}      → {type:'state', ...ClientsState}
 *   {type:'firstUpdates'}         → {type:'firstUpdates', ms}               (connect → first update)
 *   {type:'probe', spec}          → {type:'probe', ms}                      (one fresh session, then closed)
 *   {type:'outcomes', faults, published} → {type:'outcomes', outcomes}     (per session, per fault)
 *   {type:'detection', at}        → {type:'detection', seen}                (reference clients)
 *   {type:'close'}                → {type:'closed'}
 * It exits when the bench goes away.
 */
import ls from 'lightstreamer-client-node';
import { SessionRecord, type FaultOutcome, type FaultWindow, type PublishLog, type SessionSpec } from './session-record.ts';

const { LightstreamerClient, Subscription } = ls;
type Client = InstanceType<typeof LightstreamerClient>;

export interface OutcomeRow extends FaultOutcome {
  readonly index: number;
  readonly transport: SessionSpec['transport'];
  readonly mode: SessionSpec['mode'];
}

export interface ClientsState {
  readonly total: number;
  /** Connected, and holding every update of its item up to `required`. */
  readonly current: number;
  readonly connected: number;
  /** Connected, but not streaming on their own transport. */
  readonly degraded: number;
  readonly fatal: number;
  /** Sessions per shard, from the session ids. */
  readonly byShard: Record<string, number>;
  /** A few clients that are not current, for a report when a wait runs out. */
  readonly laggards: string[];
}

interface Held {
  readonly client: Client;
  readonly record: SessionRecord;
}

const load: Held[] = [];
const reference: Held[] = [];
const OPEN_TIMEOUT_MS = 60_000;

function start(spec: SessionSpec): Held {
  const record = new SessionRecord(spec);
  const client = new LightstreamerClient(spec.url, 'DEMO');
  // WebSocket clients as shipped; HTTP ones as where WebSocket is blocked (see StreamingTransport).
  if (spec.transport === 'HTTP-STREAMING') client.connectionOptions.setForcedTransport('HTTP');
  client.addListener({
    onStatusChange: (status: string) => record.onStatus(status, Date.now()),
    onServerError: (code: number, message: string) => void record.fatal.push({ at: Date.now(), what: `onServerError ${code} ${message}` }),
    onPropertyChange: (property: string) => {
      if (property !== 'sessionId') return;
      const id = client.connectionDetails.getSessionId();
      if (id) record.onSessionId(id, Date.now());
    },
  });
  const sub = new Subscription(spec.mode, [spec.item], ['n']);
  sub.setDataAdapter('FEED');
  if (spec.mode === 'DISTINCT') sub.setRequestedSnapshot('yes');
  sub.addListener({
    onItemUpdate: (update: { getValue(field: string): string | null }) => record.onUpdate(Number(update.getValue('n')), Date.now()),
    onItemLostUpdates: (_item: string, _pos: number, lost: number) => void (record.announcedLost += lost),
    onSubscriptionError: (code: number, message: string) => void record.fatal.push({ at: Date.now(), what: `onSubscriptionError ${code} ${message}` }),
  });
  client.subscribe(sub);
  record.connectAt = Date.now();
  client.connect();
  return { client, record };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function open(specs: readonly SessionSpec[], group: Held[]): Promise<{ connected: number; failures: string[] }> {
  const opened = specs.map(start);
  group.push(...opened);
  await waitFor(() => opened.every((h) => h.record.maxReceived > 0 || h.record.fatal.length > 0), OPEN_TIMEOUT_MS);
  const failures = opened
    .filter((h) => h.record.maxReceived === 0)
    .slice(0, 5)
    .map((h) => `#${h.record.spec.index}: ${h.record.statuses.map((s) => s.status).join(' → ')} ${h.record.fatal.map((f) => f.what).join('; ')}`);
  return { connected: opened.filter((h) => h.record.maxReceived > 0).length, failures };
}

function state(required: Readonly<Record<string, number>>): ClientsState {
  const byShard: Record<string, number> = {};
  const laggards: string[] = [];
  let current = 0;
  let connected = 0;
  let degraded = 0;
  let fatal = 0;
  for (const { record } of load) {
    const shard = record.shardAt(Date.now()) ?? 'none';
    byShard[shard] = (byShard[shard] ?? 0) + 1;
    if (record.connected) connected++;
    if (record.degraded) degraded++;
    if (record.fatal.length > 0) fatal++;
    if (record.connected && record.maxReceived >= (required[record.spec.item] ?? 0)) current++;
    else if (laggards.length < 3) laggards.push(`#${record.spec.index} ${record.spec.transport} ${record.statuses.at(-1)?.status} n=${record.maxReceived}/${required[record.spec.item]}`);
  }
  return { total: load.length, current, connected, degraded, fatal, byShard, laggards };
}

/** One fresh session alone: connect to its first update, then closed. */
async function probe(spec: SessionSpec): Promise<number | null> {
  const held = start(spec);
  await waitFor(() => held.record.maxReceived > 0 || held.record.fatal.length > 0, 15_000);
  const ms = held.record.firstUpdateMs();
  held.record.closing = true;
  held.client.disconnect();
  return ms;
}

function outcomes(faults: readonly FaultWindow[], published: PublishLog): OutcomeRow[][] {
  return faults.map((fault) =>
    load.map(({ record }) => ({ index: record.spec.index, transport: record.spec.transport, mode: record.spec.mode, ...record.outcome(fault, published) })),
  );
}

function closeAll(): void {
  for (const { client, record } of [...load, ...reference]) {
    record.closing = true;
    client.disconnect();
  }
}

type Message =
  | { type: 'open'; specs: SessionSpec[]; reference?: boolean }
  | { type: 'state'; required: Record<string, number> }
  | { type: 'firstUpdates' }
  | { type: 'probe'; spec: SessionSpec }
  | { type: 'outcomes'; faults: FaultWindow[]; published: PublishLog }
  | { type: 'detection'; at: number }
  | { type: 'close' };

process.on('message', (message: Message) => {
  const reply = (m: object) => process.send!(m);
  switch (message.type) {
    case 'open':
      void open(message.specs, message.reference ? reference : load).then((r) => reply({ type: 'opened', ...r }));
      break;
    case 'state':
      reply({ type: 'state', ...state(message.required) });
      break;
    case 'firstUpdates':
      reply({ type: 'firstUpdates', ms: load.map((h) => h.record.firstUpdateMs()).filter((ms): ms is number => ms !== null) });
      break;
    case 'probe':
      void probe(message.spec).then((ms) => reply({ type: 'probe', ms }));
      break;
    case 'outcomes':
      reply({ type: 'outcomes', outcomes: outcomes(message.faults, message.published), duplicatesInSession: load.reduce((s, h) => s + h.record.duplicatesInSession, 0), announcedLost: load.reduce((s, h) => s + h.record.announcedLost, 0) });
      break;
    case 'detection':
      reply({ type: 'detection', seen: reference.map((h) => h.record.detection(message.at)) });
      break;
    case 'close':
      closeAll();
      reply({ type: 'closed' });
      break;
  }
});
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
