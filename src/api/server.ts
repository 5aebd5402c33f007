import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Services } from '../app.js';
import type { Config } from '../config.js';
import { OspreyError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { ErrorBody } from './common-schemas.js';
import { nativeRoutes } from './native/index.js';
import { orchestrateRoutes } from './orchestrate/index.js';
import { orchestrateWebhookRoutes } from './orchestrate/webhooks.js';
import { exportDownloadRoutes } from './orchestrate/export-links.js';
import { registerAuth } from './plugins/auth.js';
import { registerErrorHandling } from './plugins/errors.js';
import { registerMetrics } from './plugins/metrics.js';
import { registerStreamMetrics } from './plugins/stream-metrics.js';
import { registerValidation } from './plugins/validation.js';
import { torqRoutes } from './torq/index.js';
import { OSPREY_VERSION } from '../version.js';

export interface ServerOptions {
  services: Services;
  config: Config;
  logger: Logger | false;
}

/** Builds the HTTP server: the native API, the Torq-compatible surface, health, metrics and docs. */
export async function buildServer({ services, config, logger }: ServerOptions): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(logger === false ? { logger: false } : { loggerInstance: logger }),
    bodyLimit: config.bodyLimit,
    // Webhook tokens and approval links are longer than Fastify's default of 100.
    routerOptions: { maxParamLength: 2048 },
    trustProxy: config.trustProxy,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : newId();
    },
    requestIdHeader: false,
  }) as unknown as FastifyInstance;
  app.addHook('onClose', async () => {
    await services.finished.close();
  });
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  registerValidation(app);
  registerErrorHandling(app);
  app.addSchema(ErrorBody);
  await app.register(cookie);
  // JSON only, except where a route scope adds a parser (the token endpoint takes OAuth2 forms).
  app.removeContentTypeParser('text/plain');
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Osprey API',
        version: OSPREY_VERSION,
        description:
          'Native API under /v1; Torq-compatible surface under /v1alpha and /public/v1alpha. Authenticate with POST /v1/auth/token.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  registerStreamMetrics(registerMetrics(app), services.logStreams);
  registerAuth(app, services, config.rateLimitPerSecond);
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitPerSecond,
    timeWindow: 1000,
    keyGenerator: (request) =>
      request.principal?.actor.apiKeyId ?? request.principal?.actor.userId ?? `ip:${request.ip}`,
    allowList: (request) => ['/healthz', '/readyz', '/metrics'].includes(request.routeOptions.url ?? ''),
    errorResponseBuilder: (_request, context) =>
      new OspreyError(
        'RATE_LIMITED',
        429,
        `rate limit of ${context.max} requests per second exceeded; retry after ${Math.ceil(context.ttl / 1000)} s`,
        {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        },
      ),
  });

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, () => app.swagger());
  app.get('/healthz', { config: { public: true }, schema: { hide: true } }, () => ({ status: 'ok' }));
  app.get('/readyz', { config: { public: true }, schema: { hide: true } }, async (_req, reply) => {
    try {
      await services.db.one('SELECT 1 AS ok');
      return { status: 'ready' };
    } catch {
      return reply.status(503).send({ status: 'unavailable', message: 'the database does not answer' });
    }
  });

  await app.register(nativeRoutes(services), { prefix: '/v1' });
  await app.register(torqRoutes(services), { prefix: '/v1alpha' });
  await app.register(torqRoutes(services), { prefix: '/public/v1alpha' });
  await app.register(orchestrateRoutes(services, OSPREY_VERSION), { prefix: '/soarapi/openapi' });
  await app.register(orchestrateWebhookRoutes(services), { prefix: '/soarapi/webhooks_auth' });
  await app.register(exportDownloadRoutes(services), { prefix: '/soarapi/exports' });
  return app;
}
