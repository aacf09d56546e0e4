import { createMiddleware } from 'hono/factory';
import type { EdgeEnv } from './edge-request.ts';
import { configOf } from './config.ts';

/**
 * Guards of the operator API. A browser attaches cached Basic credentials to any request it sends
 * to the edge, a cross-site form POST included, but it never invents a bearer token and cannot send
 * `application/json` cross-site without a CORS preflight the edge never grants. So changes take only
 * a bearer token and a JSON body; Basic opens nothing but the read-only pages a browser navigates to.
 */

const encoder = new TextEncoder();

/** Compares digests, so neither content nor length of the secret leaks through timing. */
async function sameSecret(given: string, secret: string): Promise<boolean> {
  const [a, b] = await Promise.all([given, secret].map((s) => crypto.subtle.digest('SHA-256', encoder.encode(s))));
  return crypto.subtle.timingSafeEqual(a, b);
}

type Presented = { readonly scheme: 'bearer' | 'basic'; readonly secret: string };

function presented(authorization: string | undefined): Presented | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(' ', 2);
  if (!value) return null;
  if (scheme.toLowerCase() === 'bearer') return { scheme: 'bearer', secret: value };
  // Basic lets a browser open the per-shard dashboard (§6): any user name, the secret as password.
  if (scheme.toLowerCase() === 'basic') {
    try {
      const decoded = atob(value);
      return { scheme: 'basic', secret: decoded.slice(decoded.indexOf(':') + 1) };
    } catch {
      return null;
    }
  }
  return null;
}

/** `bearer-or-basic` only for pages a browser opens by itself and that change nothing. */
export type AcceptedCredentials = 'bearer' | 'bearer-or-basic';

/** ADMIN_SECRET as credentials. No secret configured means no admin access at all. */
export function requireAdmin(accepted: AcceptedCredentials) {
  // A Basic challenge makes a browser ask for the secret; only where Basic may open something.
  const challenge = accepted === 'bearer-or-basic' ? 'Basic realm="edgepush admin", charset="UTF-8"' : 'Bearer realm="edgepush admin"';
  return createMiddleware<EdgeEnv>(async (c, next) => {
    // A secret the configuration refuses (too short) must not open anything, not even for a moment.
    configOf(c.env);
    const secret = c.env.ADMIN_SECRET;
    if (!secret) return c.json({ error: 'admin API disabled: ADMIN_SECRET is not set' }, 401);
    const given = presented(c.req.header('authorization'));
    if (given?.scheme === 'basic' && accepted === 'bearer') {
      return c.json({ error: 'Basic credentials open only the read-only shard pages: send Authorization: Bearer <ADMIN_SECRET>' }, 401, {
        'www-authenticate': challenge,
      });
    }
    if (!given || !(await sameSecret(given.secret, secret))) {
      return c.json({ error: 'admin secret required' }, 401, { 'www-authenticate': challenge });
    }
    await next();
  });
}

/** Changes carry JSON: the one body type a cross-site form cannot send. */
export const requireJson = createMiddleware<EdgeEnv>(async (c, next) => {
  const type = c.req.header('content-type')?.split(';', 1)[0].trim().toLowerCase();
  if (type !== 'application/json') return c.json({ error: 'admin changes need Content-Type: application/json' }, 415);
  await next();
});
