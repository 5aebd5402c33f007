import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

/** The reference's activity log parameters; `workflowId` is the seed's spelling. */
export const ActivityLogQuery = Type.Object(
  {
    start_time: Type.Optional(Type.String()),
    end_time: Type.Optional(Type.String()),
    activity_type: Type.Optional(
      Type.Union([
        Type.Literal('all'),
        Type.Literal('workflow_runs'),
        Type.Literal('step_executions'),
        Type.Literal('trigger_events'),
      ]),
    ),
    workflow_id: Type.Optional(Type.String({ format: 'uuid' })),
    workflowId: Type.Optional(Type.String({ format: 'uuid' })),
    payload: Type.Optional(
      Type.String({ maxLength: 1000, description: 'every keyword must appear in the body' }),
    ),
    discard_body: Type.Optional(Type.Boolean()),
    order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
    page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    page_token: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  },
  { additionalProperties: false },
);

export function activityLogRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['activity-logs'];
    for (const url of ['/activitylogs', '/activity-logs']) {
      app.get(
        url,
        {
          schema: {
            tags,
            summary: 'Workflow runs and step executions',
            querystring: ActivityLogQuery,
            response: ok(),
          },
        },
        async (request) =>
          services.activityLogs.list(principalOf(request), {
            ...request.query,
            workflow_id: request.query.workflow_id ?? request.query.workflowId,
          }),
      );
    }
  };
}
