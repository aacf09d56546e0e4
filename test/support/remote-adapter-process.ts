/**
 * A remote adapter process written with the official Node adapter SDK (`lightstreamer-adapter`,
 * unmodified): a data provider over two connections (request/reply and notify, as SDK 1.5 does) and
 * a metadata provider, connected to an origin's ARI ports. Tests drive it over a small HTTP control
 * port and read what it was asked.
 *
 * Environment: HOST, DATA_PORT, NOTIFY_PORT, METADATA_PORT (omit one to run without that side),
 * CONTROL_PORT, REMOTE_USER / REMOTE_PASSWORD (RAC credentials), TICK_MS (each subscribed item then
 * ticks a counter field `n` every TICK_MS).
 *
 * Items: `merge_item` (snapshot: one update), `distinct_item` (snapshot: three events), `command_item`
 * (snapshot: two rows), `raw_item` and `tick_*` (no snapshot); any other item is refused.
 * Users: `eve` is refused (AccessError), `mallory` is refused with credits code -5, `limited` may get
 * merge_item twice a second at most, not DISTINCT on distinct_item, and not `secret_item` at all
 * (refused by notifyNewTables with -7); `headers` needs the HTTP header x-team: blue. Messages:
 * `hello` is answered, `forbidden` denied with -3.
 */
import http from 'node:http';
import net from 'node:net';
import sdk from 'lightstreamer-adapter';

const env = process.env;
const host = env.HOST ?? '127.0.0.1';
const credentials = env.REMOTE_USER ? { user: env.REMOTE_USER, password: env.REMOTE_PASSWORD } : undefined;
const log: string[] = [];
const subscribed = new Set<string>();
const counters = new Map<string, number>();
const sessions = new Set<string>();
const note = (entry: string) => {
  log.push(entry);
  if (log.length > 10_000) log.shift();
};

function connect(port: number): net.Socket {
  const socket = net.createConnection(port, host);
  socket.on('error', (err) => {
    process.stderr.write(`connection to ${port} failed: ${err.message}\n`);
    process.exit(3);
  });
  socket.on('close', () => process.exit(4));
  return socket;
}

let data: ReturnType<typeof makeData> | null = null;
function makeData() {
  const hasSnapshot = (item: string) => ['merge_item', 'distinct_item', 'command_item', 'secret_item'].includes(item);
  const provider = new sdk.DataProvider(connect(Number(env.DATA_PORT)), connect(Number(env.NOTIFY_PORT)), hasSnapshot, credentials);
  provider.on('subscribe', (item: string, response: { success(): void; error(m: string, t?: string): void }) => {
    note(`SUB ${item}`);
    const known = hasSnapshot(item) || item === 'raw_item' || item.startsWith('tick_');
    if (!known) {
      response.error(`no item ${item}`, 'subscription');
      return;
    }
    response.success();
    subscribed.add(item);
    if (item === 'merge_item' || item === 'secret_item') provider.update(item, true, { price: 'p0', name: 'first' });
    if (item === 'distinct_item') for (const line of ['l1', 'l2', 'l3']) provider.update(item, true, { line });
    if (item === 'command_item') {
      provider.update(item, true, { key: 'k1', command: 'ADD', qty: '1' });
      provider.update(item, true, { key: 'k2', command: 'ADD', qty: '2' });
    }
    if (hasSnapshot(item)) provider.endOfSnapshot(item);
  });
  provider.on('unsubscribe', (item: string, response: { success(): void }) => {
    note(`USB ${item}`);
    subscribed.delete(item);
    response.success();
  });
  return provider;
}

