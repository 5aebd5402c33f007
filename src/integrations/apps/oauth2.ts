import { ActionError } from '../action-error.js';
import type { OutboundHttp, OutboundPolicy } from '../http/outbound.js';
import { retryAfterFor } from '../http/retry-policy.js';
import { statusError, vendorMessage } from './vendor-errors.js';

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface TokenRequest {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope?: string | undefined;
  audience?: string | undefined;
  clientAuth: 'basic' | 'body';
  /** The app's title, for messages. */
  label: string;
}

/**
 * OAuth2 client-credentials tokens, cached per integration and credentials until shortly before they
 * expire. Tokens live only in this process's memory.
 */
export class OAuth2Tokens {
  readonly #cache = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(private readonly http: OutboundHttp) {}

  async token(
    cacheKey: string,
    req: TokenRequest,
    policy: OutboundPolicy,
    signal: AbortSignal,
  ): Promise<string> {
    const key = `${cacheKey}|${req.tokenUrl}|${req.clientId}|${req.clientSecret}|${req.scope ?? ''}`;
    const hit = this.#cache.get(key);
    if (hit && hit.expiresAt > Date.now()) return hit.token;
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#fetch(req, policy, signal).then(
        (t) => {
          this.#cache.set(key, t);
          this.#pending.delete(key);
          return t.token;
        },
        (e: unknown) => {
          this.#pending.delete(key);
          throw e;
        },
      );
      this.#pending.set(key, pending);
    }
    return pending;
  }

  /** Forgets a token the API refused (a 401), so the next call fetches a new one. */
  forget(cacheKey: string): void {
    for (const k of this.#cache.keys()) if (k.startsWith(`${cacheKey}|`)) this.#cache.delete(k);
  }

  async #fetch(req: TokenRequest, policy: OutboundPolicy, signal: AbortSignal): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(req.tokenUrl);
    } catch {
      throw new ActionError('INVALID_CONFIGURATION', 'the OAuth2 token URL is not a URL');
    }
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (req.scope) form.set('scope', req.scope);
    if (req.audience) form.set('audience', req.audience);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'user-agent': 'Osprey',
    };
    if (req.clientAuth === 'body') {
      form.set('client_id', req.clientId);
      form.set('client_secret', req.clientSecret);
    } else {
      // RFC 6749 §2.3.1: each part form-urlencoded before the Basic encoding.
      const pair = `${encodeURIComponent(req.clientId)}:${encodeURIComponent(req.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
    }
    const res = await this.http.send(
      { method: 'POST', url, headers, body: form.toString(), signal, maxRedirects: 0 },
      policy,
    );
    let body: { access_token?: unknown; expires_in?: unknown; error_description?: unknown };
    try {
      body = JSON.parse(res.text) as typeof body;
    } catch {
      body = {};
    }
    if (res.status >= 400 || typeof body.access_token !== 'string') {
      const why =
        (typeof body.error_description === 'string' && body.error_description) ||
        vendorMessage(res.text) ||
        (res.status < 400 ? 'the answer has no access_token' : '');
      const message = `${req.label}: could not get an OAuth2 token from ${url.origin}${url.pathname}: answered ${res.status}${why ? `: ${why}` : ''}`;
      if (res.status < 400) throw new ActionError('INVALID_RESPONSE', message);
      // A refused client is an authentication failure whatever the status (400 invalid_client too).
      throw statusError(
        res.status === 400 ? 401 : res.status,
        message,
        retryAfterFor(res.status, res.headers),
      );
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
    // Renew a little early: 30 s, or a tenth of a short lifetime.
    const margin = Math.min(30, seconds / 10);
    return { token: body.access_token, expiresAt: Date.now() + (seconds - margin) * 1000 };
  }
}
