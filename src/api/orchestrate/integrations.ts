import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { Principal } from '../../domain/actor.js';
import { invalidArgument, notFound } from '../../domain/errors.js';
import { stableId } from '../../domain/ids.js';
import type { AppView } from '../../services/apps.js';
import type { IntegrationView } from '../../services/integrations.js';
import { collectPages } from '../collect-pages.js';
import { packageUpload } from '../package-upload.js';
import { readPackage } from '../../integrations/apps/package.js';
import { principalOf } from '../plugins/auth.js';
import { epoch, flag, later, paginate, text, windowStart } from './paging.js';
import { walkSteps, type StepDefinition } from '../../domain/workflow/validate.js';

const slug = (a: AppView): string => `${a.identifier}_${a.version.replace(/\W/g, '_')}`;
const FIELD_TYPES: Record<string, string> = {
  string: 'text',
  url: 'text',
  integer: 'integer',
  number: 'float',
  boolean: 'boolean',
  string_list: 'list',
};
const STATUS: Record<string, string> = { success: 'SUCCESS', failed: 'FAIL', untested: 'UNTESTED' };

/** An app in the Orchestrate App object's shape. */
function who(name: string): Record<string, unknown> {
  return { display_name: name, full_name: name };
}

/**
 * An app in the Orchestrate App object's shape. Fields with no Osprey counterpart keep their
 * names with empty values: Cyware Agent (`lite_*`, agent versions), Python connector code
 * (`connector_code`, `python_class_name`: Osprey apps are YAML manifests, downloadable with I10),
 * logos, and a download counter (not kept).
 */
function appObject(
  a: AppView,
  instances: IntegrationView[],
  detail: boolean,
  usage: ReadonlyMap<string, number>,
): Record<string, unknown> {
  const [major, minor, patch] = a.version.split(/[.-]/);
  const mine = instances.filter((i) => i.app === a.identifier);
  const by = a.built_in ? 'Osprey' : (a.installed_by ?? '');
  return {
    unique_id: a.unique_id,
    title: a.title,
    description: a.description,
    app_identifier: a.identifier,
    app_slug: slug(a),
    connector_version: a.version,
    supported_versions: a.versions,
    major_version: Number(major),
    minor_version: Number(minor),
    patch_version: Number(patch),
    latest_installed_version: a.version,
    is_system: a.built_in,
    published_by: a.built_in ? 'Osprey' : (a.installed_by ?? ''),
    documentation_url: a.documentation_url,
    categories: a.categories.map((c) => ({ title: c, description: '', unique_id: stableId('category', c) })),
    config_template: a.configuration.map((f) => ({
      title: f.title,
      field_key: f.key,
      field_type: f.secret ? 'password' : (FIELD_TYPES[f.type] ?? 'text'),
      description: f.description,
      is_required: f.required,
      valid_file_type: [],
    })),
    actions_count: a.actions.length,
    instances_count: mine.length,
    total_instance_count: mine.length,
    is_installed: true,
    app_type: 'INSTALLED',
    is_active: true,
    is_configured: mine.length > 0,
    created_at: a.installed_at,
    modified_at: a.installed_at,
    created_by: by,
    modified_by: by,
    created_by_data: who(by),
    modified_by_data: who(by),
    published_date: a.installed_at,
    publisher_logo_url: null,
    logo: null,
    logo_url: null,
    download_counter: 0,
    playbook_count_all_versions: usage.get(a.identifier) ?? 0,
    all_installed_versions: a.versions.map((v) => ({
      connector_version: v,
      app_unique_id: a.unique_id,
      created_at: a.installed_at,
      modified_at: a.installed_at,
      app_identifier: a.identifier,
      version_status: [],
      is_configured: mine.length > 0,
      is_action_supported: true,
    })),
    package_hash: a.sha256,
    connector_code: null,
    python_class_name: null,
    lite_enabled: false,
    major_agent_version: null,
    minor_agent_version: null,
    patch_agent_version: null,
    ...(detail && {
      actions_data: a.actions.map((x) => actionObject(a, x)),
      appinstance_set_data: mine.map((i) => instanceObject(i, a)),
    }),
  };
}

