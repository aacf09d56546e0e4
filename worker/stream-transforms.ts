import { END_MAX_DURATION } from './tlcp.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;

/**
 * Passes a TLCP response through untouched except its first line, which `edit` may rewrite (CONOK's
 * control link) or act on (learning a pin) before any byte of it reaches the client. Everything after
 * the first line streams through chunk by chunk: no buffering of the stream itself.
 */
export function editFirstLine(edit: (line: string) => Promise<string> | string): TransformStream<Uint8Array, Uint8Array> {
  let head: Uint8Array | null = new Uint8Array(0);
  return new TransformStream({
    async transform(chunk, controller) {
      if (head === null) return controller.enqueue(chunk);
      const joined = new Uint8Array(head.length + chunk.length);
      joined.set(head);
      joined.set(chunk, head.length);
      const eol = joined.indexOf(LF);
      if (eol < 0) {
        head = joined;
        return;
      }
      head = null;
      const line = decoder.decode(joined.subarray(0, eol)).replace(/\r$/, '');
      controller.enqueue(encoder.encode(`${await edit(line)}\r\n`));
      if (eol + 1 < joined.length) controller.enqueue(joined.subarray(eol + 1));
    },
    async flush(controller) {
      if (head && head.length) controller.enqueue(encoder.encode(await edit(decoder.decode(head))));
    },
  });
}

/**
 * Reads a response's first line without losing it: `stream` yields every byte again, the first line
 * included, and the rest as it arrives. The line is null when the stream ends without one.
 */
export async function peekFirstLine(source: ReadableStream<Uint8Array>): Promise<{ line: string | null; stream: ReadableStream<Uint8Array> }> {
  const reader = source.getReader();
  const read: Uint8Array[] = [];
  let line: string | null = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    read.push(value);
    if (value.includes(LF)) {
      const utf8 = new TextDecoder();
      const text = read.map((chunk) => utf8.decode(chunk, { stream: true })).join('');
      line = text.slice(0, text.indexOf('\n')).replace(/\r$/, '');
      break;
    }
  }
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of read) controller.enqueue(chunk);
    },
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { line, stream };
}

/**
 * Ends a stream with `END,48` once `deadlineMs` passes (the per-domain maximum session duration), at
 * a line boundary so the client never sees half a notification glued to the END. The client opens a
 * new session through the balancer; the origin drops the abandoned one at its unbound timeout.
 */
export function endAt(deadlineMs: number, onEnd: () => void): TransformStream<Uint8Array, Uint8Array> {
  let atLineStart = true;
  let due = false;
  let ended = false;
  let timer: number | null = null;
  let ctrl: TransformStreamDefaultController<Uint8Array> | undefined;
  const finish = () => {
    if (ended || !ctrl) return;
    ended = true;
    clearTimeout(timer);
    ctrl.enqueue(encoder.encode(END_MAX_DURATION));
    ctrl.terminate();
    onEnd();
  };
  return new TransformStream({
    start(controller) {
      ctrl = controller;
      timer = setTimeout(() => {
        due = true;
        if (atLineStart) finish();
      }, Math.max(0, deadlineMs - Date.now()));
    },
    transform(chunk, controller) {
      if (ended) return;
      controller.enqueue(chunk);
      if (chunk.length) atLineStart = chunk[chunk.length - 1] === LF;
      if (due && atLineStart) finish();
    },
    flush() {
      clearTimeout(timer);
    },
  });
}
