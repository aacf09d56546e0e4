import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { EdgeEnv } from './edge-request.ts';
import { clientHeadersToForward, headerBytes, MAX_FORWARDED_HEADER_BYTES } from './forwarding.ts';
import { count } from './registry-client.ts';

/**
 * Limits every request meets before any routing: the isolate's memory is every client's, so no
 * request may make the edge hold more than a TLCP request can need, and no request may reach an
 * origin with headers the origin would refuse (an origin's refusal would look like its fault).
 */

/** As the origins: TLCP batches stay under the 50 kB request limit CONOK announces. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Counted while the body arrives (Content-Length is checked first): never more than the limit is read. */
export const limitBody: MiddlewareHandler<EdgeEnv> = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => {
    count('bodiesTooLarge');
    return c.text(`request body larger than ${MAX_BODY_BYTES} bytes\n`, 413);
  },
});

export const limitHeaders: MiddlewareHandler<EdgeEnv> = async (c, next) => {
  // Measured as forwarded: oversized cookies are dropped on the way, so they do not count; the query
  // string goes along, and an origin's limit covers its request line too.
  const bytes = headerBytes(clientHeadersToForward(c.req.raw.headers, undefined)) + new URL(c.req.url).search.length;
  if (bytes > MAX_FORWARDED_HEADER_BYTES) {
    count('headersTooLarge');
    return c.text(`request headers too large: ${bytes} bytes, at most ${MAX_FORWARDED_HEADER_BYTES}\n`, 431);
  }
  await next();
};