function actionObject(a: AppView, x: AppView['actions'][number]): Record<string, unknown> {
  const params = (x.parameters ?? {}) as {
    properties?: Record<string, { type?: unknown; description?: string; enum?: unknown[] }>;
    required?: string[];
  };
  const returns = (x.returns ?? {}) as { properties?: Record<string, { description?: string }> };
  return {
    unique_id: stableId('action', a.identifier, a.version, x.name),
    title: x.title,
    description: x.description,
    action_identifier: x.name,
    app_identifier: a.identifier,
    app_unique_id: a.unique_id,
    app_slug: slug(a),
    connector_version: a.version,
    app_title: a.title,
    system_app: a.built_in,
    created_by: a.built_in ? 'Osprey' : (a.installed_by ?? ''),
    modified_by: a.built_in ? 'Osprey' : (a.installed_by ?? ''),
    created_at: a.installed_at,
    modified_at: a.installed_at,
    created_by_data: who(a.built_in ? 'Osprey' : (a.installed_by ?? '')),
    modified_by_data: who(a.built_in ? 'Osprey' : (a.installed_by ?? '')),
    accepted_params: Object.entries(params.properties ?? {}).map(([key, p]) => ({
      title: key,
      field_key: key,
      field_type: typeof p.type === 'string' ? p.type : 'any',
      description: p.description ?? '',
      is_required: (params.required ?? []).includes(key),
      options: p.enum ?? [],
      option_type: p.enum ? 'select' : '',
    })),
    return_values: Object.entries(returns.properties ?? {}).map(([key, r]) => ({
      title: key,
      description: r.description ?? '',
      data_source: key,
    })),
  };
}

function instanceObject(i: IntegrationView, a: AppView | undefined): Record<string, unknown> {
  return {
    unique_id: i.id,
    app_unique_id: a?.unique_id ?? null,
    title: i.display_name,
    slug: i.name,
    description: i.description,
    app_title: a?.title ?? i.app,
    connector_version: i.app_version ?? a?.version ?? null,
    created_at: i.created_at,
    modified_at: i.updated_at,
    created_by: i.created_by,
    modified_by: i.created_by,
    created_by_data: who(i.created_by),
    modified_by_data: who(i.created_by),
    is_default: i.is_default,
    expiry_date: i.expires_at,
    configuration: i.configuration,
    is_removed: false,
    connectivity_status: STATUS[i.connectivity.status] ?? 'UNTESTED',
    connectivity_message: i.connectivity.message,
    connectivity_detail: i.connectivity.message,
    status_code: null,
    tested_by: null,
    tested_by_data: null,
    tested_date: i.connectivity.tested_at,
    uploaded_file_data: [],
    expiry_mail_sent: false,
    on_lite: false,
    csol_lite_id: null,
    lite_model: null,
  };
}

function allInstances(services: Services, principal: Principal, app?: string): Promise<IntegrationView[]> {
  return collectPages('integrations', (page) => services.integrations.list(principal, { app, ...page }));
}

/** How many workflows' running definitions use each app. */
async function appUsage(services: Services, p: Principal): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const row of await services.runLogs.playbooks(p)) {
    const apps = new Set(
      walkSteps((row.definition.steps ?? []) as StepDefinition[])
        .map(({ step }) =>
          step.kind === 'action' && typeof step.action === 'string' ? step.action.split('.')[0] : '',
        )
        .filter((a): a is string => !!a),
    );
    for (const a of apps) counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return counts;
}

/** I1's filters: categories, is_configured, app_type, lite_enabled, created_at windows, ordering. */
function filterApps(request: FastifyRequest, apps: AppView[], instances: IntegrationView[]): AppView[] {
  const category = text(request, 'categories')?.toLowerCase();
  const configured = flag(request, 'is_configured');
  const lite = flag(request, 'lite_enabled');
  const type = text(request, 'app_type');
  if (type && !['INSTALLED', 'READY_TO_USE', 'IN_PROGRESS'].includes(type))
    throw invalidArgument('app_type', 'app_type must be INSTALLED, READY_TO_USE or IN_PROGRESS');
  const since = later(windowStart(request, 'created_at'), epoch(request, 'created_at__gte'));
  const until = epoch(request, 'created_at__lte');
  const ordering = text(request, 'ordering', 20);
  const key = ordering?.replace(/^-/, '');
  if (key && key !== 'title' && key !== 'modified_at')
    throw invalidArgument('ordering', 'ordering must be title or modified_at, with - to reverse');
  const installed = (a: AppView): Date | undefined => (a.installed_at ? new Date(a.installed_at) : undefined);
  const out = apps.filter(
    (a) =>
      (!category || a.categories.some((c) => c.toLowerCase() === category)) &&
      (configured === undefined || instances.some((i) => i.app === a.identifier) === configured) &&
      lite !== true &&
      type !== 'IN_PROGRESS' &&
      (!since || (installed(a) ?? new Date(0)) >= since) &&
      (!until || (installed(a) ?? new Date(0)) <= until),
  );
  if (key) {
    const value = (a: AppView): string => (key === 'title' ? a.title : (a.installed_at ?? ''));
    out.sort((x, y) => value(x).localeCompare(value(y)) * (ordering!.startsWith('-') ? -1 : 1));
  }
  return out;
}

