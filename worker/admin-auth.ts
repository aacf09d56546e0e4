import type { MiddlewareHandler } from 'hono';
import type { EdgeEnv } from './edge-request.ts';

const encoder = new TextEncoder();

/** Compares digests, so neither content nor length of the secret leaks through timing. */
async function sameSecret(given: string, secret: string): Promise<boolean> {
  const [a, b] = await Promise.all([given, secret].map((s) => crypto.subtle.digest('SHA-256', encoder.encode(s))));
  return crypto.subtle.timingSafeEqual(a, b);
}

function presented(authorization: string | undefined): string | null {
  if (!authorization) return null;
  const [scheme, value] = authorization.split(' ', 2);
  if (scheme?.toLowerCase() === 'bearer') return value ?? null;
  // Basic lets a browser open the per-shard dashboard (§6): any user name, the secret as password.
  if (scheme?.toLowerCase() === 'basic' && value) {
    try {
      const decoded = atob(value);
      return decoded.slice(decoded.indexOf(':') + 1);
    } catch {
      return null;
    }
  }
  return null;
}

/** ADMIN_SECRET as Bearer (or Basic password). No secret configured means no admin access at all. */
export const requireAdmin: MiddlewareHandler<EdgeEnv> = async (c, next) => {
  const secret = c.env.ADMIN_SECRET;
  const given = presented(c.req.header('authorization'));
  if (!secret || given === null || !(await sameSecret(given, secret))) {
    return c.json({ error: secret ? 'admin secret required' : 'admin API disabled: ADMIN_SECRET is not set' }, 401, {
      'www-authenticate': 'Basic realm="edgepush admin", charset="UTF-8"',
    });
  }
  await next();
};
