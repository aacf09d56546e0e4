/**
 * Child process holding the remote-adapter bench's TLCP sessions: each opens a WS-STREAMING session
 * on an adapter set and subscribes one item in RAW (every update delivered, none conflated), fields
 * `t n`. Driven over IPC:
 *   {type:'open', url, count, adapterSet, dataAdapter, item, sample} → {type:'opened', open, failed}
 *   {type:'count'} → {type:'count', received, latencies}   (latencies: ms, since the last count)
 * The first `sample` sessions read the `t` field (the source's clock, performance.timeOrigin-based)
 * of every update into a publish→deliver latency; the others only count their U lines.
 */
import WebSocket from 'ws';

interface OpenRequest {
  readonly url: string;
  readonly count: number;
  readonly adapterSet: string;
  readonly dataAdapter: string;
  readonly item: string;
  readonly sample: number;
}

const SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
const NEWLINE_U = Buffer.from('\nU,');
let received = 0;
let latencies: number[] = [];
const held: WebSocket[] = [];
const now = () => performance.timeOrigin + performance.now();

function countUpdates(data: Buffer): void {
  if (data[0] === 0x55 && data[1] === 0x2c) received++;
  for (let i = data.indexOf(NEWLINE_U); i >= 0; i = data.indexOf(NEWLINE_U, i + 3)) received++;
}

function sampleLatencies(text: string): void {
  const at = now();
  for (const line of text.split('\r\n')) {
    if (!line.startsWith('U,')) continue;
    const t = Number(line.split(',')[3]?.split('|')[0]);
    if (Number.isFinite(t) && latencies.length < 200_000) latencies.push(at - t);
  }
}

function openOne(req: OpenRequest, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${req.url.replace(/^http/, 'ws')}/lightstreamer`, SUBPROTOCOL, { perMessageDeflate: false });
    const sampled = n < req.sample;
    let ready = false;
    ws.on('open', () => {
      ws.send('wsok');
      ws.send(`create_session\r\nLS_adapter_set=${req.adapterSet}&LS_cid=bench&LS_send_sync=false&LS_keepalive_millis=5000`);
      ws.send(`control\r\nLS_reqId=1&LS_op=add&LS_subId=1&LS_mode=RAW&LS_group=${encodeURIComponent(req.item)}&LS_schema=t%20n&LS_data_adapter=${req.dataAdapter}&LS_snapshot=false&LS_ack=false`);
    });
    ws.on('message', (data: Buffer) => {
      countUpdates(data);
      if (sampled) sampleLatencies(data.toString());
      if (ready) return;
      const text = data.toString();
      if (/(^|\n)(CONERR|REQERR)/.test(text)) reject(new Error(`session ${n}: ${text.trim()}`));
      if (/(^|\n)SUBOK,/.test(text)) {
        ready = true;
        resolve();
      }
    });
    ws.on('error', reject);
    held.push(ws);
  });
}

async function open(req: OpenRequest): Promise<{ open: number; failed: string[] }> {
  const failed: string[] = [];
  let next = 0;
  let opened = 0;
  const worker = async () => {
    while (next < req.count) {
      const n = next++;
      try {
        await openOne(req, n);
        opened++;
      } catch (err) {
        if (failed.length < 5) failed.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  return { open: opened, failed };
}

process.on('message', (message: { type: string } & Partial<OpenRequest>) => {
  if (message.type === 'open') void open(message as OpenRequest).then((r) => process.send!({ type: 'opened', ...r }));
  else if (message.type === 'count') {
    process.send!({ type: 'count', received, latencies });
    latencies = [];
  }
});
process.on('disconnect', () => {
  for (const ws of held) ws.terminate();
  process.exit(0);
});
