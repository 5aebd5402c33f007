import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import { invalidArgument } from '../../domain/errors.js';
import type { EventInput, EventView } from '../../services/events.js';
import type { EventTriggerView } from '../../services/event-triggers.js';
import { EventBody } from '../native/events.js';
import { principalOf } from '../plugins/auth.js';
import { fileUrl } from './export-links.js';
import { envelope, epoch, later, pageParams, text, windowStart } from './paging.js';

function who(name: string): Record<string, unknown> {
  return { display_name: name, full_name: name };
}

/** The detailed Event (E1, E4, webhook v1). */
export async function eventObject(
  services: Services,
  workspaceId: string,
  e: EventView,
): Promise<Record<string, unknown>> {
  const labels = await services.labels.byTitles(services.db, workspaceId, e.labels);
  return {
    ...conciseEvent(e),
    data: e.data ?? {},
    extra_data: e.extra_data ?? {},
    modified: e.created_at,
    labels: e.labels,
    labels_data: labels.map((l) => ({ title: l.title, unique_id: l.id, color: l.color })),
    created_by: e.created_by,
    created_by_data: who(e.created_by),
    processed: e.processed,
    execution_error: e.execution_error,
    splitted_columns: [],
    playbook_result_unique_ids: e.execution_ids,
    reason: e.reason,
  };
}

/** The concise Event (E2, webhook v2). */
export function conciseEvent(e: EventView): Record<string, unknown> {
  return {
    title: e.title,
    readable_id: e.readable_id,
    unique_id: e.id,
    created: e.created_at,
    source: e.source,
    app_identifier: e.app_identifier,
    action_identifier: e.action_identifier,
  };
}

type LabelData = { title: string; unique_id: string; color: string };

function listItem(e: EventView, labels: ReadonlyMap<string, LabelData>): Record<string, unknown> {
  return {
    readable_id: e.readable_id,
    created: e.created_at,
    unique_id: e.id,
    title: e.title,
    labels: e.labels,
    labels_data: e.labels.map((t) => labels.get(t)).filter((l): l is LabelData => !!l),
    app_identifier: e.app_identifier,
    action_identifier: e.action_identifier,
    processed: e.processed,
    execution_error: e.execution_error,
    source: e.source,
  };
}

function triggerObject(t: EventTriggerView): Record<string, unknown> {
  return {
    unique_id: t.id,
    app_identifier: t.app_identifier,
    action_identifier: t.action_identifier,
    labels: t.labels,
    labels_data: t.labels_data.map((l) => ({ title: l.title, unique_id: l.id, color: l.color })),
    is_active: t.is_active,
    created: t.created_at,
    modified: t.updated_at,
    created_by: t.created_by,
    modified_by: t.updated_by,
    created_by_data: who(t.created_by),
    modified_by_data: who(t.updated_by),
  };
}

function create(services: Services, p: Principal, body: EventInput): Promise<EventView> {
  return services.events.create(p, body, 'Openapi');
}

const Uuid = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Orchestrate's source events (E1–E6) and configured triggers over the native services. */
export function orchestrateEventRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    app.post('/v1/events/', { schema: { tags, body: EventBody } }, async (request, reply) => {
      const p = principalOf(request);
      const e = await create(services, p, request.body);
      return reply.status(201).send(await eventObject(services, p.workspaceId, e));
    });
    app.post('/v2/events/', { schema: { tags, body: EventBody } }, async (request, reply) =>
      reply.status(201).send(conciseEvent(await create(services, principalOf(request), request.body))),
    );
    app.get('/v1/events/', { schema: { tags } }, async (request) => {
      const page = pageParams(request);
      const since = later(windowStart(request, 'created'), epoch(request, 'created__gte'));
      const until = epoch(request, 'created__lte') ?? epoch(request, 'create__lte');
      const p = principalOf(request);
      const { count, events } = await services.events.numberedPage(
        p,
        {
          title: text(request, 'title'),
          app_identifier: text(request, 'app_identifier'),
          action_identifier: text(request, 'action_identifier'),
          id: text(request, 'unique_id'),
          label: text(request, 'labels'),
          q: text(request, 'q'),
          start_time: since?.toISOString(),
          end_time: until?.toISOString(),
        },
        page.offset,
        page.size,
      );
      const labels = await services.labels.byTitles(services.db, p.workspaceId, [
        ...new Set(events.flatMap((e) => e.labels)),
      ]);
      const byTitle = new Map(
        labels.map((l) => [l.title, { title: l.title, unique_id: l.id, color: l.color }]),
      );
      return envelope(
        request,
        page,
        count,
        events.map((e) => listItem(e, byTitle)),
      );
    });
    app.get('/v1/events/:id/', { schema: { tags, params: Uuid } }, async (request) => {
      const p = principalOf(request);
      return eventObject(services, p.workspaceId, await services.events.get(p, request.params.id));
    });
    app.get('/v1/events/export/:id/', { schema: { tags, params: Uuid } }, async (request) => {
      const field = exportField(text(request, 'field'));
      const p = principalOf(request);
      await services.events.get(p, request.params.id);
      return { file_url: fileUrl(services, p, 'event', request.params.id, field) };
    });
    app.post(
      '/v1/webhooks/data-labels/',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              labels: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
                minItems: 1,
                maxItems: 50,
              }),
              app_identifier: Type.String({ minLength: 1, maxLength: 200 }),
              action_identifier: Type.String({ minLength: 1, maxLength: 200 }),
              is_active: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const { created, trigger } = await services.eventTriggers.configure(
          principalOf(request),
          request.body,
        );
        return reply.status(created ? 201 : 200).send(triggerObject(trigger));
      },
    );
    app.get('/v1/webhooks/data-labels/', { schema: { tags } }, async (request) => {
      const all = (await services.eventTriggers.list(principalOf(request))).map(triggerObject);
      const page = pageParams(request);
      return envelope(request, page, all.length, all.slice(page.offset, page.offset + page.size));
    });
  };
}

function exportField(field: string | undefined): 'data' | 'extra_data' {
  if (field !== 'data' && field !== 'extra_data')
    throw invalidArgument('field', 'field must be data or extra_data');
  return field;
}
