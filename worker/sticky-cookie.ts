/**
 * The edge's "sticky cookie-insert" (guide 1.A.2, 2.A.2): `<shard>.<expiresAt>.<hmac>`, signed with
 * COOKIE_SECRET over the domain, shard and expiry. Anything that does not verify — tampered, expired,
 * minted for another domain, or signed with a rotated secret — is treated as no cookie at all.
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(secret, key);
  }
  return key;
}

const b64url = (bytes: ArrayBuffer) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

function unb64url(text: string): Uint8Array<ArrayBuffer> | null {
  try {
    return Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

const signed = (domain: string, shard: string, expiresAt: number) => encoder.encode(`${domain}|${shard}|${expiresAt}`);

export async function mintStickyCookie(secret: string, domain: string, shard: string, expiresAt: number): Promise<string> {
  const sig = await crypto.subtle.sign('HMAC', await keyOf(secret), signed(domain, shard, expiresAt));
  return `${shard}.${expiresAt}.${b64url(sig)}`;
}

/** The shard a cookie value names, if it verifies and has not expired. */
export async function readStickyCookie(secret: string, domain: string, value: string, now = Date.now()): Promise<{ shard: string; expiresAt: number } | null> {
  const m = /^([A-Za-z0-9_-]{1,32})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!m) return null;
  const [, shard, exp, sigText] = m;
  const expiresAt = Number(exp);
  const sig = unb64url(sigText);
  if (!sig || expiresAt <= now) return null;
  const ok = await crypto.subtle.verify('HMAC', await keyOf(secret), sig, signed(domain, shard, expiresAt));
  return ok ? { shard, expiresAt } : null;
}

export function setCookieHeader(name: string, value: string, expiresAt: number, secure: boolean): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - Date.now()) / 1000));
  // Cross-site pages (the web client on another origin) only send SameSite=None cookies, which must be Secure.
  return `${name}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; ${secure ? 'SameSite=None; Secure' : 'SameSite=Lax'}`;
}
