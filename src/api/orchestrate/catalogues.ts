import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { invalidArgument } from '../../domain/errors.js';
import type { CodeSnippetView } from '../../services/code-snippets.js';
import type { TagView } from '../../services/tags.js';
import { collectPages } from '../collect-pages.js';
import { principalOf } from '../plugins/auth.js';
import { epoch, later, paginate, text, windowStart } from './paging.js';

function who(name: string): Record<string, unknown> {
  return { display_name: name, full_name: name };
}

function snippetObject(s: CodeSnippetView): Record<string, unknown> {
  return {
    unique_id: s.id,
    title: s.title,
    description: s.description,
    is_removed: false,
    created: s.created_at,
    created_by_data: who(s.created_by),
    language: s.language,
    ...(s.code !== undefined && { code: s.code }),
  };
}

function tagObject(t: TagView): Record<string, unknown> {
  return {
    unique_id: t.id,
    title: t.title,
    description: t.description,
    color: t.color,
    created: t.created_at,
    modified: t.updated_at,
    created_by_data: who(t.created_by),
    modified_by_data: who(t.updated_by),
    playbook_count: t.workflow_count,
  };
}

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const DAY_MS = 86_400_000;

/** Orchestrate's code snippets (C1, C2), tags (G1, G2) and analytics (N1). */
export function orchestrateCatalogueRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    app.get('/v1/code-snippets/', { schema: { tags } }, async (request) => {
      const p = principalOf(request);
      const q = text(request, 'q', 200);
      const all = await collectPages('snippets', (page) => services.codeSnippets.list(p, { q, ...page }));
      return paginate(request, all.map(snippetObject));
    });
    app.get('/v1/code-snippets/:id/', { schema: { tags, params: Id } }, async (request) =>
      snippetObject(await services.codeSnippets.get(principalOf(request), request.params.id)),
    );
    app.get('/v1/tags/', { schema: { tags } }, async (request) => {
      const p = principalOf(request);
      const since = later(windowStart(request, 'modified'), epoch(request, 'modified__gte'));
      const until = epoch(request, 'modified__lte');
      const ordering = text(request, 'ordering', 50) ?? 'title';
      const key = ordering.replace(/^-/, '');
      if (!['title', 'modified', 'created'].includes(key))
        throw invalidArgument('ordering', 'ordering must be title, modified or created, with - to reverse');
      const all = (await collectPages('tags', (page) => services.tags.list(p, page)))
        .filter(
          (t) => (!since || new Date(t.updated_at) >= since) && (!until || new Date(t.updated_at) <= until),
        )
        .map(tagObject)
        .sort((a, b) => String(a[key]).localeCompare(String(b[key])) * (ordering.startsWith('-') ? -1 : 1));
      return paginate(request, all);
    });
    app.get('/v1/tags/:id/', { schema: { tags, params: Id } }, async (request) =>
      tagObject(await services.tags.get(principalOf(request), request.params.id)),
    );
    app.get('/v1/analytics/data-source/', { schema: { tags } }, async (request) => {
      const metric = text(request, 'categorize_by', 100);
      if (!metric) throw invalidArgument('categorize_by', 'categorize_by is required');
      const until = epoch(request, 'created__lte') ?? new Date();
      const since = epoch(request, 'created__gte') ?? new Date(until.getTime() - 30 * DAY_MS);
      return {
        data: await services.analytics.metric(
          principalOf(request),
          metric,
          { since, until },
          { metric: 'categorize_by', end: 'created__lte' },
        ),
      };
    });
  };
}
