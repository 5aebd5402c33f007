import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Principal } from '../domain/actor.js';
import { fitsType, secretFields, type AppManifest } from '../domain/apps/manifest.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound, OspreyError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { isSlug, slugify } from '../domain/slug.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { ActionError, type ActionRunner } from '../integrations/action-error.js';
import type { AppRuntime } from '../integrations/apps/app-runtime.js';
import type { AppCatalogue, InstalledApp } from '../integrations/apps/catalogue.js';
import type { Database } from '../store/database.js';
import {
  defaultIntegration,
  deleteIntegration,
  insertIntegration,
  integrationByRef,
  integrationsPage,
  recordConnectivity,
  releaseRateSlot,
  takeRateSlot,
  touchIntegration,
  updateIntegration,
  type IntegrationFields,
  type IntegrationRow,
} from '../store/integrations.js';
import { UniqueViolation } from '../store/pg-errors.js';
import { workspaceAllowedNetworks } from '../store/workspaces.js';
import type { AuditService } from './audit.js';
import { rowAad, type Keyring } from './keyring.js';
import { pageByName } from './name-paging.js';

/** How a secret field reads back; sending it back in an update keeps the stored value. */
export const SECRET_MASK = '********';
const RESOLVED_CACHE_MS = 2000;

export interface IntegrationView {
  id: string;
  name: string;
  display_name: string;
  description: string;
  app: string;
  app_version: string | null;
  configuration: Record<string, unknown>;
  is_default: boolean;
  expires_at: string | null;
  expired: boolean;
  allowed_networks: string[];
  verify_tls: boolean;
  timeout_seconds: number;
  retries: number;
  rate_limit: { requests: number; per_seconds: number } | null;
  connectivity: { status: string; message: string; tested_at: string | null };
  last_used_at: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
}

export interface IntegrationInput {
  name?: string | undefined;
  display_name?: string | undefined;
  description?: string | undefined;
  app?: string | undefined;
  app_version?: string | null | undefined;
  configuration?: Record<string, unknown> | undefined;
  is_default?: boolean | undefined;
  expires_at?: string | null | undefined;
  allowed_networks?: string[] | undefined;
  verify_tls?: boolean | undefined;
  timeout_seconds?: number | undefined;
  retries?: number | undefined;
  rate_limit?: { requests: number; per_seconds: number } | null | undefined;
}

/** What running an action needs from an integration, decrypted. */
interface Resolved {
  workspaceId: string;
  row: IntegrationRow | undefined;
  app: InstalledApp;
  config: Record<string, unknown>;
  secretKeys: string[];
  allow: string[];
  at: number;
  /** The catalogue's generation for the workspace when resolved: an install or removal invalidates. */
  generation: number;
}

export interface IntegrationServiceDeps {
  db: Database;
  keyring: Keyring;
  audit: AuditService;
  pageTokens: PageTokenCodec;
  catalogue: AppCatalogue;
  runtime: AppRuntime;
}

function toView(row: IntegrationRow, now = Date.now()): IntegrationView {
  // Secret fields that are set read as the mask; those never set are absent.
  const configuration: Record<string, unknown> = { ...row.configuration };
  for (const key of row.secret_keys) configuration[key] = SECRET_MASK;
  return {
    id: row.id,
    name: row.name,
    display_name: row.display_name,
    description: row.description,
    app: row.app,
    app_version: row.app_version,
    configuration,
    is_default: row.is_default,
    expires_at: row.expires_at?.toISOString() ?? null,
    expired: row.expires_at !== null && row.expires_at.getTime() <= now,
    allowed_networks: row.allowed_networks,
    verify_tls: row.verify_tls,
    timeout_seconds: Math.round(row.timeout_ms / 1000),
    retries: row.retries,
    rate_limit:
      row.rate_requests && row.rate_seconds
        ? { requests: row.rate_requests, per_seconds: row.rate_seconds }
        : null,
    connectivity: {
      status: row.connectivity_status,
      message: row.connectivity_message,
      tested_at: row.tested_at?.toISOString() ?? null,
    },
    last_used_at: row.last_used_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    updated_at: row.updated_at.toISOString(),
  };
}

/** A CIDR ("10.0.0.0/8", "2001:db8::/32") or a single address. */
export function checkCidrs(field: string, values: readonly string[]): void {
  values.forEach((v, i) => {
    const [net, bits, extra] = v.split('/');
    const family = isIP(net ?? '');
    const max = family === 6 ? 128 : 32;
    const ok =
      family !== 0 &&
      extra === undefined &&
      (bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max));
    if (!ok) throw invalidArgument(`${field}[${i}]`, `"${v}" is not an IP address or CIDR range`);
  });
}

