import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { WorkflowView } from '../../services/workflows.js';
import { TORQ_EXECUTION_STATUS } from '../../services/activity-logs.js';
import { ok } from '../common-schemas.js';
import { ActivityLogQuery } from '../native/activity-logs.js';
import { principalOf } from '../plugins/auth.js';

/** Torq's workflow object: tags as [{name}], omitted when none; published_revision_id only when published. */
function torqWorkflow(w: WorkflowView): Record<string, unknown> {
  return {
    id: w.id,
    name: w.name,
    created_at: w.created_at,
    updated_at: w.updated_at,
    ...(w.tags.length ? { tags: w.tags.map((name) => ({ name })) } : {}),
    current_revision_id: w.current_revision_id,
    ...(w.published_revision_id ? { published_revision_id: w.published_revision_id } : {}),
  };
}

export function torqWorkflowRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['torq'];
    app.patch(
      '/workflows/:id/revisions/:revision_id/publish',
      {
        schema: {
          tags,
          summary: 'Publish a revision (Torq); only the current revision can be published',
          params: Type.Object({
            id: Type.String({ format: 'uuid' }),
            revision_id: Type.String({ format: 'uuid' }),
          }),
          body: Type.Optional(
            Type.Object(
              {
                description: Type.Optional(Type.String({ maxLength: 2000 })),
                time_saved: Type.Optional(Type.Number({ minimum: 0 })),
              },
              { additionalProperties: false },
            ),
          ),
          response: ok(),
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request) =>
        torqWorkflow(
          await services.workflows.publish(principalOf(request), request.params.id, {
            revision_id: request.params.revision_id,
            description: request.body?.description,
          }),
        ),
    );
    app.get(
      '/executions/:id',
      {
        schema: {
          tags,
          summary: 'An execution (Torq statuses)',
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: ok(),
        },
      },
      async (request) => {
        const e = await services.executions.get(principalOf(request), request.params.id);
        return { ...e, status: TORQ_EXECUTION_STATUS[e.status] ?? 'EXECUTION_STATUS_UNKNOWN' };
      },
    );
    app.get(
      '/activity_logs',
      {
        schema: { tags, summary: 'List activity logs (Torq)', querystring: ActivityLogQuery, response: ok() },
      },
      async (request) =>
        services.activityLogs.list(principalOf(request), {
          ...request.query,
          workflow_id: request.query.workflow_id ?? request.query.workflowId,
        }),
    );
    app.get(
      '/workflow/:id/tags',
      {
        schema: {
          tags,
          summary: "A workflow's tags (Torq; note the singular path)",
          params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
          response: ok(),
        },
      },
      async (request) => ({
        tags: (await services.workflows.get(principalOf(request), request.params.id)).tags.map((name) => ({
          name,
        })),
      }),
    );
  };
}
