import http from 'node:http';

/**
 * POSTs over kept-alive loopback connections (at most `maxSockets`), answering with the whole body:
 * latency samples then measure the request, not a TCP handshake. The URL's host name goes in the
 * Host header, which picks the edge's domain.
 */
export function keepAlivePoster(maxSockets: number): { post(base: string, path: string, body: string): Promise<string>; close(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    post(base, path, body) {
      const url = new URL(base + path);
      return new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: url.port, path: url.pathname + url.search, method: 'POST', agent, headers: { host: url.host, 'content-type': 'text/plain' } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
