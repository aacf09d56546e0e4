/**
 * The chat room of Lightstreamer's Chat demo: data adapter `CHAT_ROOM`, one DISTINCT item,
 * `chat_room`, fed by the client messages `CHAT|<text>`. Each line carries `message`, `nick` (the
 * sender's User-Agent: the demo page shows it as such), `IP`, `timestamp` (HH:mm:ss, UTC) and
 * `raw_timestamp` (epoch milliseconds).
 *
 * Like the demo's metadata adapter, the room learns each session's User-Agent when the session
 * opens; two sessions from one address with one User-Agent get told apart with a ` [n]` suffix
 * (among this origin's sessions). Lines go through the bus, so a line sent to any shard reaches
 * every shard's subscribers.
 */
import type { Bus } from '../../bus/bus.ts';
import { AdapterError, type SessionInfo } from '../adapter.ts';
import type { MessageRoute, SessionWatcher } from './catalogue-metadata.ts';
import type { DemoDataAdapter } from './demo-data-adapter.ts';

export const CHAT_ITEM = 'chat_room';
export const CHAT_PREFIX = 'CHAT|';
export const CHAT_FIELDS = ['message', 'raw_timestamp', 'timestamp', 'IP', 'nick'] as const;
/** What a session without a User-Agent header (some non-browser clients) is called. */
export const NO_USER_AGENT = 'unknown client';

/** Message refusals (the client's onDeny). */
export const CHAT_EMPTY = -1;
export const CHAT_NOT_STARTED = -2;

interface Speaker {
  readonly ip: string;
  readonly nick: string;
}

export interface ChatRoom {
  readonly adapter: DemoDataAdapter;
  readonly sessions: SessionWatcher;
  readonly messages: MessageRoute;
}

export function createChatRoom(): ChatRoom {
  let bus: Bus | null = null;
  const speakers = new Map<string, Speaker>();
  /** `<ip> <nick>` of every open session: a new session picks a nick not in it. */
  const taken = new Set<string>();

  const adapter: DemoDataAdapter = {
    name: 'CHAT_ROOM',
    hasItem: (item) => item === CHAT_ITEM,
    fieldsOf: () => CHAT_FIELDS,
    allowsMode: (_item, mode) => mode !== 'COMMAND',
    start(b) {
      bus = b;
    },
    stop() {
      bus = null;
    },
  };

  const sessions: SessionWatcher = {
    notifyNewSession(session: SessionInfo) {
      const ip = session.properties.REMOTE_IP ?? session.clientIp;
      const agent = session.properties.USER_AGENT?.trim() || NO_USER_AGENT;
      let nick = agent;
      for (let n = 1; taken.has(`${ip} ${nick}`); n++) nick = `${agent} [${n}]`;
      taken.add(`${ip} ${nick}`);
      speakers.set(session.sessionId, { ip, nick });
    },
    notifySessionClose(sessionId) {
      const speaker = speakers.get(sessionId);
      if (!speaker) return;
      speakers.delete(sessionId);
      taken.delete(`${speaker.ip} ${speaker.nick}`);
    },
  };

  const messages: MessageRoute = {
    prefix: CHAT_PREFIX,
    async handle({ message, sessionId, clientIp, user }) {
      const text = message.slice(CHAT_PREFIX.length);
      if (text.length === 0) throw new AdapterError(CHAT_EMPTY, 'empty chat message');
      if (!bus) throw new AdapterError(CHAT_NOT_STARTED, 'chat not started');
      // A session this origin did not see open (none today) still gets a name rather than a refusal.
      const speaker = speakers.get(sessionId) ?? { ip: clientIp, nick: user ?? NO_USER_AGENT };
      const now = new Date();
      await bus.publish(CHAT_ITEM, {
        message: text,
        raw_timestamp: String(now.getTime()),
        timestamp: now.toISOString().slice(11, 19),
        IP: speaker.ip,
        nick: speaker.nick,
      });
      // The demo's adapter answers nothing: the line itself is the acknowledgement.
      return '';
    },
  };

  return { adapter, sessions, messages };
}
