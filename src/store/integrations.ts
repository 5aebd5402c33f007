import type { Sql } from './database.js';

export interface IntegrationRow {
  id: string;
  workspace_id: string;
  name: string;
  display_name: string;
  description: string;
  app: string;
  app_version: string | null;
  configuration: Record<string, unknown>;
  secrets_encrypted: Buffer | null;
  secrets_key_version: number | null;
  /** Which secret fields are set (their values are sealed in secrets_encrypted). */
  secret_keys: string[];
  is_default: boolean;
  expires_at: Date | null;
  allowed_networks: string[];
  verify_tls: boolean;
  timeout_ms: number;
  retries: number;
  rate_requests: number | null;
  rate_seconds: number | null;
  connectivity_status: string;
  connectivity_message: string;
  tested_at: Date | null;
  last_used_at: Date | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

/** The fields a create or an update writes. */
export type IntegrationFields = Pick<
  IntegrationRow,
  | 'name'
  | 'display_name'
  | 'description'
  | 'app_version'
  | 'configuration'
  | 'secrets_encrypted'
  | 'secrets_key_version'
  | 'secret_keys'
  | 'is_default'
  | 'expires_at'
  | 'allowed_networks'
  | 'verify_tls'
  | 'timeout_ms'
  | 'retries'
  | 'rate_requests'
  | 'rate_seconds'
>;

const COLUMNS = `id, workspace_id, name, display_name, description, app, app_version, configuration,
  secrets_encrypted, secrets_key_version, secret_keys, is_default, expires_at, allowed_networks, verify_tls,
  timeout_ms, retries, rate_requests, rate_seconds, connectivity_status, connectivity_message,
  tested_at, last_used_at, created_at, created_by, updated_at`;

/** The written fields, in this order: $3… in both statements below. */
const FIELD_COLUMNS = [
  'name',
  'display_name',
  'description',
  'app_version',
  'configuration',
  'secrets_encrypted',
  'secrets_key_version',
  'secret_keys',
  'is_default',
  'expires_at',
  'allowed_networks',
  'verify_tls',
  'timeout_ms',
  'retries',
  'rate_requests',
  'rate_seconds',
] as const satisfies readonly (keyof IntegrationFields)[];

function fieldValues(row: IntegrationFields): unknown[] {
  return FIELD_COLUMNS.map((c) => (c === 'configuration' ? JSON.stringify(row.configuration) : row[c]));
}

const placeholders = (from: number): string => FIELD_COLUMNS.map((_, i) => `$${i + from}`).join(', ');

export async function insertIntegration(
  sql: Sql,
  row: IntegrationFields & { id: string; workspace_id: string; app: string; created_by: string },
): Promise<IntegrationRow> {
  if (row.is_default) await clearDefault(sql, row.workspace_id, row.app);
  const n = FIELD_COLUMNS.length;
  return (await sql.one<IntegrationRow>(
    `INSERT INTO integrations (id, workspace_id, ${FIELD_COLUMNS.join(', ')}, app, created_by)
     VALUES ($1, $2, ${placeholders(3)}, $${n + 3}, $${n + 4})
     RETURNING ${COLUMNS}`,
    [row.id, row.workspace_id, ...fieldValues(row), row.app, row.created_by],
  ))!;
}

/** Writes the fields; any change makes the last connectivity test stale. */
export async function updateIntegration(
  sql: Sql,
  workspaceId: string,
  id: string,
  app: string,
  row: IntegrationFields,
): Promise<IntegrationRow> {
  if (row.is_default) await clearDefault(sql, workspaceId, app, id);
  const sets = FIELD_COLUMNS.map((c, i) => `${c} = $${i + 3}`).join(', ');
  return (await sql.one<IntegrationRow>(
    `UPDATE integrations SET ${sets}, updated_at = now(),
       connectivity_status = 'untested', connectivity_message = '', tested_at = NULL
     WHERE workspace_id = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [workspaceId, id, ...fieldValues(row)],
  ))!;
}

/** Moves the default flag: serialised per workspace and app, so concurrent saves keep one default. */
async function clearDefault(sql: Sql, workspaceId: string, app: string, except = ''): Promise<void> {
  await sql.exec("SELECT pg_advisory_xact_lock(hashtext('integration-default:' || $1 || ':' || $2))", [
    workspaceId,
    app,
  ]);
  await sql.exec(
    'UPDATE integrations SET is_default = false WHERE workspace_id = $1 AND app = $2 AND is_default AND id::text <> $3',
    [workspaceId, app, except],
  );
}

/** By id or by name. */
export function integrationByRef(
  sql: Sql,
  workspaceId: string,
  ref: string,
  lock = false,
): Promise<IntegrationRow | undefined> {
  return sql.one<IntegrationRow>(
    `SELECT ${COLUMNS} FROM integrations
      WHERE workspace_id = $1 AND (name = $2 OR id::text = $2) ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, ref],
  );
}

export function defaultIntegration(
  sql: Sql,
  workspaceId: string,
  app: string,
): Promise<IntegrationRow | undefined> {
  return sql.one<IntegrationRow>(
    `SELECT ${COLUMNS} FROM integrations WHERE workspace_id = $1 AND app = $2 AND is_default`,
    [workspaceId, app],
  );
}

export function integrationsPage(
  sql: Sql,
  workspaceId: string,
  filter: { app?: string | undefined },
  afterName: string | undefined,
  limit: number,
): Promise<IntegrationRow[]> {
  return sql.rows<IntegrationRow>(
    `SELECT ${COLUMNS} FROM integrations
      WHERE workspace_id = $1 AND ($2::text IS NULL OR app = $2) AND ($3::text IS NULL OR name > $3)
      ORDER BY name LIMIT $4`,
    [workspaceId, filter.app ?? null, afterName ?? null, limit],
  );
}

export function countIntegrationsUsing(
  sql: Sql,
  workspaceId: string,
  app: string,
  version: string | null,
): Promise<{ name: string }[]> {
  return sql.rows(
    'SELECT name FROM integrations WHERE workspace_id = $1 AND app = $2 AND app_version IS NOT DISTINCT FROM $3 ORDER BY name',
    [workspaceId, app, version],
  );
}

export async function deleteIntegration(sql: Sql, workspaceId: string, id: string): Promise<void> {
  await sql.exec('DELETE FROM integrations WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
}

export async function recordConnectivity(
  sql: Sql,
  id: string,
  status: string,
  message: string,
): Promise<Date> {
  const row = await sql.one<{ tested_at: Date }>(
    `UPDATE integrations SET connectivity_status = $2, connectivity_message = $3, tested_at = now()
      WHERE id = $1 RETURNING tested_at`,
    [id, status, message],
  );
  return row?.tested_at ?? new Date();
}

export async function touchIntegration(sql: Sql, id: string): Promise<void> {
  await sql.exec('UPDATE integrations SET last_used_at = now() WHERE id = $1', [id]);
}

/**
 * Takes one slot of the integration's rate limit (GCRA: at most `requests` per `seconds`, bursts up
 * to `requests`) and answers how long to wait before sending, in ms. Atomic across processes.
 */
export async function takeRateSlot(sql: Sql, id: string): Promise<number> {
  const row = await sql.one<{ wait_ms: number }>(
    `WITH cur AS (
       SELECT id, greatest(coalesce(rate_tat, clock_timestamp()), clock_timestamp()) AS tat,
              make_interval(secs => rate_seconds::float8 / rate_requests) AS step,
              make_interval(secs => rate_seconds::float8) AS span
         FROM integrations WHERE id = $1 AND rate_requests IS NOT NULL FOR UPDATE
     )
     UPDATE integrations i SET rate_tat = cur.tat + cur.step
       FROM cur WHERE i.id = cur.id
     RETURNING greatest(0, extract(epoch FROM (cur.tat + cur.step - cur.span - clock_timestamp())) * 1000)::float8 AS wait_ms`,
    [id],
  );
  return row ? Math.ceil(row.wait_ms) : 0;
}

/** Gives back a slot taken by takeRateSlot for a call that was not sent. */
export async function releaseRateSlot(sql: Sql, id: string): Promise<void> {
  await sql.exec(
    `UPDATE integrations SET rate_tat = rate_tat - make_interval(secs => rate_seconds::float8 / rate_requests)
      WHERE id = $1 AND rate_requests IS NOT NULL AND rate_tat IS NOT NULL`,
    [id],
  );
}
