import type { IncomingMessage } from 'node:http';

/**
 * A request's headers for the metadata adapter (notifyUser gets the client's HTTP headers): names in
 * lower case, repeated headers joined with `, ` as HTTP allows.
 */
export function requestHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}
