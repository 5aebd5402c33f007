import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../domain/actor.js';
import { OspreyError, unauthenticated } from '../../domain/errors.js';
import type { RequestMeta } from '../../services/auth.js';
import type { Services } from '../../app.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** Routes that need no credentials (token exchange, health, docs, webhooks). */
    public?: boolean;
  }
}

export const SESSION_COOKIE = 'osprey_session';

export function requestMeta(request: FastifyRequest): RequestMeta {
  return { ip: request.ip, userAgent: request.headers['user-agent'] ?? '' };
}

/** The authenticated caller; every non-public route has one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthenticated();
  return request.principal;
}

/** Authenticates every non-public route before its body is read: a bearer token or a session cookie. */
export function registerAuth(app: FastifyInstance, services: Services, failuresPerSecond: number): void {
  const failures = new FailureThrottle(failuresPerSecond);
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url;
    if (request.routeOptions.config.public || !url || url === '/docs' || url.startsWith('/docs/')) return;
    failures.check(request.ip);
    try {
      request.principal = await authenticate(request, services);
    } catch (error) {
      failures.record(request.ip);
      throw error;
    }
  });
}

/** Where requests are signed in the query (AccessID, Expires, Signature) instead of a bearer token. */
export const SIGNED_PREFIX = '/soarapi/openapi/';

async function authenticate(request: FastifyRequest, services: Services): Promise<Principal> {
  if (request.url.startsWith(SIGNED_PREFIX)) {
    const q = request.query as Record<string, unknown>;
    const [id, expires, signature] = [q.AccessID, q.Expires, q.Signature];
    if (typeof id !== 'string' || typeof expires !== 'string' || typeof signature !== 'string')
      throw unauthenticated(
        'sign the request: the AccessID, Expires and Signature query parameters are required',
      );
    // An unencoded '+' arrives as a space; Base64 has no spaces, so it can be restored.
    return services.auth.authenticateSigned(id, expires, signature.replace(/ /g, '+'), requestMeta(request));
  }
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw unauthenticated();
    return services.auth.authenticateBearer(match[1]!, requestMeta(request));
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie) return services.auth.authenticateSession(cookie, requestMeta(request));
  throw unauthenticated();
}

/**
 * Failed authentications per client address, in one-second windows: past the limit, 429 before any
 * database lookup, so guessing tokens is throttled like everything else.
 */
class FailureThrottle {
  #window = 0;
  readonly #counts = new Map<string, number>();
  constructor(private readonly limit: number) {}

  #roll(): void {
    const now = Math.floor(Date.now() / 1000);
    if (now !== this.#window) {
      this.#window = now;
      this.#counts.clear();
    }
  }

  check(ip: string): void {
    this.#roll();
    if ((this.#counts.get(ip) ?? 0) >= this.limit) {
      throw new OspreyError(
        'RATE_LIMITED',
        429,
        'too many failed authentications; retry after the time in Retry-After',
        {
          headers: { 'retry-after': '1' },
        },
      );
    }
  }

  record(ip: string): void {
    this.#roll();
    this.#counts.set(ip, (this.#counts.get(ip) ?? 0) + 1);
  }
}
