import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import { OspreyError } from '../../domain/errors.js';
import type { PersistentListView } from '../../services/persistent-lists.js';
import { collectPages } from '../collect-pages.js';
import { principalOf } from '../plugins/auth.js';
import { paginate } from './paging.js';

/** A persistent list in Orchestrate's shape; `storage_manager_data` only on detail and create. */
function listObject(l: PersistentListView): Record<string, unknown> {
  return {
    title: l.title,
    unique_id: l.id,
    readable_id: l.readable_id,
    slug: l.slug,
    description: l.description,
    created: l.created_at,
    modified: l.updated_at,
    is_removed: false,
    created_by_data: { display_name: l.created_by, full_name: l.created_by },
    modified_by_data: { display_name: l.updated_by, full_name: l.updated_by, modified_by: 'User' },
    ...(l.data && { storage_manager_data: { unique_id: l.id, data: l.data } }),
  };
}

function allLists(services: Services, p: Principal, q?: string): Promise<PersistentListView[]> {
  return collectPages('lists', (page) => services.persistentLists.list(p, { q, ...page }));
}

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const Data = Type.Optional(
  Type.Object({
    data: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 1000 }), Type.Unknown())),
  }),
);

/** Orchestrate's storage manager (persistent lists) over the native service. */
export function orchestrateStorageRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    const lists = services.persistentLists;
    app.get('/v1/storage-manager/', { schema: { tags } }, async (request) => {
      const q = (request.query as { q?: string }).q;
      return paginate(request, (await allLists(services, principalOf(request), q)).map(listObject));
    });
    app.get('/v1/storage-manager/slugs/', { schema: { tags } }, async (request) =>
      paginate(
        request,
        (await allLists(services, principalOf(request))).map((l) => ({
          title: l.title,
          unique_id: l.id,
          slug: l.slug,
        })),
      ),
    );
    app.post(
      '/v1/storage-manager/',
      {
        schema: {
          tags,
          body: Type.Object({
            title: Type.String({ minLength: 1, maxLength: 200 }),
            description: Type.Optional(Type.String({ maxLength: 2000 })),
            slug: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            storage_manager_data: Data,
          }),
        },
      },
      async (request, reply) => {
        const b = request.body;
        const created = await lists.create(principalOf(request), {
          title: b.title,
          slug: b.slug,
          description: b.description,
          data: b.storage_manager_data?.data,
        });
        return reply.status(201).send(listObject(created));
      },
    );
    app.get('/v1/storage-manager/:id/', { schema: { tags, params: Id } }, async (request) =>
      listObject(await lists.get(principalOf(request), request.params.id)),
    );
    app.put(
      '/v1/storage-manager/:id/',
      {
        schema: {
          tags,
          params: Id,
          body: Type.Object({
            is_removed: Type.Optional(
              Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')]),
            ),
            title: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            description: Type.Optional(Type.String({ maxLength: 2000 })),
            storage_manager_data: Data,
          }),
        },
      },
      async (request, reply) => {
        const p = principalOf(request);
        const b = request.body;
        if (b.is_removed === true || b.is_removed === 'true') {
          const before = await lists.get(p, request.params.id);
          try {
            await lists.delete(p, request.params.id);
          } catch (error) {
            // Orchestrate's only documented error body.
            if (error instanceof OspreyError && error.code === 'LIST_IN_USE')
              return reply.status(400).send({
                result: { non_field_error: 'This persistent list has associated playbooks' },
                status_code: 400,
              });
            throw error;
          }
          return { ...listObject(before), is_removed: true };
        }
        return listObject(
          await lists.update(p, request.params.id, {
            title: b.title,
            description: b.description,
            data: b.storage_manager_data?.data,
          }),
        );
      },
    );
    app.get('/v1/storage-manager/:id/playbooks/', { schema: { tags, params: Id } }, async (request) =>
      paginate(
        request,
        (await lists.workflows(principalOf(request), request.params.id)).map((w) => ({
          unique_id: w.id,
          title: w.name,
          readable_id: w.readable_id,
          description: w.description,
          schedule_info: null,
        })),
      ),
    );
    app.get('/v1/storage-manager/:id/playbook-count/', { schema: { tags, params: Id } }, async (request) => ({
      result: { count: (await lists.workflows(principalOf(request), request.params.id)).length },
    }));
  };
}
