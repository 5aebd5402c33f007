import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { METRICS } from '../../services/analytics.js';
import { Timestamp, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const DAY_MS = 86_400_000;

/** Dashboard metrics: GET /v1/analytics/{metric}?start_time&end_time (default: the last 30 days). */
export function analyticsRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/analytics/:metric',
      {
        schema: {
          tags: ['analytics'],
          params: Type.Object({ metric: Type.String({ maxLength: 100, description: METRICS.join(', ') }) }),
          querystring: Type.Object(
            { start_time: Type.Optional(Timestamp), end_time: Type.Optional(Timestamp) },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => {
        const until = request.query.end_time ? new Date(request.query.end_time) : new Date();
        const since = request.query.start_time
          ? new Date(request.query.start_time)
          : new Date(until.getTime() - 30 * DAY_MS);
        return {
          metric: request.params.metric,
          start_time: since.toISOString(),
          end_time: until.toISOString(),
          data: await services.analytics.metric(principalOf(request), request.params.metric, {
            since,
            until,
          }),
        };
      },
    );
  };
}
