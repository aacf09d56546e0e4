/**
 * The baseline source of the remote-adapter bench: the same paced updates as the remote adapter
 * sends, published through the origin's built-in bus by `POST /api/publish` from a process of its
 * own, as an external publisher does. One request at a time over one kept-alive connection carries
 * every update emitted since the last one went out (so a slow origin gets fewer, larger requests, as
 * a remote adapter's socket gives it larger reads), in order. Driven over IPC like remote-feed.ts:
 * {rate} sets the rate; every message is answered with the count emitted so far.
 * Environment: ORIGIN_URL, PUBLISH_TOKEN, ITEM.
 */
import http from 'node:http';
import { MAX_UPDATES_PER_REQUEST } from '../../origin/publish.ts';
import { pacedSource } from './paced-source.ts';

const { ORIGIN_URL, PUBLISH_TOKEN, ITEM } = process.env as Record<string, string>;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let pending: Array<{ item: string; fields: Record<string, string> }> = [];
let sending = false;

function send(): void {
  if (sending || pending.length === 0) return;
  sending = true;
  const batch = pending.slice(0, MAX_UPDATES_PER_REQUEST);
  pending = pending.slice(batch.length);
  const req = http.request(`${ORIGIN_URL}/api/publish`, { method: 'POST', agent, headers: { authorization: `Bearer ${PUBLISH_TOKEN}`, 'content-type': 'application/json' } }, (res) => {
    res.resume();
    res.on('end', () => {
      if (res.statusCode !== 200) {
        console.error(`publish feed: HTTP ${res.statusCode}`);
        process.exit(3);
      }
      sending = false;
      send();
    });
  });
  req.on('error', (err) => {
    console.error(`publish feed: ${err.message}`);
    process.exit(3);
  });
  req.end(JSON.stringify(batch));
}

const source = pacedSource((fields) => {
  pending.push({ item: ITEM, fields });
  if (pending.length === 1) setImmediate(send);
});
process.on('message', (m: { rate?: number }) => {
  if (m.rate !== undefined) source.setRate(m.rate);
  process.send?.({ type: 'emitted', n: source.emitted });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
