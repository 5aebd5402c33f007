import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../../domain/actor.js';
import { unauthenticated } from '../../domain/errors.js';
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
export function registerAuth(app: FastifyInstance, services: Services): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public || !request.routeOptions.url) return;
    const header = request.headers.authorization;
    if (header) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match) throw unauthenticated();
      request.principal = await services.auth.authenticateBearer(match[1]!, requestMeta(request));
      return;
    }
    const cookie = request.cookies[SESSION_COOKIE];
    if (cookie) {
      request.principal = await services.auth.authenticateSession(cookie, requestMeta(request));
      return;
    }
    throw unauthenticated();
  });
}
