/**
 * The example adapter set examples/jwt-adapters (in-process modules named by its adapters.xml): JWT
 * authentication and per-user item entitlements, against a real origin and the official client.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, sendMessage, watchSubscription, type WatchedClient } from './support/client.ts';
import { startOrigin, type OriginHandle } from './support/origin.ts';
import { waitUntil } from './support/wait.ts';

const SECRET = 'an example secret of at least 32 characters';

function token(claims: Record<string, unknown>, options: { subject?: string; expires?: string; secret?: string; issuer?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject ?? 'ann')
    .setIssuer(options.issuer ?? 'https://auth.example.com')
    .setAudience('edgepush')
    .setIssuedAt()
    .setExpirationTime(options.expires ?? '10m')
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

describe('examples/jwt-adapters', () => {
  let origin: OriginHandle;
  const clients: WatchedClient[] = [];
  const connect = (user: string, password: string) => {
    const c = createClient(origin.url, { adapterSet: 'JWT_DEMO', transport: 'WS-STREAMING' });
    c.client.connectionDetails.setUser(user);
    c.client.connectionDetails.setPassword(password);
    clients.push(c);
    c.client.connect();
    return c;
  };
  const refusal = async (c: WatchedClient) => {
    await waitUntil(() => c.serverErrors.length > 0, 10_000, () => c.statuses.join(' > '));
    return c.serverErrors[0];
  };

  beforeAll(async () => {
    origin = await startOrigin({ ADAPTERS_CONF: 'examples/jwt-adapters/adapters.xml', JWT_SECRET: SECRET });
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await origin?.stop();
  });

  it('streams the items a valid token entitles the user to, capped at its frequency, and refuses the others', async () => {
    const c = connect('ann', await token({ items: ['EURUSD', 'GBPUSD'], max_frequency: 2, scope: 'prices chat' }));
    await c.status(/^CONNECTED:WS-STREAMING$/);
    const prices = watchSubscription(c.client, { mode: 'MERGE', items: ['EURUSD', 'GBPUSD'], fields: ['price', 'ticks'], dataAdapter: 'PRICES', snapshot: 'yes' });
    const frequencies: string[] = [];
    prices.sub.addListener({ onRealMaxFrequency: (f: string | null) => void frequencies.push(String(f)) });
    await prices.until((u) => u.filter((x) => x.snapshot).length === 2, 'snapshots');
    await prices.until((u) => u.some((x) => !x.snapshot && x.item === 'EURUSD'), 'a live tick');
    expect(prices.updates[0].values.price).toMatch(/^\d+\.\d{5}$/);
    expect(frequencies.at(-1)).toBe('2');

    const other = watchSubscription(c.client, { mode: 'MERGE', items: ['USDJPY'], fields: ['price'], dataAdapter: 'PRICES' });
    expect(await other.error()).toEqual({ code: -2, message: 'not entitled to USDJPY' });
    const distinct = watchSubscription(c.client, { mode: 'DISTINCT', items: ['EURUSD'], fields: ['price'], dataAdapter: 'PRICES' });
    expect((await distinct.error()).code).toBe(24);
    expect(await sendMessage(c.client, 'hi', 'chat')).toEqual({ kind: 'processed', response: 'received: hi' });
  });

  it('refuses bad, foreign, expired and someone else\'s tokens, and messages without the chat scope', async () => {
    expect(await refusal(connect('ann', 'not a token'))).toMatchObject({ code: 1, message: expect.stringMatching(/^invalid token/) });
    expect(await refusal(connect('ann', await token({ items: [] }, { secret: 'another secret of at least 32 chars!!' })))).toMatchObject({ code: 1 });
    expect(await refusal(connect('ann', await token({ items: [] }, { expires: '1s ago' })))).toMatchObject({ code: 1, message: expect.stringMatching(/exp/) });
    expect(await refusal(connect('ann', await token({ items: [] }, { issuer: 'https://evil.example.com' })))).toMatchObject({ code: 1 });
    expect(await refusal(connect('bob', await token({ items: [] }, { subject: 'ann' })))).toEqual({ code: 1, message: 'the token is not this user\'s' });

    const quiet = connect('cid', await token({ items: ['EURUSD'], scope: 'prices' }, { subject: 'cid' }));
    await quiet.status(/^CONNECTED:WS-STREAMING$/);
    expect(await sendMessage(quiet.client, 'hi', 'chat')).toEqual({ kind: 'deny', code: -3, message: 'messages need the chat scope' });
  });
});
