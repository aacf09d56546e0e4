import * as ws from 'ws';

/**
 * Server text frames, framed by ws's own Sender (exported by ws, left out of @types/ws) and shared:
 * fan-out writes the same line to many sockets in a row, so each line is framed once for all of
 * them and written as one buffer per socket — what ws does for an uncompressed frame (compression
 * is off), minus a header buffer and a writev per socket and update.
 */
interface FrameOptions {
  readonly fin: boolean;
  readonly opcode: number;
  readonly mask: boolean;
  readonly readOnly: boolean;
  readonly rsv1: boolean;
}
const { Sender } = ws as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
const TEXT: FrameOptions = { fin: true, opcode: 0x1, mask: false, readOnly: false, rsv1: false };

let lastText = '';
let lastFrame = Buffer.concat(Sender.frame(Buffer.alloc(0), TEXT));

export function textFrame(text: string): Buffer {
  if (text !== lastText) {
    lastText = text;
    lastFrame = Buffer.concat(Sender.frame(Buffer.from(text), TEXT));
  }
  return lastFrame;
}