/**
 * Integrations: configured instances of apps. Secret configuration fields are sealed with the
 * keyring, never returned (masked), and scrubbed from everything an action returns.
 */
export class IntegrationService implements ActionRunner {
  readonly #resolved = new Map<string, Resolved>();
  readonly #touched = new Map<string, number>();

  constructor(private readonly deps: IntegrationServiceDeps) {}

  async create(principal: Principal, input: IntegrationInput): Promise<IntegrationView> {
    authorize(principal, 'integrations.manage');
    if (!input.app) throw invalidArgument('app', 'app is required');
    const app = await this.#app(principal.workspaceId, input.app, input.app_version ?? null);
    const name = input.name ?? slugify(input.display_name ?? '', 63);
    checkName(name);
    const id = newId();
    const { config, secrets } = splitConfiguration(app.manifest, {}, {}, input.configuration ?? {});
    const fields = this.#fields(id, name, input, undefined, config, secrets);
    return this.deps.db.transaction(async (tx) => {
      const row = await insertIntegration(tx, {
        ...fields,
        id,
        workspace_id: principal.workspaceId,
        app: input.app!,
        created_by: principal.actor.email,
      }).catch((e: unknown) => {
        throw nameTaken(e, name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.integrationCreated,
        resourceId: id,
        resourceName: name,
        extraData: { app: row.app, app_version: row.app_version },
      });
      return toView(row);
    });
  }

  async list(
    principal: Principal,
    query: { app?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ integrations: IntegrationView[]; next_page_token?: string }> {
    authorize(principal, 'integrations.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `integrations:${principal.workspaceId}:${query.app ?? ''}`,
      query,
      (after, limit) =>
        integrationsPage(this.deps.db, principal.workspaceId, { app: query.app }, after, limit),
    );
    return { integrations: rows.map((row) => toView(row)), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<IntegrationView> {
    authorize(principal, 'integrations.read');
    return toView(await this.#row(principal.workspaceId, ref));
  }

  async update(principal: Principal, ref: string, patch: IntegrationInput): Promise<IntegrationView> {
    authorize(principal, 'integrations.manage');
    if (patch.app !== undefined) throw invalidArgument('app', 'the app of an integration cannot change');
    return this.deps.db.transaction(async (tx) => {
      const before = await integrationByRef(tx, principal.workspaceId, ref, true);
      if (!before) throw notFound('INTEGRATION_NOT_FOUND', 'integration', ref);
      const version = patch.app_version !== undefined ? patch.app_version : before.app_version;
      const app = await this.#app(principal.workspaceId, before.app, version);
      const oldSecrets = before.secrets_encrypted
        ? (JSON.parse(
            await this.deps.keyring.decrypt(
              before.secrets_encrypted,
              before.secrets_key_version!,
              rowAad('integrations', before.id),
            ),
          ) as Record<string, unknown>)
        : {};
      const { config, secrets } = splitConfiguration(
        app.manifest,
        before.configuration,
        oldSecrets,
        patch.configuration ?? {},
      );
      const name = patch.name ?? before.name;
      checkName(name);
      const fields = this.#fields(
        before.id,
        name,
        { ...patch, app_version: version },
        before,
        config,
        secrets,
      );
      const row = await updateIntegration(tx, principal.workspaceId, before.id, before.app, fields).catch(
        (e: unknown) => {
          throw nameTaken(e, name);
        },
      );
      const changed = Object.keys(patch).filter((k) => patch[k as keyof IntegrationInput] !== undefined);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.integrationUpdated,
        resourceId: row.id,
        resourceName: row.name,
        extraData: {
          changed_fields: changed,
          ...(patch.configuration && { changed_configuration: Object.keys(patch.configuration) }),
        },
      });
      this.#forget(before);
      return toView(row);
    });
  }

  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'integrations.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await integrationByRef(tx, principal.workspaceId, ref, true);
      if (!row) throw notFound('INTEGRATION_NOT_FOUND', 'integration', ref);
      await deleteIntegration(tx, principal.workspaceId, row.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.integrationDeleted,
        resourceId: row.id,
        resourceName: row.name,
        extraData: { app: row.app },
      });
      this.#forget(row);
    });
  }

  /** Tests connectivity and records the result on the integration. */
  async test(
    principal: Principal,
    ref: string,
  ): Promise<{ status: 'success' | 'failed'; message: string; tested_at: string; error_code?: string }> {
    authorize(principal, 'integrations.execute');
    const row = await this.#row(principal.workspaceId, ref);
    let status: 'success' | 'failed' = 'success';
    let message = 'connected';
    let code: string | undefined;
    try {
      const r = await this.#resolve(principal.workspaceId, row.app, row.name, true);
      const result = await this.deps.runtime.test({ ...this.#call(r), signal: AbortSignal.timeout(60_000) });
      if (result.status_code) message = `connected (HTTP ${result.status_code})`;
    } catch (error) {
      status = 'failed';
      message = error instanceof Error ? error.message : String(error);
      code = error instanceof ActionError ? error.code : 'ACTION_FAILED';
    }
    const at = await recordConnectivity(this.deps.db, row.id, status, message);
    return { status, message, tested_at: at.toISOString(), ...(code && { error_code: code }) };
  }

  /** Runs one action synchronously for a user (the API's execute). */
  async execute(
    principal: Principal,
    ref: string,
    input: { action: string; params?: unknown },
  ): Promise<
    | { status: 'succeeded'; output: unknown; duration_ms: number }
    | { status: 'failed'; error: { code: string; message: string }; duration_ms: number }
  > {
    authorize(principal, 'integrations.execute');
    const row = await this.#row(principal.workspaceId, ref);
    const app = await this.#app(principal.workspaceId, row.app, row.app_version);
    const action = input.action.startsWith(`${row.app}.`)
      ? input.action.slice(row.app.length + 1)
      : input.action;
    if (!app.manifest.actions[action])
      throw new OspreyError('ACTION_NOT_FOUND', 404, `${row.app} has no action "${input.action}"`, {
        details: [{ field: 'action', message: `no action "${input.action}" in ${row.app}` }],
      });
    const started = performance.now();
    try {
      const output = await this.run(`${row.app}.${action}`, input.params ?? {}, {
        signal: AbortSignal.timeout(Math.max(row.timeout_ms, 1000) * (row.retries + 1) + 5000),
        workspaceId: principal.workspaceId,
        integration: row.id,
      });
      return { status: 'succeeded', output, duration_ms: Math.round(performance.now() - started) };
    } catch (error) {
      if (error instanceof ActionError && error.code === 'INVALID_INPUT' && error.details?.length)
        throw new OspreyError('INVALID_ARGUMENT', 400, error.message, {
          details: error.details.map((d) => ({
            field: d.field ? `params.${d.field}` : 'params',
            message: d.message,
          })),
        });
      const e = error as { code?: unknown; message?: unknown };
      return {
        status: 'failed',
        error: {
          code: typeof e.code === 'string' ? e.code : 'ACTION_FAILED',
          message: typeof e.message === 'string' ? e.message : String(error),
        },
        duration_ms: Math.round(performance.now() - started),
      };
    }
  }

  /** The engine's entry point: `action` is "app.action", `integration` a name or id (or the default). */
  async run(
    action: string,
    input: unknown,
    options: { signal: AbortSignal; workspaceId: string; integration?: string | undefined },
  ): Promise<unknown> {
    const dot = action.indexOf('.');
    const appId = dot > 0 ? action.slice(0, dot) : action;
    const name = action.slice(dot + 1);
    const unavailable = (): ActionError =>
      new ActionError('ACTION_UNAVAILABLE', `no installed app provides "${action}"`);
    const newest = await this.deps.catalogue.resolve(options.workspaceId, appId);
    if (!newest?.manifest.actions[name] && !options.integration) throw unavailable();
    const r = await this.#resolve(options.workspaceId, appId, options.integration, false);
    if (!r.app.manifest.actions[name]) throw unavailable();
    const call = this.#call(r);
    let timeoutMs = call.timeoutMs;
    if (r.row?.rate_requests) {
      const wait = await takeRateSlot(this.deps.db, r.row.id);
      if (wait >= timeoutMs) {
        await releaseRateSlot(this.deps.db, r.row.id);
        throw new ActionError(
          'STEP_TIMEOUT',
          `the rate limit of integration "${r.row.name}" would hold this call ${Math.ceil(wait / 1000)} s, longer than its ${Math.round(timeoutMs / 1000)} s timeout`,
        );
      }
      // The wait counts in the integration's timeout.
      if (wait > 0) await sleep(wait, undefined, { signal: options.signal });
      timeoutMs -= wait;
    }
    if (r.row) this.#touch(r.row.id);
    return this.deps.runtime.execute({
      ...call,
      timeoutMs,
      action: name,
      params: input,
      signal: options.signal,
    });
  }

  #call(r: Resolved): Omit<Parameters<AppRuntime['execute']>[0], 'action' | 'params' | 'signal'> {
    return {
      app: r.app,
      config: r.config,
      secretKeys: r.secretKeys,
      policy: {
        allow: [...r.allow, ...(r.row?.allowed_networks ?? [])],
        verifyTls: r.row?.verify_tls ?? true,
      },
      // Without an integration only the step's timeout bounds the call.
      timeoutMs: r.row?.timeout_ms ?? 600_000,
      // Without an integration the step's own retry policy is the only one.
      retries: r.row?.retries ?? 0,
      cacheKey: r.row ? `${r.row.id}:${r.row.updated_at.getTime()}` : r.app.manifest.identifier,
      workspaceId: r.workspaceId,
    };
  }

  async #resolve(
    workspaceId: string,
    appId: string,
    ref: string | undefined,
    fresh: boolean,
  ): Promise<Resolved> {
    const key = `${workspaceId}|${appId}|${ref ?? ''}`;
    const hit = this.#resolved.get(key);
    if (
      hit &&
      !fresh &&
      Date.now() - hit.at < RESOLVED_CACHE_MS &&
      hit.generation === this.deps.catalogue.generation(workspaceId)
    )
      return this.#checkExpiry(hit);
    const generation = this.deps.catalogue.generation(workspaceId);
    let row: IntegrationRow | undefined;
    if (ref) {
      row = await integrationByRef(this.deps.db, workspaceId, ref);
      if (!row)
        throw new ActionError('INTEGRATION_NOT_FOUND', `no integration named "${ref}" in this workspace`);
      if (row.app !== appId)
        throw new ActionError(
          'INTEGRATION_MISMATCH',
          `integration "${row.name}" is for ${row.app}, not ${appId}`,
        );
    } else row = await defaultIntegration(this.deps.db, workspaceId, appId);
    const app = await this.deps.catalogue.resolve(workspaceId, appId, row?.app_version);
    if (!app)
      throw new ActionError(
        'ACTION_UNAVAILABLE',
        row?.app_version
          ? `${appId} ${row.app_version} is not installed in this workspace`
          : `no installed app is called "${appId}"`,
      );
    const needsIntegration = Object.values(app.manifest.configuration ?? {}).some(
      (f) => f.required && f.default === undefined,
    );
    if (!row && needsIntegration)
      throw new ActionError(
        'INTEGRATION_REQUIRED',
        `${appId} actions need an integration: name one with "integration:", or mark one as the default for ${appId}`,
      );
    const config: Record<string, unknown> = {};
    for (const [k, f] of Object.entries(app.manifest.configuration ?? {}))
      if (f.default !== undefined) config[k] = f.default;
    Object.assign(config, row?.configuration ?? {});
    if (row?.secrets_encrypted)
      Object.assign(
        config,
        JSON.parse(
          await this.deps.keyring.decrypt(
            row.secrets_encrypted,
            row.secrets_key_version!,
            rowAad('integrations', row.id),
          ),
        ) as Record<string, unknown>,
      );
    const resolved: Resolved = {
      workspaceId,
      row,
      app,
      config,
      secretKeys: secretFields(app.manifest),
      allow: await workspaceAllowedNetworks(this.deps.db, workspaceId),
      at: Date.now(),
      generation,
    };
    if (this.#resolved.size > 5000) this.#resolved.clear();
    this.#resolved.set(key, resolved);
    return this.#checkExpiry(resolved);
  }

  #checkExpiry(r: Resolved): Resolved {
    if (r.row?.expires_at && r.row.expires_at.getTime() <= Date.now())
      throw new ActionError(
        'INTEGRATION_EXPIRED',
        `integration "${r.row.name}" expired at ${r.row.expires_at.toISOString()}`,
      );
    return r;
  }

  #forget(row: IntegrationRow): void {
    for (const key of this.#resolved.keys())
      if (key.startsWith(`${row.workspace_id}|${row.app}|`)) this.#resolved.delete(key);
  }

  /** last_used_at, written at most once a minute per integration. */
  #touch(id: string): void {
    const now = Date.now();
    if ((this.#touched.get(id) ?? 0) > now - 60_000) return;
    this.#touched.set(id, now);
    touchIntegration(this.deps.db, id).catch(() => this.#touched.delete(id));
  }

  async #row(workspaceId: string, ref: string): Promise<IntegrationRow> {
    const row = await integrationByRef(this.deps.db, workspaceId, ref);
    if (!row) throw notFound('INTEGRATION_NOT_FOUND', 'integration', ref);
    return row;
  }

  async #app(workspaceId: string, identifier: string, version: string | null): Promise<InstalledApp> {
    const app = await this.deps.catalogue.resolve(workspaceId, identifier, version);
    if (!app)
      throw version
        ? invalidArgument('app_version', `${identifier} ${version} is not installed in this workspace`)
        : invalidArgument(
            'app',
            `no app called "${identifier}" is installed in this workspace`,
            'APP_NOT_FOUND',
          );
    return app;
  }

  #fields(
    id: string,
    name: string,
    input: IntegrationInput,
    before: IntegrationRow | undefined,
    config: Record<string, unknown>,
    secrets: Record<string, unknown>,
  ): IntegrationFields {
    const expires =
      input.expires_at !== undefined ? input.expires_at : (before?.expires_at?.toISOString() ?? null);
    let expiresAt: Date | null = null;
    if (expires !== null) {
      expiresAt = new Date(expires);
      if (Number.isNaN(expiresAt.getTime()))
        throw invalidArgument('expires_at', 'expires_at must be an RFC 3339 time');
      if (input.expires_at !== undefined && expiresAt.getTime() <= Date.now())
        throw invalidArgument('expires_at', 'expires_at must be in the future');
    }
    const allowed = input.allowed_networks ?? before?.allowed_networks ?? [];
    checkCidrs('allowed_networks', allowed);
    const rate =
      input.rate_limit !== undefined
        ? input.rate_limit
        : before?.rate_requests
          ? { requests: before.rate_requests, per_seconds: before.rate_seconds! }
          : null;
    const sealed =
      Object.keys(secrets).length > 0
        ? this.deps.keyring.encrypt(JSON.stringify(secrets), rowAad('integrations', id))
        : undefined;
    return {
      name,
      display_name: input.display_name ?? before?.display_name ?? name,
      description: input.description ?? before?.description ?? '',
      app_version: input.app_version ?? null,
      configuration: config,
      secrets_encrypted: sealed?.data ?? null,
      secrets_key_version: sealed?.version ?? null,
      secret_keys: Object.keys(secrets).sort(),
      is_default: input.is_default ?? before?.is_default ?? false,
      expires_at: expiresAt,
      allowed_networks: allowed,
      verify_tls: input.verify_tls ?? before?.verify_tls ?? true,
      timeout_ms: (input.timeout_seconds ?? (before ? before.timeout_ms / 1000 : 30)) * 1000,
      retries: input.retries ?? before?.retries ?? 2,
      rate_requests: rate?.requests ?? null,
      rate_seconds: rate?.per_seconds ?? null,
    };
  }
}

