/**
 * Answers the edge writes itself (failover codes, "no shard") for a web client on another origin
 * (tlcp.md F.12). Without these headers the browser hides the answer from the client, which then sees
 * a broken transport instead of the code 20 that would move it at once. Origin responses carry their
 * own (origin/transports/http-requests.ts); the exact origin and credentials, never `*`, because
 * cookie-mode clients send their sticky cookie with credentials.
 */
export function withCors(request: Request, response: Response): Response {
  const origin = request.headers.get('origin');
  if (!origin || response.headers.has('access-control-allow-origin')) return response;
  const headers = new Headers(response.headers);
  headers.set('access-control-allow-origin', origin);
  headers.set('access-control-allow-credentials', 'true');
  headers.append('vary', 'origin');
  return new Response(response.body, { status: response.status, headers });
}
