import { createHmac } from 'node:crypto';
import type { KeyPair } from './app.js';

/** Signs as the Orchestrate docs' Python sample: Base64(HMAC-SHA1(secret, access_id + "\n" + expires)). */
export function sign(key: KeyPair, ttl = 30, now = Date.now()): string {
  const expires = Math.floor(now / 1000 + ttl);
  const signature = createHmac('sha1', Buffer.from(key.client_secret, 'utf8'))
    .update(`${key.client_id}\n${expires}`, 'utf8')
    .digest('base64');
  return new URLSearchParams({
    AccessID: key.client_id,
    Expires: String(expires),
    Signature: signature,
  }).toString();
}

/** Replaces a link's (expiring) signature with a fresh one, as Orchestrate clients must. */
export function resign(link: string, key: KeyPair): string {
  const url = new URL(`/soarapi/${link}`, 'http://x');
  for (const k of ['AccessID', 'Expires', 'Signature']) url.searchParams.delete(k);
  const fresh = new URLSearchParams(sign(key));
  for (const [k, v] of fresh) url.searchParams.set(k, v);
  return `${url.pathname}${url.search}`;
}
