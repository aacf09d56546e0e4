/**
 * The least a Worker can do to relay a WebSocket in JavaScript: accept the client's socket (a
 * WebSocketPair), open the origin's (in turn over the origins), and forward every frame and close
 * both ways — no routing, no timers, nothing kept but the two sockets. Between the pass-through and
 * the edge: what relaying in JavaScript costs workerd at all, and so what no change to the edge's
 * relay can save.
 */
interface MinimalRelayEnv {
  /** JSON list of origin base URLs. */
  readonly ORIGINS: string;
}

/**
 * The part of workerd's WebSocket API this Worker uses: the benches are typechecked with Node's
 * types, where neither `accept()`, `WebSocketPair` nor a Response's `webSocket` exist.
 */
interface RuntimeSocket {
  accept(): void;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (ev: { data: string | ArrayBuffer }) => void): void;
  addEventListener(type: 'close', listener: (ev: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}
declare const WebSocketPair: new () => { 0: RuntimeSocket; 1: RuntimeSocket };
type RuntimeResponse = Response & { readonly webSocket: RuntimeSocket | null };

const SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
let turn = 0;

export default {
  async fetch(request: Request, env: MinimalRelayEnv): Promise<Response> {
    const origins = JSON.parse(env.ORIGINS) as string[];
    const origin = origins[turn++ % origins.length];
    const url = new URL(request.url);
    // Anything else (the bench's healthcheck) goes through as it is.
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return fetch(`${origin}${url.pathname}${url.search}`, request);
    const upgraded = (await fetch(`${origin}${url.pathname}`, { headers: { upgrade: 'websocket', 'sec-websocket-protocol': SUBPROTOCOL } })) as RuntimeResponse;
    const originSocket = upgraded.webSocket;
    if (!originSocket) return new Response(`origin answered ${upgraded.status}`, { status: 502 });
    const { 0: client, 1: server } = new WebSocketPair();
    server.accept();
    originSocket.accept();
    forward(server, originSocket);
    forward(originSocket, server);
    return new Response(null, { status: 101, webSocket: client, headers: { 'sec-websocket-protocol': SUBPROTOCOL } } as ResponseInit);
  },
};

function forward(from: RuntimeSocket, to: RuntimeSocket): void {
  from.addEventListener('message', (ev) => to.send(ev.data));
  from.addEventListener('close', (ev) => to.close(ev.code === 1005 || ev.code === 1006 ? 1000 : ev.code, ev.reason));
  from.addEventListener('error', () => to.close(1011, 'peer socket error'));
}