async function appByUniqueId(services: Services, principal: Principal, id: string): Promise<AppView> {
  const found = (await services.apps.list(principal, {}, true)).find((a) => a.unique_id === id);
  if (!found) throw notFound('APP_NOT_FOUND', 'app', id);
  return found;
}

/** Cyware Orchestrate's Open API, integrations: apps, instances, actions, execute, download, import. */
export function orchestrateIntegrationRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['orchestrate'];
    const principal = (r: FastifyRequest): Principal => principalOf(r);

    app.get('/v1/integrations/apps/', { schema: { tags } }, async (request) => {
      const q = request.query as { q?: string; is_system?: string };
      const p = principal(request);
      const instances = await allInstances(services, p);
      const apps = await services.apps.list(p, {
        q: q.q,
        built_in: q.is_system === undefined ? undefined : q.is_system === 'true',
      });
      const usage = await appUsage(services, p);
      return paginate(
        request,
        filterApps(request, apps, instances).map((a) => appObject(a, instances, false, usage)),
      );
    });
    app.get(
      '/v1/integrations/apps/:id/',
      { schema: { tags, params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } },
      async (request) => {
        const p = principal(request);
        const a = await appByUniqueId(services, p, request.params.id);
        return appObject(a, await allInstances(services, p, a.identifier), true, await appUsage(services, p));
      },
    );
    app.get('/v1/integrations/app-instances/', { schema: { tags } }, async (request) => {
      const p = principal(request);
      const q = request.query as { app_unique_id?: string };
      const apps = await services.apps.list(p, {});
      const target = q.app_unique_id ? apps.find((a) => a.unique_id === q.app_unique_id) : undefined;
      if (q.app_unique_id && !target) throw notFound('APP_NOT_FOUND', 'app', q.app_unique_id);
      const instances = await allInstances(services, p, target?.identifier);
      return paginate(
        request,
        instances.map((i) =>
          instanceObject(
            i,
            apps.find((a) => a.identifier === i.app),
          ),
        ),
      );
    });
    app.post(
      '/v1/integrations/app-instances/',
      {
        schema: {
          tags,
          body: Type.Object({
            title: Type.String({ minLength: 1, maxLength: 200 }),
            app_unique_id: Type.String({ minLength: 1, maxLength: 100 }),
            is_default: Type.Optional(Type.Boolean()),
            description: Type.Optional(Type.String({ maxLength: 2000 })),
            configuration: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
            version_slug: Type.Optional(Type.String({ maxLength: 50 })),
            expiry_date: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
          }),
        },
      },
      async (request, reply) => {
        const p = principal(request);
        const b = request.body;
        const a = await appByUniqueId(services, p, b.app_unique_id);
        const created = await services.integrations.create(p, {
          app: a.identifier,
          display_name: b.title,
          description: b.description,
          is_default: b.is_default,
          configuration: b.configuration,
          app_version: a.built_in ? null : (b.version_slug ?? null),
          expires_at: b.expiry_date,
        });
        return reply.status(201).send(instanceObject(created, a));
      },
    );
    const Instance = { schema: { tags, params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } };
    app.get('/v1/integrations/apps-instances/:id/', Instance, async (request) => {
      const p = principal(request);
      const i = await services.integrations.get(p, request.params.id);
      return instanceObject(
        i,
        (await services.apps.list(p, {})).find((a) => a.identifier === i.app),
      );
    });
    app.get('/v1/integrations/apps-instances/test-connectivity/:id/', Instance, async (request) => {
      const p = principal(request);
      const i = await services.integrations.get(p, request.params.id);
      const c = await services.integrations.test(p, i.id);
      return {
        connectivity_message: c.message,
        connectivity_status: c.status === 'success' ? 'SUCCESS' : 'FAIL',
        connectivity_detail: c.error_code ?? '',
        tested_by: p.actor.email || p.actor.name,
        tested_date: c.tested_at,
        title: i.display_name,
        status_code: c.status === 'success' ? 200 : 400,
        is_lite: false,
        unique_id: i.id,
        tested_by_data: { display_name: p.actor.name, email: p.actor.email },
      };
    });
    app.get('/v1/integrations/app-actions/', { schema: { tags } }, async (request) => {
      const p = principal(request);
      const q = request.query as { app_unique_id?: string };
      const apps = q.app_unique_id
        ? [await appByUniqueId(services, p, q.app_unique_id)]
        : await services.apps.list(p, {}, true);
      return paginate(
        request,
        apps.flatMap((a) => a.actions.map((x) => actionObject(a, x))),
      );
    });
    app.get(
      '/v1/integrations/app-actions/:id/',
      { schema: { tags, params: Type.Object({ id: Type.String({ maxLength: 100 }) }) } },
      async (request) => {
        const p = principal(request);
        for (const a of await services.apps.list(p, {}, true)) {
          const x = a.actions.find(
            (y) => stableId('action', a.identifier, a.version, y.name) === request.params.id,
          );
          if (x) return actionObject(a, x);
        }
        throw notFound('ACTION_NOT_FOUND', 'action', request.params.id);
      },
    );
    app.post(
      '/v1/integrations/actions/execute/',
      {
        schema: {
          tags,
          body: Type.Object({
            app_identifier: Type.String({ minLength: 1, maxLength: 40 }),
            action_identifier: Type.String({ minLength: 1, maxLength: 100 }),
            action_params: Type.Record(Type.String(), Type.Unknown()),
            app_instance_slug: Type.String({ minLength: 1, maxLength: 100 }),
          }),
        },
      },
      async (request) => {
        const p = principal(request);
        const b = request.body;
        const i = await services.integrations.get(p, b.app_instance_slug);
        if (i.app !== b.app_identifier)
          throw invalidArgument(
            'app_instance_slug',
            `instance "${i.name}" is of app ${i.app}, not ${b.app_identifier}`,
          );
        const r = await services.integrations.execute(p, i.id, {
          action: b.action_identifier,
          params: b.action_params,
        });
        return r.status === 'succeeded'
          ? { result: { result: r.output, status_code: 200 }, execution_status: 'SUCCESS' }
          : { result: { result: r.error, status_code: 400 }, execution_status: 'ERROR' };
      },
    );
    app.post('/v1/integrations/apps/import/', { schema: { tags } }, async (request) => {
      const p = principal(request);
      const archive = await packageUpload(request, 'module');
      const installed = await services.apps.install(p, archive);
      // As Orchestrate: the package's files as a JSON string map (text files; a logo is left out).
      const unpacked = readPackage(archive);
      const files: Record<string, string> = { 'manifest.yaml': unpacked.manifestText ?? '' };
      for (const [name, bytes] of unpacked.files) {
        const text = new TextDecoder('utf-8', { fatal: true });
        try {
          files[name] = text.decode(bytes);
        } catch {
          // binary
        }
      }
      return { ...appObject(installed, [], true, new Map()), connector_code: JSON.stringify(files) };
    });
    app.get(
      '/v1/integrations/apps/download/:slug/',
      { schema: { tags, params: Type.Object({ slug: Type.String({ maxLength: 100 }) }) } },
      async (request, reply) => {
        const p = principal(request);
        const a = (await services.apps.list(p, {})).find((x) => slug(x) === request.params.slug);
        if (!a) throw notFound('APP_NOT_FOUND', 'app', request.params.slug);
        const zip = await services.apps.download(p, a.identifier, a.version);
        return reply
          .header('content-type', 'application/zip')
          .header('content-disposition', `attachment; filename="${request.params.slug}.zip"`)
          .send(zip);
      },
    );
  };
}
