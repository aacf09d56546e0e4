import * as n from '../../protocol/notifications.ts';
import { ConErr, ReqErr } from '../../protocol/codes.ts';
import { isRequestId, parseParams, parseWsFrame, scanParam, TlcpSyntaxError } from '../../protocol/request.ts';
import type { StreamOptions } from '../../protocol/stream-options.ts';
import type { Answer, ClientSession, Refusal } from './client-session.ts';
import { WsClientStream, type ClientSocket } from './client-stream.ts';

export type Opened = { readonly session: ClientSession; readonly options: StreamOptions };

/**
 * One client WebSocket on a session host: `wsok`, a create or bind (the first one naming the
 * session), then control, msg and heartbeat frames, and for WS-POLLING the next binds. Frames start
 * in order; answers go out as each completes, so an add waiting for its upstream never holds up the
 * frames behind it.
 */
export class SessionSocket implements ClientSocket {
  #stream: WsClientStream | null = null;
  /** The session a create or bind on this socket opened: its control frames are that session's. */
  #opened: ClientSession | null = null;
  #queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly ws: WebSocket,
    private readonly open: (name: 'create_session' | 'bind_session', line: string) => Promise<Opened | Refusal>,
    private readonly session: () => Promise<ClientSession | null>,
  ) {
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return void ws.close(1003, 'TLCP frames are text');
      const text = ev.data;
      this.#queue = this.#queue.then(() => this.#handle(text)).catch(() => this.close());
    });
    ws.addEventListener('close', () => this.#stream?.lost());
    ws.addEventListener('error', () => this.#stream?.lost());
  }

  send(text: string): number {
    try {
      this.ws.send(text);
      return text.length;
    } catch {
      return 0;
    }
  }

  released(stream: WsClientStream): void {
    if (this.#stream === stream) this.#stream = null;
  }

  close(): void {
    try {
      this.ws.close(1000);
    } catch {
      // closing already
    }
  }

  async #session(): Promise<ClientSession | null> {
    return this.#opened && !this.#opened.closed ? this.#opened : this.session();
  }

  async #handle(text: string): Promise<void> {
    const frame = parseWsFrame(text);
    switch (frame.name) {
      case 'wsok':
        this.send(n.WSOK);
        return;
      case 'create_session':
      case 'bind_session': {
        const opened = await this.open(frame.name, frame.lines[0] ?? '');
        if ('code' in opened) {
          this.send(n.conerr(opened.code, opened.message));
          return this.close();
        }
        // A bind on this very socket (WS-POLLING) replaces its stream without closing the socket.
        this.#stream?.abandon();
        const stream = new WsClientStream(this, opened.options.polling);
        const refusal = opened.session.bind(stream, opened.options);
        if (refusal) {
          this.send(n.conerr(refusal.code, refusal.message));
          return this.close();
        }
        this.#stream = stream;
        this.#opened = opened.session;
        return;
      }
      case 'control':
      case 'msg': {
        const session = await this.#session();
        session?.heard();
        for (const line of frame.lines) {
          void answerLine(session, frame.name, line, true).then((answer) => {
            if (answer.line !== null) this.send(answer.line);
            answer.after?.();
          });
        }
        return;
      }
      case 'heartbeat':
        (await this.#session())?.heard();
        return;
      default:
        this.send(n.error(ConErr.MALFORMED, `unknown request ${frame.name.slice(0, 40)}`));
        this.ws.close(1002, 'not TLCP');
    }
  }
}

/** One control or msg line for `session` (null: none here, which the line is told as 20). */
export async function answerLine(session: ClientSession | null, name: 'control' | 'msg', line: string, overWebSocket: boolean): Promise<Answer> {
  const reqId = scanParam(line, 'LS_reqId');
  if (!isRequestId(reqId)) return { line: n.error(ConErr.MALFORMED, 'missing or bad LS_reqId') };
  let params: Map<string, string>;
  try {
    params = new Map(parseParams(line));
  } catch (err) {
    return { line: n.reqerr(reqId, ReqErr.MALFORMED, err instanceof TlcpSyntaxError ? err.message : 'malformed request') };
  }
  if (!session) return { line: n.reqerr(reqId, ReqErr.SESSION_NOT_FOUND, 'session not found') };
  const ack = !overWebSocket || params.get('LS_ack') !== 'false';
  params.delete('LS_reqId');
  params.delete('LS_ack');
  params.delete('LS_session');
  return name === 'control' ? session.control(reqId, params, ack) : session.message(reqId, params, ack);
}
