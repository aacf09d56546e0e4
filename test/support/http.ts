import http from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

export interface HttpRequestOptions {
  /** The Host the request names (`<host>:<port>`); a domain of the edge, say. */
  readonly host?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string | number>>;
  readonly body?: string | Buffer;
}

/**
 * One request to 127.0.0.1:`port` over node:http, read to its end. Not fetch: the Host header, the
 * exact headers and the body's framing are the caller's, and nothing is coalesced or retried.
 */
export function httpRequest(port: number, path: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', ...options.headers };
  if (options.host) headers.host = `${options.host}:${port}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: options.method ?? 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
