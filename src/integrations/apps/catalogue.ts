import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { parameterAjv, parseManifest, type AppManifest } from '../../domain/apps/manifest.js';
import type { ActionShape } from '../../domain/workflow/validate.js';
import type { Database } from '../../store/database.js';
import { appPackageArchive, appPackages, type AppPackageRow } from '../../store/app-packages.js';
import { readPackage } from './package.js';
import { compareVersions } from './semver.js';

/** An app this workspace can use: a built-in one, or a custom app version it installed. */
export interface InstalledApp {
  manifest: AppManifest;
  builtIn: boolean;
  /** The package's files (code actions, logo, readme), by path. */
  files: ReadonlyMap<string, Uint8Array>;
  installed?: { id: string; created_at: Date; created_by: string; sha256: string };
  /** Compiled parameter schemas, by action. */
  validators: Map<string, ValidateFunction>;
}

/** The built-in apps' folder: apps/ at the repository root (the same from src/ and dist/). */
export const BUILT_IN_APPS_DIR = fileURLToPath(new URL('../../../apps/', import.meta.url));

const CACHE_MS = 3000;

/**
 * The apps each workspace can use. Built-in manifests load once at start (an invalid one stops the
 * start); custom apps load per workspace from the database and are cached for a few seconds.
 */
export class AppCatalogue {
  readonly #builtIns = new Map<string, InstalledApp>();
  readonly #custom = new Map<string, { at: number; apps: Promise<InstalledApp[]> }>();
  readonly #generations = new Map<string, number>();
  readonly #loaded = new Map<string, InstalledApp>();

  constructor(
    private readonly db: Database,
    handlers: ReadonlySet<string>,
    dir: string = BUILT_IN_APPS_DIR,
  ) {
    for (const name of readdirSync(dir).sort()) {
      const folder = join(dir, name);
      if (!statSync(folder).isDirectory()) continue;
      const files = new Map<string, Uint8Array>();
      for (const f of readdirSync(folder, { recursive: true, encoding: 'utf8' })) {
        const path = join(folder, f);
        if (statSync(path).isFile()) files.set(f.split('\\').join('/'), readFileSync(path));
      }
      const text = files.get('manifest.yaml');
      if (!text) continue;
      const { manifest, problems } = parseManifest(new TextDecoder().decode(text), {
        files: new Set(files.keys()),
        handlers,
      });
      if (!manifest)
        throw new Error(
          `apps/${name}/manifest.yaml is invalid: ${problems.map((p) => `${p.path} (line ${p.line}): ${p.message}`).join('; ')}`,
        );
      this.#builtIns.set(manifest.identifier, { manifest, builtIn: true, files, validators: new Map() });
    }
  }

  get builtInIdentifiers(): ReadonlySet<string> {
    return new Set(this.#builtIns.keys());
  }

  builtIn(identifier: string): InstalledApp | undefined {
    return this.#builtIns.get(identifier);
  }

  /** Every app version the workspace can use: built-ins first, then custom apps by identifier. */
  async list(workspaceId: string): Promise<InstalledApp[]> {
    return [...this.#builtIns.values(), ...(await this.#customApps(workspaceId))];
  }

  /** The app version an integration or step uses: the pinned version, else the newest installed. */
  async resolve(
    workspaceId: string,
    identifier: string,
    version?: string | null,
  ): Promise<InstalledApp | undefined> {
    const builtIn = this.#builtIns.get(identifier);
    if (builtIn) return !version || version === builtIn.manifest.version ? builtIn : undefined;
    const versions = (await this.#customApps(workspaceId)).filter(
      (a) => a.manifest.identifier === identifier,
    );
    if (version) return versions.find((a) => a.manifest.version === version);
    return versions.sort((a, b) => compareVersions(b.manifest.version, a.manifest.version))[0];
  }

  /** The compiled parameter schema of an action (applies defaults in place). */
  validator(app: InstalledApp, action: string): ValidateFunction | undefined {
    let v = app.validators.get(action);
    const schema = app.manifest.actions[action]?.parameters;
    if (!v && schema) {
      v = parameterAjv.compile(schema);
      app.validators.set(action, v);
    }
    return v;
  }

  /**
   * Every action the workspace can use ("app.action") with its parameters' shape, for validating
   * workflow steps. An app with several versions contributes its newest version's shape.
   */
  async actionShapes(workspaceId: string): Promise<Map<string, ActionShape>> {
    const shapes = new Map<string, ActionShape>();
    const apps = (await this.list(workspaceId)).sort((a, b) =>
      compareVersions(a.manifest.version, b.manifest.version),
    );
    for (const app of apps)
      for (const [name, action] of Object.entries(app.manifest.actions)) {
        const p = action.parameters as
          | { required?: unknown; properties?: Record<string, unknown>; additionalProperties?: unknown }
          | undefined;
        const required = Array.isArray(p?.required) ? (p.required as string[]) : [];
        const known =
          p?.additionalProperties === false && p.properties ? Object.keys(p.properties) : undefined;
        shapes.set(`${app.manifest.identifier}.${name}`, { required, ...(known && { known }) });
      }
    return shapes;
  }

  /** Forgets a workspace's custom apps, after an install or a delete. */
  invalidate(workspaceId: string): void {
    this.#custom.delete(workspaceId);
    this.#generations.set(workspaceId, this.generation(workspaceId) + 1);
  }

  /** Changes each time this process installs or removes a custom app of the workspace. */
  generation(workspaceId: string): number {
    return this.#generations.get(workspaceId) ?? 0;
  }

  async #customApps(workspaceId: string): Promise<InstalledApp[]> {
    const hit = this.#custom.get(workspaceId);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.apps;
    const apps = this.#loadCustom(workspaceId);
    this.#custom.set(workspaceId, { at: Date.now(), apps });
    apps.catch(() => this.#custom.delete(workspaceId));
    return apps;
  }

  async #loadCustom(workspaceId: string): Promise<InstalledApp[]> {
    const rows = await appPackages(this.db, workspaceId);
    return Promise.all(rows.map((row) => this.#installed(workspaceId, row)));
  }

  /** A package already loaded (same id and hash) is reused, with its compiled validators. */
  async #installed(workspaceId: string, row: AppPackageRow): Promise<InstalledApp> {
    const known = this.#loaded.get(row.id);
    if (known?.installed?.sha256 === row.sha256) return known;
    const app = await this.#load(workspaceId, row);
    if (this.#loaded.size > 2000) this.#loaded.clear();
    this.#loaded.set(row.id, app);
    return app;
  }

  async #load(workspaceId: string, row: AppPackageRow): Promise<InstalledApp> {
    const manifest = row.manifest as AppManifest;
    const needsFiles = Object.values(manifest.actions).some((a) => a.code) || manifest.logo;
    let files = new Map<string, Uint8Array>();
    if (needsFiles) {
      const archive = await appPackageArchive(this.db, workspaceId, row.identifier, row.version);
      if (archive) files = readPackage(archive).files;
    }
    return {
      manifest,
      builtIn: false,
      files,
      installed: { id: row.id, created_at: row.created_at, created_by: row.created_by, sha256: row.sha256 },
      validators: new Map(),
    };
  }
}
