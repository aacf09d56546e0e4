/**
 * A metadata adapter that authenticates users with a JWT and entitles them per item.
 *
 * The client sends its user name as LS_user and a token as LS_password (`connectionDetails.setUser`,
 * `setPassword`). The token (HS256, `jwt_secret`) must be valid now, name the `issuer` and `audience`,
 * have the user as its subject, and carries the user's entitlements:
 *
 *   { "sub": "ann", "items": ["EURUSD", "GBPUSD"], "max_frequency": 2, "scope": "prices chat" }
 *
 * `items` lists the items the user may subscribe (a subscription naming any other is refused with
 * code -2, the client's onSubscriptionError), `max_frequency` caps the MERGE updates per second, and
 * the `chat` scope allows client messages (without it, onDeny -3). A token that expires ends what the
 * user may do next: subscriptions and messages check it again.
 */
import { jwtVerify, type JWTPayload } from 'jose';
import { AccessError, CreditsError, ItemsError, SchemaError, type MetadataAdapter } from '../../origin/adapters/adapter.ts';

export const NOT_ENTITLED = -2;
export const NO_CHAT = -3;

interface Grant {
  readonly items: ReadonlySet<string>;
  readonly maxFrequency: number | undefined;
  readonly chat: boolean;
  /** Seconds since the epoch. */
  readonly expires: number;
}

export function createMetadataAdapter(params: Record<string, string>): MetadataAdapter {
  const secret = params.jwt_secret;
  if (!secret || secret.length < 32) throw new Error('jwt_secret must have at least 32 characters');
  const key = new TextEncoder().encode(secret);
  const verifyOptions = { issuer: params.issuer, audience: params.audience, algorithms: ['HS256'] };
  /**
   * What notifyUser verified, bound to the session notifyNewSession then names (the adapter API, like
   * Lightstreamer's, tells notifyUser no session id): a user's latest token goes to its next session.
   */
  const pending = new Map<string, Grant>();
  const sessions = new Map<string, Grant>();

  const grantOf = (sessionId: string): Grant => {
    const grant = sessions.get(sessionId);
    if (!grant) throw new CreditsError(NOT_ENTITLED, 'no grant for this session');
    if (grant.expires * 1000 < Date.now()) throw new CreditsError(NOT_ENTITLED, 'token expired: connect again with a fresh one');
    return grant;
  };
  const words = (s: string) => s.split(' ').filter(Boolean);

  return {
    async notifyUser({ user, password }) {
      if (!user || !password) throw new AccessError('a user name and a token are required');
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(password, key, verifyOptions));
      } catch (err) {
        throw new AccessError(`invalid token: ${(err as Error).message}`);
      }
      if (payload.sub !== user) throw new AccessError('the token is not this user\'s');
      const items = Array.isArray(payload.items) ? payload.items.filter((i): i is string => typeof i === 'string') : [];
      const scopes = typeof payload.scope === 'string' ? words(payload.scope) : [];
      const maxFrequency = typeof payload.max_frequency === 'number' ? payload.max_frequency : undefined;
      pending.set(user, { items: new Set(items), maxFrequency, chat: scopes.includes('chat'), expires: payload.exp ?? Infinity });
    },

    notifyNewSession({ sessionId, user }) {
      const grant = user === null ? undefined : pending.get(user);
      if (!grant) throw new CreditsError(NOT_ENTITLED, 'no verified token for this session');
      pending.delete(user!);
      sessions.set(sessionId, grant);
    },

    notifySessionClose(sessionId) {
      sessions.delete(sessionId);
    },

    getItems({ sessionId, group }) {
      const grant = grantOf(sessionId);
      const items = words(group);
      if (items.length === 0) throw new ItemsError('empty group');
      const refused = items.filter((item) => !grant.items.has(item));
      if (refused.length > 0) throw new CreditsError(NOT_ENTITLED, `not entitled to ${refused.join(', ')}`);
      return items;
    },

    getSchema({ schema }) {
      const fields = words(schema);
      if (fields.length === 0) throw new SchemaError('empty schema');
      return fields;
    },

    getItemLimits({ sessionId, items }) {
      const { maxFrequency } = grantOf(sessionId);
      return items.map(() => ({ maxFrequency, modes: ['MERGE', 'RAW'] as const }));
    },

    notifyUserMessage({ sessionId, message }) {
      if (!grantOf(sessionId).chat) throw new CreditsError(NO_CHAT, 'messages need the chat scope');
      return `received: ${message}`;
    },
  };
}
