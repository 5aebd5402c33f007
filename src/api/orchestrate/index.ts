import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Services } from '../../app.js';
import { acceptPackages } from '../package-upload.js';
import { orchestrateIntegrationRoutes } from './integrations.js';
import { orchestrateStorageRoutes } from './storage-manager.js';
import { orchestrateTemplateRoutes } from './custom-templates.js';
import { orchestratePlaybookRoutes } from './playbooks.js';
import { orchestrateEventRoutes } from './events.js';
import { orchestrateCatalogueRoutes } from './catalogues.js';

/**
 * The Cyware Orchestrate Open API under /soarapi/openapi/: requests signed in the query
 * (AccessID, Expires, Signature) with an Osprey API key pair, trailing slashes, page envelopes.
 */
export function orchestrateRoutes(services: Services, version: string): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    await acceptPackages(app);
    app.get('/v1/test_connectivity/', { schema: { tags } }, async () => ({ status: 'ok' }));
    app.get('/v1/release_version/', { schema: { tags } }, async () => ({ release_version: version }));
    await app.register(orchestrateIntegrationRoutes(services));
    await app.register(orchestrateStorageRoutes(services));
    await app.register(orchestrateTemplateRoutes(services));
    await app.register(orchestratePlaybookRoutes(services));
    await app.register(orchestrateEventRoutes(services));
    await app.register(orchestrateCatalogueRoutes(services));
  };
}
