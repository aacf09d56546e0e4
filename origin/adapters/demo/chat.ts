/**
 * `CHAT_ROOM`, as Lightstreamer's Chat demo expects it: one DISTINCT item, `chat_room`, fed by the
 * client messages `CHAT|<text>`. Messages go through the bus, so a line sent to any shard reaches
 * every shard's subscribers.
 */
import type { Bus } from '../../bus/bus.ts';
import type { MessageRequest } from '../adapter.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const CHAT_ITEM = 'chat_room';
export const CHAT_PREFIX = 'CHAT|';
const FIELDS = ['message', 'raw_timestamp', 'timestamp', 'IP', 'nick'] as const;

export function createChatAdapter(): DemoDataAdapter {
  return {
    name: 'CHAT_ROOM',
    hasItem: (item) => item === CHAT_ITEM,
    fieldsOf: () => FIELDS,
    allowsMode: (_item, mode) => mode !== 'COMMAND',
    start() {},
    stop() {},
  };
}

/** Publishes one chat line; the demo client expects an empty MSGDONE response. */
export async function postChatMessage(bus: Bus, ctx: Pick<MessageRequest, 'user' | 'clientIp'>, text: string): Promise<string> {
  const now = new Date();
  await bus.publish(CHAT_ITEM, {
    message: text,
    raw_timestamp: String(now.getTime()),
    timestamp: now.toISOString().slice(11, 19),
    IP: ctx.clientIp,
    nick: ctx.user,
  });
  return '';
}
