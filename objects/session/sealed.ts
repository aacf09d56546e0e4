/**
 * The client's credentials at rest: the session layer needs them to authenticate a new upstream
 * after its object restarted (a deploy restarts every object), and keeps them in the object's
 * storage only sealed with AES-GCM under a key derived from the SESSION_SECRET secret.
 */

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function keyOf(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle
      .digest('SHA-256', encoder.encode(`edgepush session credentials\0${secret}`))
      .then((raw) => crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']));
    keys.set(secret, key);
  }
  return key;
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export async function seal(secret: string, value: unknown): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await keyOf(secret), encoder.encode(JSON.stringify(value))));
  return `${b64(iv)}.${b64(sealed)}`;
}

/** The sealed value, or null when it does not open (another secret since: the session cannot be restored). */
export async function unseal<T>(secret: string, text: string): Promise<T | null> {
  try {
    const [iv, data] = text.split('.');
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: unb64(iv) }, await keyOf(secret), unb64(data));
    return JSON.parse(new TextDecoder().decode(plain)) as T;
  } catch {
    return null;
  }
}
