/**
 * Child process holding the benchmark's client connections, so their cost never lands on the
 * server's CPU account. Driven over IPC by the bench:
 *   {type:'open', ...OpenRequest} → {type:'opened', open, failed}
 *   {type:'count'}                → {type:'count', received}   (U lines so far)
 * It exits when the bench goes away.
 */
import http from 'node:http';
import WebSocket from 'ws';

export type ClientKind =
  /** TLCP WS-STREAMING: wsok, create_session, optionally one MERGE subscription (LS_ack=false). */
  | 'tlcp-ws'
  /** TLCP HTTP-STREAMING create_session, held open. */
  | 'tlcp-http'
  /** A bare WebSocket to the raw server. */
  | 'raw-ws'
  /** A held streaming response from the raw server. */
  | 'raw-http';

export interface OpenRequest {
  readonly url: string;
  readonly kind: ClientKind;
  readonly count: number;
  /** Items of the MERGE subscription every tlcp-ws session makes; none: idle sessions. */
  readonly items?: readonly string[];
  readonly fields?: readonly string[];
}

const SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
const CONCURRENCY = 100;
const U = 0x55;
const COMMA = 0x2c;
const NEWLINE_U = Buffer.from('\nU,');

let received = 0;
const held: Array<{ close(): void }> = [];

/** Counts `U,` lines in a chunk; a line never spans frames or (for HTTP) is rare enough to ignore. */
function countUpdates(data: Buffer): void {
  if (data[0] === U && data[1] === COMMA) received++;
  for (let i = data.indexOf(NEWLINE_U); i >= 0; i = data.indexOf(NEWLINE_U, i + 3)) received++;
}

function openTlcpWs(req: OpenRequest, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${req.url.replace(/^http/, 'ws')}/lightstreamer`, SUBPROTOCOL, { perMessageDeflate: false });
    const subscribing = req.items && req.items.length > 0;
    let ready = false;
    ws.on('open', () => {
      ws.send('wsok');
      ws.send(`create_session\r\nLS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false&LS_keepalive_millis=5000`);
      if (subscribing) {
        const group = encodeURIComponent(req.items!.join(' '));
        const schema = encodeURIComponent(req.fields!.join(' '));
        ws.send(`control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=MERGE&LS_group=${group}&LS_schema=${schema}&LS_snapshot=false&LS_ack=false`);
      }
    });
    ws.on('message', (data: Buffer) => {
      if (ready) return countUpdates(data);
      const text = data.toString();
      if (text.startsWith('CONERR') || text.includes('\nCONERR') || text.startsWith('REQERR')) reject(new Error(`session ${n}: ${text.trim()}`));
      if (subscribing ? /(^|\n)SUBOK,/.test(text) : /(^|\n)CONOK,/.test(text)) {
        ready = true;
        resolve();
      }
      countUpdates(data);
    });
    ws.on('error', reject);
    held.push(ws);
  });
}

function openRawWs(req: OpenRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${req.url.replace(/^http/, 'ws')}/lightstreamer`, SUBPROTOCOL, { perMessageDeflate: false });
    ws.on('open', () => resolve());
    ws.on('message', countUpdates);
    ws.on('error', reject);
    held.push(ws);
  });
}

function openHttpStream(req: OpenRequest, tlcp: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const path = tlcp ? '/lightstreamer/create_session.txt?LS_protocol=TLCP-2.5.0' : '/stream';
    const body = 'LS_polling=false&LS_adapter_set=DEMO&LS_cid=bench&LS_send_sync=false&LS_keepalive_millis=5000&LS_content_length=100000000\r\n';
    const request = http.request(`${req.url}${path}`, { method: 'POST', agent: false, headers: { 'content-type': 'text/plain; charset=utf-8' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      let ready = false;
      res.on('data', (chunk: Buffer) => {
        if (!ready && chunk.includes('CONOK,')) {
          ready = true;
          resolve();
        }
        countUpdates(chunk);
      });
      res.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
    held.push({ close: () => request.destroy() });
  });
}

async function open(req: OpenRequest): Promise<{ open: number; failed: string[] }> {
  const failed: string[] = [];
  let next = 0;
  let open = 0;
  const worker = async () => {
    while (next < req.count) {
      const n = next++;
      try {
        if (req.kind === 'tlcp-ws') await openTlcpWs(req, n);
        else if (req.kind === 'raw-ws') await openRawWs(req);
        else await openHttpStream(req, req.kind === 'tlcp-http');
        open++;
      } catch (err) {
        if (failed.length < 5) failed.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { open, failed };
}

process.on('message', (message: { type: string } & Partial<OpenRequest>) => {
  if (message.type === 'open') {
    void open(message as OpenRequest).then((r) => process.send!({ type: 'opened', ...r }));
  } else if (message.type === 'count') {
    process.send!({ type: 'count', received });
  }
});
process.on('disconnect', () => {
  for (const c of held) c.close();
  process.exit(0);
});
