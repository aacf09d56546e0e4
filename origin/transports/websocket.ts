/**
 * WebSocket transport (WS-STREAMING and WS-POLLING). One socket carries, in order: `wsok`, a create
 * or a bind (first one naming its session), then control, msg and heartbeat frames for that session
 * with no LS_session of their own, and, for polling, the next binds. Answers to requests go out on
 * the socket that asked; the session's notifications go to whatever stream it is bound to.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import * as n from '../../protocol/notifications.ts';
import { ConErr, ReqErr } from '../../protocol/codes.ts';
import { isRequestId, parseWsFrame, scanParam } from '../../protocol/request.ts';
import { answerLine, openOrFind, type Answer, type TlcpContext } from '../session/requests.ts';
import type { Session } from '../session/session.ts';
import { textFrame } from './ws-frame.ts';
import { WsStream, type WsCarrier } from './ws-stream.ts';

export const WS_SUBPROTOCOL = 'TLCP-2.5.0.lightstreamer.com';
/**
 * A socket with no stream bound is closed after this long, beyond the pause a WS-POLLING client
 * was told to take between polls: short enough that idle sockets opened by anyone cannot pile up.
 */
const UNBOUND_SOCKET_MS = 60_000;
/** Frames above this are refused by ws itself (close 1009); TLCP frames are a few hundred bytes. */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * Bytes of answers written while the socket never got to empty its buffer, beyond which it is
 * dropped: a client that sends requests and reads nothing. Stream data is not counted: it stops at
 * HIGH_WATER_BYTES by itself, and a slow client's backlog of it is no reason to drop it.
 */
const MAX_UNREAD_ANSWER_BYTES = 4 * 1024 * 1024;

export class WsConnection implements WsCarrier {
  #session: Session | null = null;
  #stream: WsStream | null = null;
  #idle: NodeJS.Timeout | null = null;
  #unreadAnswerBytes = 0;
  /**
   * Frames start one after the other, so a control line never runs before the create or bind ahead
   * of it. A control or msg line does not hold up the frames behind it: an add waiting for its
   * items (Redis slow or away) is answered when they come, while later lines are answered at once.
   * Its subscription id is reserved as it starts, so a delete behind it still finds it.
   */
  #queue: Promise<void> = Promise.resolve();

  constructor(
    readonly ws: WebSocket,
    /** The upgraded socket under `ws`: its `drain` ends a congestion. */
    readonly socket: Duplex,
    private readonly clientIp: string,
    /** The upgrade request's headers: what the metadata adapter hears of a create over this socket. */
    private readonly httpHeaders: Readonly<Record<string, string>>,
    private readonly ctx: TlcpContext,
    private readonly logger: Logger,
  ) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(1003, 'TLCP frames are text');
        return;
      }
      const text = data.toString();
      this.#queue = this.#queue.then(() => this.#handle(text)).catch((err: unknown) => {
        this.logger.error({ err }, 'websocket request failed');
        this.send(n.error(ConErr.INTERNAL, 'internal error'));
        ws.close(1011);
      });
    });
    ws.on('error', (err) => this.logger.debug({ err }, 'websocket error'));
    ws.on('close', () => {
      this.#setIdle(false);
      this.#stream?.lost();
    });
    this.#setIdle(true);
  }

  /** Returns the bytes written. */
  send(text: string): number {
    if (this.ws.readyState !== this.ws.OPEN) return 0;
    const frame = textFrame(text);
    this.socket.write(frame);
    return frame.length;
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  onceDrained(listener: () => void): void {
    this.socket.once('drain', listener);
  }

  close(): void {
    this.ws.close(1000);
  }

  async #handle(text: string): Promise<void> {
    const frame = parseWsFrame(text);
    switch (frame.name) {
      case 'wsok':
        this.send(n.WSOK);
        return;
      case 'create_session':
      case 'bind_session': {
        const line = frame.lines[0] ?? '';
        const opened = await openOrFind(this.ctx, frame.name, line, this.clientIp, scanParam(line, 'LS_session') ?? this.#session?.id ?? null, this.httpHeaders);
        if (!('session' in opened)) return this.#refuse(opened.code, opened.message);
        const { session, options } = opened;
        this.#session = session;
        // A new bind on this very socket replaces its stream, but must not close the socket with it.
        this.#stream?.supersede();
        const stream = new WsStream(this, options.polling);
        const result = session.bind(stream, options);
        if (!result.ok) return this.#refuse(result.code, result.message);
        this.#stream = stream;
        this.#setIdle(false);
        return;
      }
      case 'control':
      case 'msg':
        this.#session?.heard();
        for (const line of frame.lines) {
          answerLine(this.ctx, frame.name, line, this.#session && { found: true, session: this.#session }, true).then(
            (answer) => this.#answer(answer),
            (err: unknown) => {
              this.logger.error({ err }, 'websocket request failed');
              const reqId = reqIdOf(line);
              this.send(reqId === null ? n.error(ConErr.INTERNAL, 'internal error') : n.reqerr(reqId, ReqErr.INTERNAL, 'internal error'));
            },
          );
        }
        return;
      case 'heartbeat':
        // Over WebSocket the frame itself proves the client alive; no answer is expected.
        this.#session?.heard();
        return;
      default:
        this.send(n.error(ConErr.MALFORMED, `unknown request ${frame.name.slice(0, 40)}`));
        this.ws.close(1002, 'not TLCP');
    }
  }

  #answer(answer: Answer): void {
    if (answer.failure !== undefined) this.logger.error({ err: answer.failure }, 'control request failed');
    if (answer.line !== null) {
      if (this.socket.writableLength === 0) this.#unreadAnswerBytes = 0;
      this.#unreadAnswerBytes += this.send(answer.line);
      if (this.#unreadAnswerBytes > MAX_UNREAD_ANSWER_BYTES) {
        this.logger.debug({ buffered: this.socket.writableLength }, 'websocket client reads none of its answers; socket dropped');
        this.socket.destroy();
        return;
      }
    }
    answer.after?.();
  }

  #refuse(code: number, message: string): void {
    this.ctx.telemetry.error(code, `CONERR ${message}`);
    this.send(n.conerr(code, message));
    this.ws.close(1000);
  }

  /** The stream of this socket was finished or abandoned by its session. */
  released(stream: WsStream): void {
    if (this.#stream !== stream) return;
    this.#stream = null;
    this.#setIdle(this.ws.readyState === this.ws.OPEN);
  }

  #setIdle(idle: boolean): void {
    if (this.#idle) clearTimeout(this.#idle);
    // After a polling LOOP the session knows how long the client was told to wait.
    const wait = UNBOUND_SOCKET_MS + (this.#session?.returnDelayMs ?? 0);
    this.#idle = idle ? setTimeout(() => this.ws.close(1000, 'no session bound'), wait) : null;
  }
}

function reqIdOf(line: string): string | null {
  const id = scanParam(line, 'LS_reqId');
  return isRequestId(id) ? id : null;
}
