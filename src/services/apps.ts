import { createHash } from 'node:crypto';
import type { Principal } from '../domain/actor.js';
import { parseManifest, type AppManifest } from '../domain/apps/manifest.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, notFound, OspreyError } from '../domain/errors.js';
import { newId, stableId } from '../domain/ids.js';
import type { AppCatalogue, InstalledApp } from '../integrations/apps/catalogue.js';
import { readPackage, writePackage } from '../integrations/apps/package.js';
import { compareVersions } from '../integrations/apps/semver.js';
import { appPackageArchive, deleteAppPackage, insertAppPackage } from '../store/app-packages.js';
import type { Database } from '../store/database.js';
import { countIntegrationsUsing } from '../store/integrations.js';
import { UniqueViolation } from '../store/pg-errors.js';
import type { AuditService } from './audit.js';

export interface ActionView {
  name: string;
  /** What a workflow step names: "app.action". */
  action: string;
  title: string;
  description: string;
  parameters?: Record<string, unknown>;
  returns?: Record<string, unknown>;
}

export interface AppView {
  /** The installed package's id, or a stable id for a built-in app version. */
  unique_id: string;
  identifier: string;
  version: string;
  versions: string[];
  title: string;
  description: string;
  categories: string[];
  documentation_url: string | null;
  built_in: boolean;
  configuration: {
    key: string;
    title: string;
    type: string;
    secret: boolean;
    required: boolean;
    default?: unknown;
    description: string;
    enum?: unknown[];
  }[];
  actions: ActionView[];
  installed_at: string | null;
  installed_by: string | null;
  sha256: string | null;
}

export function appView(app: InstalledApp, versions: string[], detail: boolean): AppView {
  const m = app.manifest;
  return {
    unique_id: app.installed?.id ?? stableId('app', m.identifier, m.version),
    identifier: m.identifier,
    version: m.version,
    versions,
    title: m.title,
    description: m.description ?? '',
    categories: m.categories ?? [],
    documentation_url: m.documentation_url ?? null,
    built_in: app.builtIn,
    configuration: Object.entries(m.configuration ?? {}).map(([key, f]) => ({
      key,
      title: f.title,
      type: f.type,
      secret: f.secret ?? false,
      required: (f.required ?? false) && f.default === undefined,
      ...(f.default !== undefined && { default: f.default }),
      description: f.description ?? '',
      ...(f.enum && { enum: f.enum }),
    })),
    actions: Object.entries(m.actions).map(([name, a]) => ({
      name,
      action: `${m.identifier}.${name}`,
      title: a.title,
      description: a.description ?? '',
      ...(detail && a.parameters && { parameters: a.parameters }),
      ...(detail && a.returns && { returns: a.returns }),
    })),
    installed_at: app.installed?.created_at.toISOString() ?? null,
    installed_by: app.installed?.created_by ?? null,
    sha256: app.installed?.sha256 ?? null,
  };
}

export interface AppServiceDeps {
  db: Database;
  audit: AuditService;
  catalogue: AppCatalogue;
}

/** The app catalogue: built-in apps and the custom app packages a workspace installed. */
export class AppService {
  constructor(private readonly deps: AppServiceDeps) {}

  /** The newest version of every app, filtered; `detail` adds each action's schemas. */
  async list(
    principal: Principal,
    query: { q?: string | undefined; category?: string | undefined; built_in?: boolean | undefined },
    detail = false,
  ): Promise<AppView[]> {
    authorize(principal, 'apps.read');
    const byId = groupVersions(await this.deps.catalogue.list(principal.workspaceId));
    const q = query.q?.toLowerCase();
    return [...byId.values()]
      .map(({ latest, versions }) => appView(latest, versions, detail))
      .filter(
        (a) =>
          (!q ||
            a.identifier.includes(q) ||
            a.title.toLowerCase().includes(q) ||
            a.description.toLowerCase().includes(q)) &&
          (!query.category || a.categories.some((c) => c.toLowerCase() === query.category!.toLowerCase())) &&
          (query.built_in === undefined || a.built_in === query.built_in),
      )
      .sort((a, b) => a.identifier.localeCompare(b.identifier));
  }

  async get(principal: Principal, identifier: string, version?: string): Promise<AppView> {
    authorize(principal, 'apps.read');
    const all = groupVersions(await this.deps.catalogue.list(principal.workspaceId)).get(identifier);
    const app = version ? all?.all.find((a) => a.manifest.version === version) : all?.latest;
    if (!all || !app)
      throw notFound('APP_NOT_FOUND', 'app', version ? `${identifier} ${version}` : identifier);
    return appView(app, all.versions, true);
  }

