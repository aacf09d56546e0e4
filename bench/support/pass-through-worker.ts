/**
 * The benches' floor for a relayed WebSocket: a Worker that passes every request to an origin (in
 * turn) and returns the origin's answer as it is. For an upgrade that answer is the origin's 101 with
 * its socket, which the runtime then relays by itself, no JavaScript per frame or per socket: what a
 * relayed session costs workerd before any of the edge's own work.
 */
interface PassThroughEnv {
  /** JSON list of origin base URLs. */
  readonly ORIGINS: string;
}

let turn = 0;

export default {
  fetch(request: Request, env: PassThroughEnv): Promise<Response> {
    const origins = JSON.parse(env.ORIGINS) as string[];
    const url = new URL(request.url);
    const origin = origins[turn++ % origins.length];
    return fetch(`${origin}${url.pathname}${url.search}`, request);
  },
};
