import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import { OspreyError } from '../../domain/errors.js';

/** What an export link reads: a run's field, a node result's field, or an event's field. */
export type ExportKind = 'run' | 'node' | 'event';

const TTL_SECONDS = 300;

/**
 * Orchestrate answers a large field's export with a presigned download URL. Osprey's is a token
 * signed with a key derived from the master key, naming one field of one resource in one
 * workspace, valid for five minutes: it reads that field and nothing else.
 */
export function fileUrl(
  services: Services,
  principal: Principal,
  kind: ExportKind,
  id: string,
  field: string,
): string {
  const token = services.exportLinks.sign({
    k: kind,
    w: principal.workspaceId,
    i: id,
    f: field,
    e: Math.floor(Date.now() / 1000) + TTL_SECONDS,
  });
  return `${services.publicUrl.replace(/\/+$/, '')}/soarapi/exports/${token}`;
}

function gone(): OspreyError {
  return new OspreyError('ROUTE_NOT_FOUND', 404, 'this download link is unknown or has expired');
}

/** GET /soarapi/exports/{token}: the field an export link names, as a JSON attachment. */
export function exportDownloadRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/:token',
      {
        config: { public: true },
        schema: { tags: ['orchestrate'], params: Type.Object({ token: Type.String({ maxLength: 2000 }) }) },
      },
      async (request, reply) => {
        const c = services.exportLinks.open(request.params.token);
        if (!c || typeof c.e !== 'number' || c.e < Date.now() / 1000) throw gone();
        const [kind, ws, id, field] = [c.k, c.w, c.i, c.f].map(String) as [
          ExportKind,
          string,
          string,
          string,
        ];
        // The link stands for a read of that one field: a viewer in the link's workspace.
        const reader: Principal = {
          workspaceId: ws,
          workspaceName: '',
          role: 'viewer',
          actor: { type: 'system', email: '', name: 'export link', ip: request.ip, userAgent: '' },
        };
        let value: unknown;
        if (kind === 'event') {
          const e = await services.events.get(reader, id);
          value = field === 'data' ? e.data : e.extra_data;
        } else if (kind === 'run') {
          const { run } = await services.runLogs.get(reader, id);
          value = field === 'initial_params' ? run.input : field === 'output' ? run.output : run.error;
        } else if (field === 'result') {
          value = await services.runLogs.nodeOutput(reader, id);
        } else {
          const { step } = await services.runLogs.nodeResult(reader, id);
          value = field === 'initial_params' ? step.input : step.error;
        }
        return reply
          .header('content-disposition', `attachment; filename="${kind}-${field}.json"`)
          .type('application/json')
          .send(JSON.stringify(value ?? null));
      },
    );
  };
}
