import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import { invalidArgument } from '../../domain/errors.js';
import { stableId } from '../../domain/ids.js';
import { eventPayload, eventReadableId } from '../../services/events.js';
import { walkSteps, type StepDefinition } from '../../domain/workflow/validate.js';
import { RUN_STATUSES, type PlaybookRow, type RunStatus } from '../../store/run-logs.js';
import { collectPages } from '../collect-pages.js';
import { principalOf } from '../plugins/auth.js';
import { envelope, epoch, flag, later, pageParams, paginate, text, windowStart } from './paging.js';
import {
  layout,
  playbookExport,
  playbookLabels,
  playbookStatus,
  playbookSummary,
  type PlaybookContext,
} from './playbook-model.js';
import { nodeResult, runLogDetail, runLogSummary } from './run-log-model.js';
import { fileUrl } from './export-links.js';

async function context(services: Services, p: Principal): Promise<PlaybookContext> {
  const [manifests, apps, tags] = await Promise.all([
    services.appManifests(p.workspaceId),
    services.apps.list(p, {}),
    collectPages('tags', (page) => services.tags.list(p, page)),
  ]);
  return {
    apps: new Map(manifests.map((m) => [m.identifier, m])),
    appIds: new Map(apps.map((a) => [a.identifier, a.unique_id])),
    tags: new Map(tags.map((t) => [t.title, t])),
  };
}

/** Resolves `apps`/`actions` filters given as unique ids or identifiers to app (and action) identifiers. */
async function appFilter(
  services: Services,
  p: Principal,
  app: string | undefined,
  action: string | undefined,
): Promise<{ app?: string; action?: string }> {
  if (!app && !action) return {};
  const apps = await services.apps.list(p, {}, true);
  const a = app ? apps.find((x) => x.unique_id === app || x.identifier === app) : undefined;
  if (app && !a) throw invalidArgument('apps_list', `no app ${app} in this workspace`);
  if (!action) return { app: a!.identifier };
  for (const candidate of a ? [a] : apps) {
    const x = candidate.actions.find(
      (y) =>
        y.name === action || stableId('action', candidate.identifier, candidate.version, y.name) === action,
    );
    if (x) return { app: candidate.identifier, action: x.name };
  }
  throw invalidArgument('actions_list', `no action ${action} in this workspace`);
}

function usesApp(row: PlaybookRow, app: string, action?: string): boolean {
  return walkSteps((row.definition.steps ?? []) as StepDefinition[]).some(
    ({ step }) =>
      typeof step.action === 'string' &&
      (action ? step.action === `${app}.${action}` : step.action.startsWith(`${app}.`)),
  );
}

/** P1/P2 filters over the workspace's playbooks. */
async function filtered(
  services: Services,
  request: FastifyRequest,
  activeOnly: boolean,
): Promise<Record<string, unknown>[]> {
  const p = principalOf(request);
  const ctx = await context(services, p);
  const scheduled = flag(request, 'scheduled');
  const isActive = flag(request, 'is_active') ?? (activeOnly ? true : undefined);
  const label = text(request, 'labels');
  const tag = text(request, 'tags');
  // A tag by unique_id (Orchestrate) or by title.
  const tagTitle = tag && ([...ctx.tags.values()].find((t) => t.id === tag)?.title ?? tag);
  const modifiedSince = windowStart(request, 'modified');
  const q = text(request, 'q')?.toLowerCase();
  const id = text(request, 'unique_id') ?? text(request, 'readable_id');
  const { app, action } = await appFilter(services, p, text(request, 'apps'), text(request, 'actions'));
  const rows = (await services.runLogs.playbooks(p, id)).filter(
    (row) =>
      (isActive === undefined || (playbookStatus(row) === 'ACTIVE') === isActive) &&
      (scheduled === undefined ||
        ((row.definition.trigger as { type?: string }).type === 'schedule') === scheduled) &&
      (!label || playbookLabels(row.definition).includes(label)) &&
      (!tagTitle || row.tags.includes(tagTitle)) &&
      (!modifiedSince || row.updated_at >= modifiedSince) &&
      (!q || row.name.toLowerCase().includes(q)) &&
      (!app || usesApp(row, app, action)),
  );
  return rows.map((r) => playbookSummary(r, ctx));
}

const RunBody = Type.Object(
  {
    playbook_unique_id: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'unique_id or PLB readable id',
    }),
    data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    event: Type.Optional(Type.String({ format: 'uuid', description: 'run with a stored event' })),
    runLog: Type.Optional(Type.String({ format: 'uuid', description: "run with an earlier run's input" })),
    email_notification_details: Type.Optional(
      Type.Object({
        user_emails: Type.Optional(Type.Array(Type.String({ maxLength: 320 }), { maxItems: 100 })),
        from_email: Type.Optional(Type.String({ maxLength: 320 })),
        redirect_url: Type.Optional(Type.String({ maxLength: 2000 })),
      }),
    ),
  },
  { additionalProperties: false },
);

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const Uuid = Type.Object({ id: Type.String({ format: 'uuid' }) });

