/**
 * TLCP over HTTP: `POST <prefix>/lightstreamer/<name>.txt`. create_session and bind_session turn the
 * response into a stream (streaming or polling); control, msg and heartbeat answer one line per body
 * line and end at once.
 *
 * What is not TLCP at all (another method, an unknown request name, a body that is not UTF-8 text)
 * gets HTTP 400; what is TLCP but wrong gets the protocol's own error line in a 200 response, because
 * the client treats any non-2xx status as a broken transport and retries blindly.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as n from '../../protocol/notifications.ts';
import { isRequestName, sessionIdOf, splitBody, type RequestName } from '../../protocol/request.ts';
import { BodyTooLarge, readBody } from '../http-body.ts';
import { answerLine, openOrFind, type Answer, type TlcpContext } from '../session/requests.ts';
import { HttpStream, STREAM_HEADERS } from './http-stream.ts';
import { requestHeaders } from './request-headers.ts';

const UTF8 = new TextDecoder('utf-8', { fatal: true });
// Control characters other than CR, LF and TAB never occur in a TLCP body: it is binary garbage.
const BINARY = /[\x00-\x08\x0b\x0c\x0e-\x1f]/;

export interface HttpRequestContext extends TlcpContext {
  clientAddress(req: IncomingMessage): string;
}

/** Answers `<name>.txt`; `name` is the last path segment without `.txt`. */
export async function handleTlcpHttp(name: string, req: IncomingMessage, res: ServerResponse, ctx: HttpRequestContext): Promise<void> {
  const cors = corsHeaders(req);
  if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      ...cors,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': req.headers['access-control-request-headers'] ?? 'content-type',
      'access-control-max-age': '86400',
    });
    res.end();
    return;
  }
  if (req.method !== 'POST' || !isRequestName(name)) return badRequest(res, `not a TLCP request: ${req.method} ${name}.txt`);
  let body: string;
  try {
    body = UTF8.decode(await readBody(req));
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      res.writeHead(413, { 'content-type': 'text/plain; charset=utf-8', ...(err.unread ? { connection: 'close' } : {}) });
      res.end(`${err.message}\n`);
      return;
    }
    if (err instanceof TypeError) return badRequest(res, 'body is not UTF-8 text');
    throw err;
  }
  if (BINARY.test(body)) return badRequest(res, 'body is not TLCP text');
  const query = (req.url ?? '').split('?')[1] ?? '';
  const lines = splitBody(body);
  if (name === 'create_session' || name === 'bind_session') return openStream(name, query, lines[0] ?? '', req, res, ctx, cors);
  return answerLines(name, query, lines, res, ctx, cors);
}

async function openStream(
  name: 'create_session' | 'bind_session',
  query: string,
  line: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpRequestContext,
  cors: Record<string, string>,
): Promise<void> {
  // The session id read as the edge reads it to route the request, or the two could disagree.
  const opened = await openOrFind(ctx, name, line, ctx.clientAddress(req), sessionIdOf(query, line), name === 'create_session' ? requestHeaders(req) : {});
  if (!('session' in opened)) return refuse(res, ctx, cors, opened.code, opened.message);
  if (res.destroyed) return;
  const { session, options } = opened;
  const result = session.bind(new HttpStream(res, options.polling, options.contentLength, cors), options);
  if (!result.ok) {
    ctx.telemetry.error(result.code, `CONERR ${result.message}`);
    res.end(n.conerr(result.code, result.message));
  }
}

async function answerLines(
  name: Exclude<RequestName, 'create_session' | 'bind_session'>,
  query: string,
  lines: string[],
  res: ServerResponse,
  ctx: HttpRequestContext,
  cors: Record<string, string>,
): Promise<void> {
  const id = sessionIdOf(query, lines[0] ?? null);
  const lookup = id === null ? null : ctx.registry.lookup(id);
  if (lookup?.found) lookup.session.heard();
  // Lines start in order (an add reserves its subscription id as it starts) and are answered in
  // order, but one waiting for its items does not hold up the others. A heartbeat only proves the
  // client alive; for a session gone it is not an error either.
  const pending: Array<Answer | Promise<Answer>> = name === 'heartbeat' ? [{ line: n.reqok() }] : lines.map((line) => answerLine(ctx, name, line, lookup, false));
  const answers = await Promise.all(pending);
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...cors });
  res.end(answers.map((a) => a.line ?? '').join(''));
  for (const answer of answers) {
    if (answer.failure !== undefined) ctx.logger.error({ err: answer.failure }, 'control request failed');
    answer.after?.();
  }
}

function refuse(res: ServerResponse, ctx: TlcpContext, cors: Record<string, string>, code: number, message: string): void {
  ctx.telemetry.error(code, `CONERR ${message}`);
  if (res.destroyed) return;
  res.writeHead(200, { ...STREAM_HEADERS, ...cors });
  res.end(n.conerr(code, message));
}

function badRequest(res: ServerResponse, message: string): void {
  res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

/**
 * Browsers on another origin send their session cookies only with credentials, which in turn needs
 * the exact origin echoed (never `*`).
 */
function corsHeaders(req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return {};
  return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', vary: 'origin' };
}
