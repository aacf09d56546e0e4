/**
 * Hand-written TLCP over plain HTTP and `ws`, for what the official client never sends: malformed
 * requests, foreign session ids, sequence gaps.
 */
import WebSocket from 'ws';

export const SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';

export interface RawResponse {
  readonly status: number;
  readonly text: string;
  readonly lines: string[];
}

/** POSTs a TLCP request (`name` like `control`) and reads the whole response. */
export async function tlcpPost(baseUrl: string, name: string, body: string | Uint8Array<ArrayBuffer>, query = 'LS_protocol=TLCP-2.5.0'): Promise<RawResponse> {
  const res = await fetch(`${baseUrl}/lightstreamer/${name}.txt?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=utf-8' },
    body,
  });
  const text = await res.text();
  return { status: res.status, text, lines: text.split('\r\n').filter(Boolean) };
}

/** A polling create; resolves with the session id. */
export async function createPollingSession(baseUrl: string): Promise<string> {
  const res = await tlcpPost(baseUrl, 'create_session', 'LS_polling=true&LS_polling_millis=0&LS_idle_millis=0&LS_adapter_set=DEMO&LS_cid=raw\r\n');
  const conok = res.lines.find((l) => l.startsWith('CONOK,'));
  if (!conok) throw new Error(`no CONOK: ${res.text}`);
  return conok.split(',')[1];
}

export class RawSocket {
  readonly lines: string[] = [];
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<void>;

  constructor(baseUrl: string, protocols: string[] = [SUBPROTOCOL]) {
    this.ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/lightstreamer`, protocols, { perMessageDeflate: false });
    this.ws.on('message', (data) => {
      for (const line of data.toString().split('\r\n')) if (line) this.lines.push(line);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', () => resolve()));
  }

  send(frame: string): void {
    this.ws.send(frame);
  }

  /** Resolves with the first line from `from` on matching `pattern`. */
  async line(pattern: RegExp, from = 0, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.slice(from).find((l) => pattern.test(l));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no line ${pattern} in ${JSON.stringify(this.lines.slice(from))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Opens a WS-STREAMING session; resolves with its id. */
  async create(params = 'LS_adapter_set=DEMO&LS_cid=raw&LS_send_sync=false'): Promise<string> {
    await this.opened;
    this.send('wsok');
    this.send(`create_session\r\n${params}`);
    await this.line(/^WSOK$/);
    return (await this.line(/^CONOK,/)).split(',')[1];
  }

  close(): void {
    this.ws.close();
  }
}
