import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { IdParams, PageQuery, Timestamp, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const Identifier = Type.String({ minLength: 1, maxLength: 200 });
export const EventBody = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 500 }),
    app_identifier: Type.String({ minLength: 1, maxLength: 200, description: 'the source app, e.g. splunk' }),
    action_identifier: Type.String({ minLength: 1, maxLength: 200, description: 'the event type' }),
    data: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())], {
        description: 'the event data; runs see the event as $.event',
      }),
    ),
    extra_data: Type.Optional(
      Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())]),
    ),
    labels: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50 })),
  },
  { additionalProperties: false },
);

/** Source events (/v1/events), labels (/v1/labels) and configured triggers (/v1/event-triggers). */
export function eventRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['events'];
    app.get(
      '/events',
      {
        schema: {
          tags,
          querystring: Type.Object(
            {
              ...PageQuery.properties,
              q: Type.Optional(Type.String({ maxLength: 200 })),
              title: Type.Optional(Type.String({ maxLength: 500 })),
              app_identifier: Type.Optional(Identifier),
              action_identifier: Type.Optional(Identifier),
              label: Type.Optional(Type.String({ maxLength: 100 })),
              processed: Type.Optional(Type.Boolean()),
              start_time: Type.Optional(Timestamp),
              end_time: Type.Optional(Timestamp),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => services.events.list(principalOf(request), request.query),
    );
    app.post('/events', { schema: { tags, body: EventBody, response: ok(201) } }, async (request, reply) =>
      reply
        .status(201)
        .send({ event: await services.events.create(principalOf(request), request.body, 'Platform') }),
    );
    app.get('/events/:id', { schema: { tags, params: IdParams, response: ok() } }, async (request) => ({
      event: await services.events.get(principalOf(request), request.params.id),
    }));

    const Ref = Type.Object({
      id: Type.String({ minLength: 1, maxLength: 100, description: 'id or title' }),
    });
    app.get(
      '/labels',
      {
        schema: {
          tags,
          querystring: Type.Object(
            { ...PageQuery.properties, q: Type.Optional(Type.String({ maxLength: 200 })) },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => services.labels.list(principalOf(request), request.query),
    );
    app.post(
      '/labels',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              title: Type.String({ minLength: 1, maxLength: 100 }),
              description: Type.Optional(Type.String({ maxLength: 2000 })),
              color: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$' })),
            },
            { additionalProperties: false },
          ),
          response: ok(201),
        },
      },
      async (request, reply) =>
        reply.status(201).send({ label: await services.labels.create(principalOf(request), request.body) }),
    );
    app.get('/labels/:id', { schema: { tags, params: Ref, response: ok() } }, async (request) => ({
      label: await services.labels.get(principalOf(request), request.params.id),
    }));
    app.delete(
      '/labels/:id',
      { schema: { tags, params: Ref, response: ok(204) } },
      async (request, reply) => {
        await services.labels.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );

    const Labels = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { minItems: 1, maxItems: 50 });
    app.get('/event-triggers', { schema: { tags, response: ok() } }, async (request) => ({
      triggers: await services.eventTriggers.list(principalOf(request)),
    }));
    app.post(
      '/event-triggers',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              app_identifier: Identifier,
              action_identifier: Identifier,
              labels: Labels,
              is_active: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request, reply) => {
        const { created, trigger } = await services.eventTriggers.configure(
          principalOf(request),
          request.body,
        );
        return reply.status(created ? 201 : 200).send({ trigger });
      },
    );
    app.get(
      '/event-triggers/:id',
      { schema: { tags, params: IdParams, response: ok() } },
      async (request) => ({
        trigger: await services.eventTriggers.get(principalOf(request), request.params.id),
      }),
    );
    app.patch(
      '/event-triggers/:id',
      {
        schema: {
          tags,
          params: IdParams,
          body: Type.Object(
            { labels: Type.Optional(Labels), is_active: Type.Optional(Type.Boolean()) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: ok(),
        },
      },
      async (request) => ({
        trigger: await services.eventTriggers.update(principalOf(request), request.params.id, request.body),
      }),
    );
    app.delete(
      '/event-triggers/:id',
      { schema: { tags, params: IdParams, response: ok(204) } },
      async (request, reply) => {
        await services.eventTriggers.delete(principalOf(request), request.params.id);
        return reply.status(204).send();
      },
    );
  };
}