/** Orchestrate's playbooks and run logs (P1–P11) over workflows and executions. */
export function orchestratePlaybookRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    app.get('/v1/playbook/', { schema: { tags } }, async (request) =>
      paginate(request, await filtered(services, request, true)),
    );
    app.get('/v1/playbook/filter/', { schema: { tags } }, async (request) =>
      paginate(request, await filtered(services, request, false)),
    );
    app.get('/v1/playbook/export/:id/', { schema: { tags, params: Id } }, async (request) => {
      const p = principalOf(request);
      const row = await services.runLogs.playbook(p, request.params.id);
      return playbookExport(row, await context(services, p));
    });
    app.post('/v1/playbook/run/', { schema: { tags, body: RunBody } }, async (request) => {
      const p = principalOf(request);
      const b = request.body;
      if ([b.data, b.event, b.runLog].filter((v) => v !== undefined).length > 1)
        throw invalidArgument('data', 'give one of data, event and runLog');
      const playbook = await services.runLogs.playbook(p, b.playbook_unique_id);
      let inputs: unknown = b.data ?? {};
      const context: Record<string, unknown> = {};
      if (b.event) {
        const event = await services.events.row(p, b.event);
        inputs = eventPayload(event);
        Object.assign(context, {
          event_id: event.id,
          event_readable_id: eventReadableId(event.id),
          labels: event.labels,
        });
      }
      if (b.runLog) {
        inputs = (await services.executions.get(p, b.runLog)).input;
        context.rerun_of = b.runLog;
      }
      if (b.email_notification_details) context.email_notification_details = b.email_notification_details;
      const run = await services.executions.start(p, playbook.id, { inputs, context });
      return { playbook_result_unique_id: run.id };
    });

    app.get('/v1/playbook/playbook-result/', { schema: { tags } }, async (request) =>
      runLogs(services, request),
    );
    app.get('/v1/playbook/playbook-result/filter/', { schema: { tags } }, async (request) => {
      if (!text(request, 'playbook'))
        throw invalidArgument('playbook', 'playbook (the playbook unique_id) is required');
      return runLogs(services, request);
    });
    app.get('/v1/playbook/playbook-result/:id/', { schema: { tags, params: Id } }, async (request) => {
      const p = principalOf(request);
      const { run, steps, definition } = await services.runLogs.get(p, request.params.id);
      return runLogDetail(run, steps, definition, await context(services, p));
    });
    app.get('/v1/playbook/node-results/:id/', { schema: { tags, params: Id } }, async (request) => {
      const p = principalOf(request);
      const { run, step, definition } = await services.runLogs.nodeResult(p, request.params.id);
      return nodeResult(run, step, layout(definition, await context(services, p)));
    });
    app.get(
      '/v1/playbook/playbook-result/export/:id/',
      { schema: { tags, params: Uuid } },
      async (request) => {
        const field = exportField(request, ['initial_params', 'output', 'error']);
        const p = principalOf(request);
        await services.runLogs.get(p, request.params.id);
        return { file_url: fileUrl(services, p, 'run', request.params.id, field) };
      },
    );
    app.get('/v1/playbook/node-results/export/:id/', { schema: { tags, params: Id } }, async (request) => {
      const field = exportField(request, ['result', 'initial_params', 'error']);
      const p = principalOf(request);
      await services.runLogs.nodeResult(p, request.params.id);
      return { file_url: fileUrl(services, p, 'node', request.params.id, field) };
    });
    app.post(
      '/v1/playbook/playbook-result/bulk-terminate/',
      {
        schema: {
          tags,
          body: Type.Object(
            {
              playbook_result_unique_ids: Type.Array(Type.String({ format: 'uuid' }), {
                minItems: 1,
                maxItems: 100,
              }),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) =>
        services.runLogs.terminate(principalOf(request), request.body.playbook_result_unique_ids),
    );
  };
}

function exportField(request: FastifyRequest, allowed: string[]): string {
  const field = text(request, 'field');
  if (!field || !allowed.includes(field))
    throw invalidArgument('field', `field must be one of ${allowed.join(', ')}`);
  return field;
}

async function runLogs(services: Services, request: FastifyRequest): Promise<unknown> {
  const p = principalOf(request);
  const page = pageParams(request);
  const status = text(request, 'status');
  if (status && !(RUN_STATUSES as readonly string[]).includes(status))
    throw invalidArgument('status', `status must be one of ${RUN_STATUSES.join(', ')}`);
  const playbookStatus = text(request, 'playbook_status');
  if (playbookStatus && playbookStatus !== 'active' && playbookStatus !== 'inactive')
    throw invalidArgument('playbook_status', 'playbook_status must be active or inactive');
  const playbook = text(request, 'playbook');
  const workflowId = playbook ? (await services.runLogs.playbook(p, playbook)).id : undefined;
  const { app, action } = await appFilter(
    services,
    p,
    text(request, 'apps_list'),
    text(request, 'actions_list'),
  );
  const since = later(windowStart(request, 'run_at'), epoch(request, 'run_at__gte'));
  const until = epoch(request, 'run_at__lte');
  const { count, rows } = await services.runLogs.page(
    p,
    {
      workflowId,
      app,
      action,
      status: status as RunStatus | undefined,
      topLevel: flag(request, 'source_playbook_result__is_null'),
      since: since?.toISOString(),
      until: until?.toISOString(),
      ranBy: text(request, 'ran_by'),
      scheduled: flag(request, 'scheduled'),
      workflowActive: playbookStatus ? playbookStatus === 'active' : undefined,
    },
    { ordering: text(request, 'ordering', 50), offset: page.offset, limit: page.size },
  );
  const ctx = await context(services, p);
  return envelope(
    request,
    page,
    count,
    rows.map((r) => runLogSummary(r, ctx)),
  );
}
