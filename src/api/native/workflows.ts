import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { invalidArgument } from '../../domain/errors.js';
import { WORKFLOW_SCHEMA } from '../../domain/workflow/definition-schema.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Source = Type.String({ minLength: 1, description: 'the definition as YAML (or JSON) text' });
const RevisionParams = Type.Object({
  id: Type.String({ format: 'uuid' }),
  revision_id: Type.String({ format: 'uuid' }),
});
const Tags = Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50, uniqueItems: true });

/** The definition source of a create: `yaml` text, or `definition` as a JSON object. */
function sourceOf(body: { yaml?: string | undefined; definition?: unknown }): string {
  if (body.yaml !== undefined && body.definition !== undefined)
    throw invalidArgument('definition', 'send yaml or definition, not both');
  if (body.yaml !== undefined) return body.yaml;
  if (body.definition !== undefined) return JSON.stringify(body.definition, null, 2);
  throw invalidArgument('yaml', 'yaml (the definition text) or definition (a JSON object) is required');
}

export function workflowRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['workflows'];
    const wf = services.workflows;
    app.get(
      '/schemas/workflow.json',
      {
        config: { public: true },
        schema: { tags, summary: 'The JSON Schema of workflow definitions', security: [] },
      },
      () => WORKFLOW_SCHEMA,
    );
    app.get(
      '/workflows',
      {
        schema: {
          tags,
          querystring: Type.Object(
            {
              name: Type.Optional(Type.String({ minLength: 1 })),
              tag: Type.Optional(Type.String({ minLength: 1 })),
              page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
              page_token: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => wf.list(principalOf(request), request.query),
    );
    app.post(
      '/workflows',
      {
        schema: {
          tags,
          summary: 'Create a workflow from a definition (a first revision, unpublished)',
          body: Type.Object(
            { yaml: Type.Optional(Source), definition: Type.Optional(Type.Object({})) },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(
            await wf.create(
              principalOf(request),
              sourceOf(request.body),
              request.body.yaml !== undefined ? 'yaml' : 'definition',
            ),
          ),
    );
    app.post(
      '/workflows/import',
      {
        schema: {
          tags,
          summary:
            'Import a workflow: {"yaml": base64 or the escaped text}; answers workflow_id and revision_id',
          body: Type.Object({ yaml: Source }, { additionalProperties: false }),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send(await wf.import(principalOf(request), request.body.yaml)),
    );
    app.get('/workflows/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      workflow: await wf.get(principalOf(request), request.params.id),
    }));
    app.patch(
      '/workflows/:id',
      {
        schema: {
          tags,
          summary: 'Save a new definition (yaml) or change name, description or tags; each makes a revision',
          params: IdParams,
          body: Type.Object(
            {
              yaml: Type.Optional(Source),
              name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
              description: Type.Optional(Type.String({ maxLength: 5000 })),
              tags: Type.Optional(Tags),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => wf.update(principalOf(request), request.params.id, request.body),
    );
    app.delete(
      '/workflows/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await wf.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
    app.get(
      '/workflows/:id/revisions',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        revisions: await wf.revisions(principalOf(request), request.params.id),
      }),
    );
    app.get(
      '/workflows/:id/revisions/:revision_id',
      {
        schema: {
          tags,
          summary: "A revision with its YAML (the seed's export)",
          params: RevisionParams,
          response: ok(),
        },
      },
      async (request) => wf.revision(principalOf(request), request.params.id, request.params.revision_id),
    );
    app.post(
      '/workflows/:id/publish',
      {
        schema: {
          tags,
          summary: 'Publish the current revision',
          params: IdParams,
          body: Type.Optional(
            Type.Object(
              {
                revision_id: Type.Optional(Type.String({ format: 'uuid' })),
                description: Type.Optional(Type.String({ maxLength: 2000 })),
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
      async (request) => ({
        workflow: await wf.publish(principalOf(request), request.params.id, request.body ?? {}),
      }),
    );
    app.post(
      '/workflows/:id/unpublish',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        workflow: await wf.unpublish(principalOf(request), request.params.id),
      }),
    );
    app.post(
      '/workflows/:id/revert',
      {
        schema: {
          tags,
          summary: 'Make a new current revision from an earlier one',
          params: IdParams,
          body: Type.Object(
            { revision_id: Type.String({ format: 'uuid' }) },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => wf.revert(principalOf(request), request.params.id, request.body.revision_id),
    );
    app.post(
      '/workflows/:id/enable',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        workflow: await wf.setEnabled(principalOf(request), request.params.id, true),
      }),
    );
    app.post(
      '/workflows/:id/disable',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        workflow: await wf.setEnabled(principalOf(request), request.params.id, false),
      }),
    );
  };
}
