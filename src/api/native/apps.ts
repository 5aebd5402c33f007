import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import { ok } from '../common-schemas.js';
import { acceptPackages, packageUpload } from '../package-upload.js';
import { principalOf } from '../plugins/auth.js';

const AppParams = Type.Object({ identifier: Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$' }) });
const VersionParams = Type.Object({
  identifier: Type.String({ pattern: '^[a-z][a-z0-9_]{1,39}$' }),
  version: Type.String({ minLength: 1, maxLength: 50 }),
});

export function appRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['apps'];
    // A package arrives as the raw ZIP body, or as the "package" (or Orchestrate's "module") part.
    await acceptPackages(app);
    app.get(
      '/apps',
      {
        schema: {
          tags,
          querystring: Type.Object(
            {
              q: Type.Optional(Type.String({ maxLength: 200 })),
              category: Type.Optional(Type.String({ maxLength: 100 })),
              built_in: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: ok(),
        },
      },
      async (request) => ({ apps: await services.apps.list(principalOf(request), request.query) }),
    );
    app.get(
      '/apps/:identifier',
      {
        schema: {
          tags,
          params: AppParams,
          querystring: Type.Object({ version: Type.Optional(Type.String({ maxLength: 50 })) }),
          response: ok(),
        },
      },
      async (request) => ({
        app: await services.apps.get(principalOf(request), request.params.identifier, request.query.version),
      }),
    );
    app.get(
      '/apps/:identifier/versions/:version/package',
      { schema: { tags, summary: 'Download the app package (ZIP)', params: VersionParams } },
      async (request, reply) => {
        const { identifier, version } = request.params;
        const zip = await services.apps.download(principalOf(request), identifier, version);
        return reply
          .header('content-type', 'application/zip')
          .header('content-disposition', `attachment; filename="${identifier}-${version}.zip"`)
          .send(zip);
      },
    );
    app.post(
      '/apps',
      { schema: { tags, summary: 'Install a custom app package (ZIP)', response: ok(201) } },
      async (request, reply) => {
        const archive = await packageUpload(request);
        return reply.status(201).send({ app: await services.apps.install(principalOf(request), archive) });
      },
    );
    app.delete(
      '/apps/:identifier/versions/:version',
      { schema: { tags, params: VersionParams, response: ok(204) } },
      async (request, reply) => {
        await services.apps.delete(principalOf(request), request.params.identifier, request.params.version);
        return reply.status(204).send();
      },
    );
  };
}