/**
 * Applies a configuration change to the stored values: unknown keys and wrong types are refused by
 * field, `null` removes a value, the mask keeps a secret, and required fields must end up set.
 */
export function splitConfiguration(
  manifest: AppManifest,
  oldConfig: Record<string, unknown>,
  oldSecrets: Record<string, unknown>,
  change: Record<string, unknown>,
): { config: Record<string, unknown>; secrets: Record<string, unknown> } {
  const fields = manifest.configuration ?? {};
  const config = { ...oldConfig };
  const secrets = { ...oldSecrets };
  for (const [key, value] of Object.entries(change)) {
    const field = fields[key];
    const path = `configuration.${key}`;
    if (!field) throw invalidArgument(path, `${manifest.identifier} has no configuration field "${key}"`);
    const target = field.secret ? secrets : config;
    if (value === null) {
      delete target[key];
      continue;
    }
    if (field.secret && value === SECRET_MASK) continue;
    if (!fitsType(field.type, value))
      throw invalidArgument(path, `${key} must be a ${field.type.replace('_', ' ')}`);
    if (field.enum && !field.enum.includes(value))
      throw invalidArgument(
        path,
        `${key} must be one of ${field.enum.map((v) => JSON.stringify(v)).join(', ')}`,
      );
    target[key] = value;
  }
  for (const [key, field] of Object.entries(fields)) {
    const set = field.secret ? secrets[key] : config[key];
    if (field.required && field.default === undefined && (set === undefined || set === ''))
      throw invalidArgument(`configuration.${key}`, `${key} (${field.title}) is required`);
  }
  return { config, secrets };
}

/** Names are what steps use; one that looks like an id would be ambiguous in "id or name" lookups. */
function checkName(name: string): void {
  if (!isSlug(name, 63))
    throw invalidArgument(
      'name',
      'name must be 1-63 lower-case letters, digits, "-" or "_", starting with a letter or digit',
    );
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(name))
    throw invalidArgument('name', 'name may not be a UUID (integrations are looked up by id or name)');
}

function nameTaken(error: unknown, name: string): unknown {
  if (error instanceof UniqueViolation)
    return conflict('INTEGRATION_NAME_TAKEN', `an integration named "${name}" already exists`, 'name');
  return error;
}
