import type { IncomingMessage } from 'node:http';

/** Largest request body accepted: TLCP batches stay under the 50 kB CONOK limit, publish batches too. */
const MAX_BODY_BYTES = 256 * 1024;
/**
 * Body bytes read (and dropped) past the limit before the 413 goes out. A client still sending its
 * body when the server answers and closes gets a reset and loses the answer with it (fetch: "fetch
 * failed", EPIPE), so a body of a few megabytes is read to its end and refused on a connection that
 * stays usable; one declared or sent beyond this is refused at once, and the connection closed.
 */
const MAX_DISCARDED_BYTES = 4 * 1024 * 1024;

export class BodyTooLarge extends Error {
  constructor(
    message: string,
    /** The rest of the body was left unread: the answer must close the connection. */
    readonly unread: boolean,
  ) {
    super(message);
  }
}

/** Reads a whole body, refusing past `limit` bytes (see MAX_DISCARDED_BYTES for what is read then). */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (unread: boolean) => new BodyTooLarge(`body over ${limit} bytes`, unread);
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_DISCARDED_BYTES) {
      reject(tooLarge(true));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_DISCARDED_BYTES) {
        req.removeAllListeners('data');
        req.removeAllListeners('end');
        reject(tooLarge(true));
        return;
      }
      if (size > limit) chunks.length = 0;
      else chunks.push(chunk);
    });
    req.on('end', () => (size > limit ? reject(tooLarge(false)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
