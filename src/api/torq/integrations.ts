import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { IntegrationView } from '../../services/integrations.js';
import { ok } from '../common-schemas.js';
import { collectPages } from '../collect-pages.js';
import { principalOf } from '../plugins/auth.js';

/** An integration in the reference's v1alphaIntegration shape. */
function torqIntegration(i: IntegrationView): Record<string, unknown> {
  return {
    id: i.id,
    name: i.name,
    display_name: i.display_name,
    type_id: i.app,
    created_at: i.created_at,
    created_by: i.created_by,
    last_used_at: i.last_used_at,
    details: {},
    sharing_data: { direction: 'not_shared', workspace_ids: [] },
  };
}

/** GET /v1alpha/integrations (`type_id` filters by app), every page. */
export function torqIntegrationRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/integrations',
      {
        schema: {
          tags: ['torq'],
          querystring: Type.Object({ type_id: Type.Optional(Type.String({ maxLength: 40 })) }),
          response: ok(),
        },
      },
      async (request) => {
        const principal = principalOf(request);
        const all = await collectPages('integrations', (page) =>
          services.integrations.list(principal, { app: request.query.type_id, ...page }),
        );
        return { integrations: all.map(torqIntegration) };
      },
    );
  };
}