  /** Installs a custom app package (ZIP); every problem found is named. */
  async install(principal: Principal, archive: Buffer): Promise<AppView> {
    authorize(principal, 'apps.manage');
    const pkg = readPackage(archive);
    const problems = [...pkg.problems];
    let manifest: AppManifest | undefined;
    if (pkg.manifestText !== undefined) {
      const parsed = parseManifest(pkg.manifestText, {
        files: new Set(pkg.files.keys()),
        reserved: this.deps.catalogue.builtInIdentifiers,
      });
      manifest = parsed.manifest;
      for (const p of parsed.problems)
        problems.push({
          field: `manifest.yaml${p.path ? `:${p.path}` : ''}`,
          message: p.line ? `line ${p.line}: ${p.message}` : p.message,
        });
    }
    for (const [name, data] of pkg.files)
      if (name.endsWith('.js') && !isUtf8(data))
        problems.push({ field: name, message: 'code files must be UTF-8 text' });
    if (problems.length || !manifest)
      throw new OspreyError(
        'APP_PACKAGE_INVALID',
        400,
        `the app package has ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
        { details: problems.map((p) => ({ field: p.field, message: p.message })) },
      );
    const m = manifest;
    const id = newId();
    const sha256 = createHash('sha256').update(archive).digest('hex');
    await this.deps.db.transaction(async (tx) => {
      await insertAppPackage(tx, {
        id,
        workspace_id: principal.workspaceId,
        identifier: m.identifier,
        version: m.version,
        title: m.title,
        manifest: m,
        package: archive,
        sha256,
        created_by: principal.actor.email,
      }).catch((e: unknown) => {
        if (e instanceof UniqueViolation)
          throw conflict(
            'APP_VERSION_EXISTS',
            `${m.identifier} ${m.version} is already installed; raise the version to install a change`,
            'version',
          );
        throw e;
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.customStepCreated,
        resourceId: id,
        resourceName: `${m.identifier} ${m.version}`,
        extraData: { app: m.identifier, version: m.version, sha256, actions: Object.keys(m.actions) },
      });
    });
    this.deps.catalogue.invalidate(principal.workspaceId);
    return this.get(principal, m.identifier, m.version);
  }

  /** The package of an app version: a custom app's archive as installed, or a built-in app's files. */
  async download(principal: Principal, identifier: string, version: string): Promise<Buffer> {
    authorize(principal, 'apps.read');
    const builtIn = this.deps.catalogue.builtIn(identifier);
    if (builtIn) {
      if (builtIn.manifest.version !== version)
        throw notFound('APP_NOT_FOUND', 'app', `${identifier} ${version}`);
      return writePackage(builtIn.files);
    }
    const archive = await appPackageArchive(this.deps.db, principal.workspaceId, identifier, version);
    if (!archive) throw notFound('APP_NOT_FOUND', 'app', `${identifier} ${version}`);
    return archive;
  }

  /** Removes a custom app version no integration depends on. */
  async delete(principal: Principal, identifier: string, version: string): Promise<void> {
    authorize(principal, 'apps.manage');
    if (this.deps.catalogue.builtIn(identifier))
      throw new OspreyError('APP_IN_USE', 409, 'built-in apps cannot be removed', {
        details: [{ field: 'identifier', message: 'a built-in app' }],
      });
    const versions = (await this.deps.catalogue.list(principal.workspaceId)).filter(
      (a) => a.manifest.identifier === identifier,
    );
    await this.deps.db.transaction(async (tx) => {
      const pinned = await countIntegrationsUsing(tx, principal.workspaceId, identifier, version);
      const following =
        versions.length === 1
          ? await countIntegrationsUsing(tx, principal.workspaceId, identifier, null)
          : [];
      const users = [...pinned, ...following].map((r) => r.name);
      if (users.length)
        throw new OspreyError(
          'APP_IN_USE',
          409,
          `${identifier} ${version} is used by integration${users.length === 1 ? '' : 's'} ${users.join(', ')}; delete or move them first`,
          { details: users.map((u) => ({ field: 'integrations', message: u })) },
        );
      if (!(await deleteAppPackage(tx, principal.workspaceId, identifier, version)))
        throw notFound('APP_NOT_FOUND', 'app', `${identifier} ${version}`);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.customStepDeleted,
        resourceId: versions.find((v) => v.manifest.version === version)?.installed?.id ?? identifier,
        resourceName: `${identifier} ${version}`,
        extraData: { app: identifier, version },
      });
    });
    this.deps.catalogue.invalidate(principal.workspaceId);
  }
}

function groupVersions(
  apps: InstalledApp[],
): Map<string, { latest: InstalledApp; versions: string[]; all: InstalledApp[] }> {
  const out = new Map<string, { latest: InstalledApp; versions: string[]; all: InstalledApp[] }>();
  for (const app of apps) {
    const id = app.manifest.identifier;
    const entry = out.get(id);
    if (!entry) out.set(id, { latest: app, versions: [app.manifest.version], all: [app] });
    else {
      entry.all.push(app);
      entry.versions.push(app.manifest.version);
      if (compareVersions(app.manifest.version, entry.latest.manifest.version) > 0) entry.latest = app;
    }
  }
  for (const e of out.values()) e.versions.sort((a, b) => compareVersions(b, a));
  return out;
}

function isUtf8(data: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(data);
    return true;
  } catch {
    return false;
  }
}
