import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { EXECUTION_STATUSES } from '../../store/executions.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

/** How long `?wait=true` holds the request before answering with the run's state so far. */
const WAIT_TIMEOUT_MS = 50_000;

export function executionRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['executions'];
    const ex = services.executions;
    app.post(
      '/workflows/:id/executions',
      {
        schema: {
          tags,
          summary: 'Run a workflow with inputs; ?wait=true answers when it ends, with its output',
          params: IdParams,
          querystring: Type.Object({ wait: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          body: Type.Optional(
            Type.Object(
              {
                inputs: Type.Optional(Type.Unknown({ description: 'the run input ($.event)' })),
                revision: Type.Optional(Type.Union([Type.Literal('published'), Type.Literal('current')])),
              },
              { additionalProperties: false },
            ),
          ),
          response: ok(201),
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const started = await ex.start(principal, request.params.id, {
          ...(request.body ?? {}),
          wait: request.query.wait === true,
        });
        if (!request.query.wait)
          return reply.status(201).send({ execution_id: started.id, execution: started });
        const done = await ex.waitFor(principal, started.id, WAIT_TIMEOUT_MS);
        return reply.status(201).send({
          execution_id: done.id,
          status: done.status,
          output: done.output,
          error: done.error,
          execution: done,
        });
      },
    );
    app.get(
      '/executions',
      {
        schema: {
          tags,
          querystring: Type.Object(
            {
              workflow_id: Type.Optional(Type.String({ format: 'uuid' })),
              workflowId: Type.Optional(Type.String({ format: 'uuid', description: "the seed's spelling" })),
              status: Type.Optional(Type.Union(EXECUTION_STATUSES.map((s) => Type.Literal(s)))),
              start_time: Type.Optional(Type.String({ description: 'created at or after (RFC 3339)' })),
              end_time: Type.Optional(Type.String({ description: 'created before (RFC 3339)' })),
              page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
              page_token: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) =>
        ex.list(principalOf(request), {
          ...request.query,
          workflow_id: request.query.workflow_id ?? request.query.workflowId,
        }),
    );
    app.get(
      '/executions/:id',
      { schema: { tags, summary: 'An execution with every step run', params: IdParams, response: ok() } },
      async (request) => ({
        execution: await ex.get(principalOf(request), request.params.id),
      }),
    );
    app.get(
      '/executions/:id/steps/:key/output',
      {
        schema: {
          tags,
          summary: "A step's full output (large outputs are stored out of line)",
          params: Type.Object({
            id: Type.String({ format: 'uuid' }),
            key: Type.String({ minLength: 1, maxLength: 1000 }),
          }),
          response: ok(),
        },
      },
      async (request) => ex.stepOutput(principalOf(request), request.params.id, request.params.key),
    );
    app.post(
      '/executions/:id/retry',
      {
        schema: {
          tags,
          summary:
            'Run an ended execution again: from the start or the failed step, on its revision or the current one',
          params: IdParams,
          body: Type.Optional(
            Type.Object(
              {
                from: Type.Optional(Type.Union([Type.Literal('start'), Type.Literal('failed_step')])),
                revision: Type.Optional(Type.Union([Type.Literal('original'), Type.Literal('current')])),
              },
              { additionalProperties: false },
            ),
          ),
          response: ok(201),
        },
        preValidation: async (request) => {
          request.body ??= {};
        },
      },
      async (request, reply) => {
        const execution = await ex.retry(principalOf(request), request.params.id, request.body ?? {});
        return reply.status(201).send({ execution_id: execution.id, execution });
      },
    );
    app.post(
      '/executions/:id/cancel',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        execution: await ex.cancel(principalOf(request), request.params.id),
      }),
    );
  };
}
