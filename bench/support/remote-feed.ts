/**
 * The remote adapter of the remote-adapter bench: the official Node SDK's DataProvider (two
 * connections), feeding the item it is asked for at the rate the bench sets over IPC ({rate}; every
 * message is answered with the count emitted so far).
 * Environment: DATA_PORT, NOTIFY_PORT.
 */
import net from 'node:net';
import sdk from 'lightstreamer-adapter';
import { pacedSource, type PacedSource } from './paced-source.ts';

const connect = (port: number) => net.createConnection(port, '127.0.0.1').on('error', (err) => {
  console.error(`remote feed: ${err.message}`);
  process.exit(3);
});
const provider = new sdk.DataProvider(connect(Number(process.env.DATA_PORT)), connect(Number(process.env.NOTIFY_PORT)), () => false);
const sources = new Map<string, PacedSource>();
let rate = 0;
provider.on('subscribe', (item: string, response: { success(): void }) => {
  response.success();
  const source = pacedSource((fields) => provider.update(item, false, fields));
  source.setRate(rate);
  sources.set(item, source);
  process.send?.({ type: 'subscribed', item });
});
provider.on('unsubscribe', (item: string, response: { success(): void }) => {
  sources.get(item)?.stop();
  sources.delete(item);
  response.success();
});
process.on('message', (m: { rate?: number }) => {
  if (m.rate !== undefined) {
    rate = m.rate;
    for (const s of sources.values()) s.setRate(rate);
  }
  process.send?.({ type: 'emitted', n: [...sources.values()].reduce((sum, s) => sum + s.emitted, 0) });
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