function makeMetadata() {
  const provider = new sdk.MetadataProvider(connect(Number(env.METADATA_PORT)), { distinctSnapLen: 30 }, credentials);
  type Response = { success(...args: unknown[]): void; error(message: string, type?: string, data?: unknown): void };
  provider.on('notifyUser', (request: { userName: string | null; userPassword: string | null; headers: Record<string, string> }, response: Response) => {
    note(`NUS ${request.userName} ${request.userPassword}`);
    if (request.userName === 'eve') return response.error('bad password for eve', 'access');
    if (request.userName === 'mallory') return response.error('mallory is over quota', 'credits', { clientCode: -5, clientMessage: 'mallory is banned' });
    if (request.userName === 'headers' && request.headers['x-team'] !== 'blue') return response.error('no x-team header', 'access');
    response.success(0, request.userName === 'limited');
  });
  provider.on('notifyNewSession', (request: { userName: string | null; sessionId: string; contextProperties: Record<string, string> }, response: Response) => {
    note(`NNS ${request.userName} ${request.sessionId} ${request.contextProperties.REMOTE_IP}`);
    sessions.add(request.sessionId);
    response.success();
  });
  provider.on('notifySessionClose', (request: { sessionId: string }, response: Response) => {
    note(`NSC ${request.sessionId}`);
    sessions.delete(request.sessionId);
    response.success();
  });
  provider.on('getUserItemData', (request: { userName: string | null; itemNames: string[] }, response: Response) => {
    const all = { raw: true, merge: true, distinct: true, command: true };
    response.success(
      request.itemNames.map((item) => {
        if (request.userName !== 'limited') return { allowedBufferSize: 0, allowedMaxItemFreq: 0, allowedModes: all };
        if (item === 'merge_item') return { allowedBufferSize: 0, allowedMaxItemFreq: 2, allowedModes: all };
        if (item === 'distinct_item') return { allowedBufferSize: 0, allowedMaxItemFreq: 0, allowedModes: { raw: true, merge: true, command: true } };
        return { allowedBufferSize: 0, allowedMaxItemFreq: 0, allowedModes: all };
      }),
    );
  });
  provider.on('notifyNewTables', (request: { userName: string | null; tableInfos: Array<{ groupName: string }> }, response: Response) => {
    note(`NNT ${request.userName} ${request.tableInfos.map((t) => t.groupName).join(',')}`);
    if (request.tableInfos.some((t) => t.groupName.split(' ').includes('secret_item'))) {
      return response.error('not entitled', 'credits', { clientCode: -7, clientMessage: 'secret_item is not for you' });
    }
    response.success();
  });
  provider.on('notifyTablesClose', (request: { tableInfos: Array<{ groupName: string }> }, response: Response) => {
    note(`NTC ${request.tableInfos.map((t) => t.groupName).join(',')}`);
    response.success();
  });
  provider.on('notifyUserMessage', (request: { userName: string | null; userMessage: string }, response: Response) => {
    note(`NUM ${request.userName} ${request.userMessage}`);
    if (request.userMessage === 'forbidden') return response.error('not allowed', 'credits', { clientCode: -3, clientMessage: 'forbidden, sorry' });
    response.success();
  });
  return provider;
}

if (env.DATA_PORT) data = makeData();
if (env.METADATA_PORT) makeMetadata();

const tickMs = Number(env.TICK_MS ?? 0);
if (tickMs > 0 && data) {
  const provider = data;
  setInterval(() => {
    for (const item of subscribed) {
      if (!item.startsWith('tick_')) continue;
      const n = (counters.get(item) ?? 0) + 1;
      counters.set(item, n);
      provider.update(item, false, { n: String(n) });
    }
  }, tickMs);
}

/** POST /update {item, fields, snapshot?}, POST /clear {item}; GET /state. */
const control = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    try {
      if (req.method === 'GET') {
        res.end(JSON.stringify({ log, subscribed: [...subscribed], sessions: [...sessions], counters: Object.fromEntries(counters) }));
        return;
      }
      const command = JSON.parse(body) as { item: string; fields?: Record<string, string | null>; snapshot?: boolean };
      if (req.url === '/update') data!.update(command.item, command.snapshot ?? false, command.fields ?? {});
      else if (req.url === '/clear') data!.clearSnapshot(command.item);
      else throw new Error(`unknown ${req.url}`);
      res.end('{}');
    } catch (err) {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: (err as Error).message }));
    }
  });
});
control.listen(Number(env.CONTROL_PORT), '127.0.0.1', () => process.stdout.write('REMOTE ADAPTER READY\n'));
