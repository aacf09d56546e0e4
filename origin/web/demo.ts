import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';

interface Asset {
  readonly type: string;
  readonly body: Buffer;
  /** Compressed once at start: the web client alone is ~450 KB, ~110 KB gzipped. */
  readonly gzipped: Buffer;
  readonly etag: string;
}

function asset(type: string, body: Buffer): Asset {
  const etag = createHash('sha256').update(body).digest('base64url').slice(0, 22);
  return { type, body, gzipped: gzipSync(body, { level: 9 }), etag };
}

const own = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url));
// Served from the installed package rather than a CDN: the machines that run the demo may have no
// internet, and the page must use the very client version the project is tested against.
const client = readFileSync(createRequire(import.meta.url).resolve('lightstreamer-client-web/lightstreamer.min'));

const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['/', asset('text/html; charset=utf-8', own('index.html'))],
  // The page's script is not named demo.js on disk: that is this module, once compiled (npm run build:origin).
  ['/web/demo.js', asset('text/javascript; charset=utf-8', own('demo-page.js'))],
  ['/web/demo.css', asset('text/css; charset=utf-8', own('demo.css'))],
  ['/web/lightstreamer.js', asset('text/javascript; charset=utf-8', client)],
]);

/**
 * Serves the live demo (quotes, chat, portfolio on the DEMO adapter set) at `/` and its assets under
 * `/web/`. Returns false for any other request so the caller can route it. The edge serves the same
 * page at its root by forwarding to a shard, which is why every URL in the page is relative.
 */
export function handleDemo(req: IncomingMessage, res: ServerResponse): boolean {
  const found = ASSETS.get((req.url ?? '/').split('?', 1)[0]);
  if (!found) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return true;
  }
  const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  const etag = `"${found.etag}${gzip ? '-gz' : ''}"`;
  // Revalidated on every load (cheap 304s) so a redeployed origin never serves a stale page.
  const headers = { etag, vary: 'accept-encoding', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers).end();
    return true;
  }
  const body = gzip ? found.gzipped : found.body;
  res.writeHead(200, {
    ...headers,
    'content-type': found.type,
    'content-length': body.length,
    ...(gzip ? { 'content-encoding': 'gzip' } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}
