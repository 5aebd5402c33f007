import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import type { EmailTemplateView } from '../../services/email-templates.js';
import { collectPages } from '../collect-pages.js';
import { principalOf } from '../plugins/auth.js';
import { paginate } from './paging.js';

function templateObject(t: EmailTemplateView): Record<string, unknown> {
  return {
    unique_id: t.id,
    title: t.title,
    description: t.description,
    is_removed: false,
    created: t.created_at,
    created_by_data: { display_name: t.created_by, full_name: t.created_by },
    ...(t.body !== undefined && { template_body: t.body }),
  };
}

function all(services: Services, p: Principal, q?: string): Promise<EmailTemplateView[]> {
  return collectPages('templates', (page) => services.emailTemplates.list(p, { q, ...page }));
}

/** Orchestrate's custom email templates (T1, T2) over the native service. */
export function orchestrateTemplateRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    app.get('/v1/custom-templates/', { schema: { tags } }, async (request) =>
      paginate(
        request,
        (await all(services, principalOf(request), (request.query as { q?: string }).q)).map(templateObject),
      ),
    );
    app.get(
      '/v1/custom-templates/:id/',
      { schema: { tags, params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) }) } },
      async (request) =>
        templateObject(await services.emailTemplates.get(principalOf(request), request.params.id)),
    );
  };
}
