import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { parseRfc3339, microsToIso } from '../domain/log-window.js';
import type { Database, Sql } from '../store/database.js';
import type { LogStreamRow } from '../store/log-streams.js';
import { UniqueViolation } from '../store/pg-errors.js';
import { DESTINATION_TYPES, type DestinationConfig } from '../streams/destinations.js';
import type { StreamFilter } from '../streams/sources.js';
import type { AuditService } from './audit.js';
import { checkCidrs } from './integrations.js';

export const STREAM_LOGS = ['audit', 'activity'] as const;

export interface LogStreamInput {
  name?: string | undefined;
  logs?: string[] | undefined;
  filter?: StreamFilter | undefined;
  destination?: DestinationConfig | undefined;
  secret_name?: string | null | undefined;
  batch_size?: number | undefined;
  enabled?: boolean | undefined;
  /** Backfill: deliver entries from this time (RFC 3339); default now. */
  start_time?: string | undefined;
}

export interface LogStreamView {
  id: string;
  name: string;
  logs: string[];
  filter: StreamFilter;
  destination: DestinationConfig;
  secret_name: string | null;
  batch_size: number;
  enabled: boolean;
  /** running, paused (after repeated failures; resume it), or disabled. */
  state: 'running' | 'paused' | 'disabled';
  start_time: string;
  checkpoints: { audit: LogStreamRow['audit_cursor']; activity: LogStreamRow['activity_cursor'] };
  delivered: number;
  last_delivered_at: string | null;
  /** Seconds between now and the oldest entry not yet delivered (0 when caught up). */
  lag_seconds: number;
  failures: number;
  last_error: string | null;
  paused_at: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
}

const COLUMNS = ['name', 'logs', 'filter', 'destination', 'secret_name', 'batch_size', 'enabled'] as const;

/**
 * Log streams: the audit log, the activity log or both, delivered continuously to a SIEM from
 * checkpoints that move only when the destination acknowledges (see streams/streamer.ts).
 */
export class LogStreamService {
  constructor(private readonly deps: { db: Database; audit: AuditService }) {}

  async create(principal: Principal, input: LogStreamInput): Promise<LogStreamView> {
    authorize(principal, 'log_streams.manage');
    const v = validate(input, true);
    const since = input.start_time ? isoTime('start_time', input.start_time) : null;
    return this.deps.db.transaction(async (tx) => {
      const row = await tx
        .one<LogStreamRow>(
          `INSERT INTO log_streams (id, workspace_id, created_by, ${COLUMNS.join(', ')}, start_time)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11::timestamptz, now())) RETURNING *`,
          [
            newId(),
            principal.workspaceId,
            principal.actor.email || principal.actor.name,
            ...values(v),
            since,
          ],
        )
        .catch((e: unknown) => {
          throw taken(e, v.name);
        });
      await this.#audit(tx, principal, AUDIT_ACTIONS.logStreamCreated, row!, {
        type: v.destination.type,
        logs: v.logs,
      });
      return this.#view(tx, row!);
    });
  }

  async list(principal: Principal): Promise<LogStreamView[]> {
    authorize(principal, 'log_streams.read');
    const rows = await this.deps.db.rows<LogStreamRow>(
      'SELECT * FROM log_streams WHERE workspace_id = $1 ORDER BY name',
      [principal.workspaceId],
    );
    return Promise.all(rows.map((r) => this.#view(this.deps.db, r)));
  }

  async get(principal: Principal, id: string): Promise<LogStreamView> {
    authorize(principal, 'log_streams.read');
    return this.#view(this.deps.db, await this.#row(this.deps.db, principal, id));
  }

  async update(principal: Principal, id: string, patch: LogStreamInput): Promise<LogStreamView> {
    authorize(principal, 'log_streams.manage');
    return this.deps.db.transaction(async (tx) => {
      const before = await this.#row(tx, principal, id, true);
      const v = validate(
        {
          name: patch.name ?? before.name,
          logs: patch.logs ?? before.logs,
          filter: patch.filter ?? before.filter,
          destination: patch.destination ?? (before.destination as unknown as DestinationConfig),
          secret_name: patch.secret_name === undefined ? before.secret_name : patch.secret_name,
          batch_size: patch.batch_size ?? before.batch_size,
          enabled: patch.enabled ?? before.enabled,
        },
        false,
      );
      const row = await tx
        .one<LogStreamRow>(
          `UPDATE log_streams SET ${COLUMNS.map((c, i) => `${c} = $${i + 2}`).join(', ')}, updated_at = now(),
              next_attempt_at = now()
            WHERE id = $1 RETURNING *`,
          [before.id, ...values(v)],
        )
        .catch((e: unknown) => {
          throw taken(e, v.name);
        });
      await this.#audit(tx, principal, AUDIT_ACTIONS.logStreamUpdated, row!, {
        changed_fields: Object.keys(patch).filter((k) => patch[k as keyof LogStreamInput] !== undefined),
      });
      return this.#view(tx, row!);
    });
  }

  /** Resumes a paused stream (failures cleared), or restarts delivery from `start_time` (backfill). */
  async resume(
    principal: Principal,
    id: string,
    from?: { start_time?: string | undefined },
  ): Promise<LogStreamView> {
    authorize(principal, 'log_streams.manage');
    const since = from?.start_time ? isoTime('start_time', from.start_time) : null;
    return this.deps.db.transaction(async (tx) => {
      const before = await this.#row(tx, principal, id, true);
      const row = await tx.one<LogStreamRow>(
        `UPDATE log_streams SET paused_at = NULL, failures = 0, last_error = NULL, next_attempt_at = now(),
            start_time = coalesce($2::timestamptz, start_time),
            audit_cursor = CASE WHEN $2::timestamptz IS NULL THEN audit_cursor END,
            activity_cursor = CASE WHEN $2::timestamptz IS NULL THEN activity_cursor END,
            -- A batch in flight must not write its old checkpoint back over the backfill.
            lease_owner = CASE WHEN $2::timestamptz IS NULL THEN lease_owner END,
            lease_expires_at = CASE WHEN $2::timestamptz IS NULL THEN lease_expires_at END,
            updated_at = now()
          WHERE id = $1 RETURNING *`,
        [before.id, since],
      );
      await this.#audit(
        tx,
        principal,
        AUDIT_ACTIONS.logStreamResumed,
        row!,
        since ? { start_time: since } : {},
      );
      return this.#view(tx, row!);
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'log_streams.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await this.#row(tx, principal, id, true);
      await tx.exec('DELETE FROM log_streams WHERE id = $1', [row.id]);
      await this.#audit(tx, principal, AUDIT_ACTIONS.logStreamDeleted, row, {});
    });
  }

  /** Every stream's delivered count and lag, for /metrics. */
  async metrics(): Promise<
    {
      id: string;
      name: string;
      workspace_id: string;
      delivered: number;
      lag_seconds: number;
      paused: boolean;
    }[]
  > {
    const rows = await this.deps.db.rows<LogStreamRow>('SELECT * FROM log_streams WHERE enabled');
    return Promise.all(
      rows.map(async (r) => ({
        id: r.id,
        name: r.name,
        workspace_id: r.workspace_id,
        delivered: Number(r.delivered),
        lag_seconds: await lagSeconds(this.deps.db, r),
        paused: r.paused_at !== null,
      })),
    );
  }

  async #row(sql: Sql, principal: Principal, id: string, lock = false): Promise<LogStreamRow> {
    const row = await sql.one<LogStreamRow>(
      `SELECT * FROM log_streams WHERE workspace_id = $1 AND (id::text = $2 OR name = $2) ${lock ? 'FOR UPDATE' : ''}`,
      [principal.workspaceId, id],
    );
    if (!row) throw notFound('LOG_STREAM_NOT_FOUND', 'log stream', id);
    return row;
  }

  async #view(sql: Sql, r: LogStreamRow): Promise<LogStreamView> {
    return {
      id: r.id,
      name: r.name,
      logs: r.logs,
      filter: r.filter,
      destination: r.destination as unknown as DestinationConfig,
      secret_name: r.secret_name,
      batch_size: r.batch_size,
      enabled: r.enabled,
      state: !r.enabled ? 'disabled' : r.paused_at ? 'paused' : 'running',
      start_time: r.start_time.toISOString(),
      checkpoints: { audit: r.audit_cursor, activity: r.activity_cursor },
      delivered: Number(r.delivered),
      last_delivered_at: r.last_delivered_at?.toISOString() ?? null,
      lag_seconds: await lagSeconds(sql, r),
      failures: r.failures,
      last_error: r.last_error,
      paused_at: r.paused_at?.toISOString() ?? null,
      created_at: r.created_at.toISOString(),
      created_by: r.created_by,
      updated_at: r.updated_at.toISOString(),
    };
  }

  async #audit(
    tx: Sql,
    principal: Principal,
    action: (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS],
    row: LogStreamRow,
    extra: Record<string, unknown>,
  ): Promise<void> {
    await this.deps.audit.record(tx, principal, {
      action,
      resourceId: row.id,
      resourceName: row.name,
      extraData: extra,
    });
  }
}

/** Now minus the oldest entry not yet delivered, in seconds (0 when caught up). */
async function lagSeconds(sql: Sql, r: LogStreamRow): Promise<number> {
  const oldest: Date[] = [];
  if (r.logs.includes('audit')) {
    const row = await sql.one<{ at: Date | null }>(
      `SELECT min(ts) AS at FROM audit_logs WHERE workspace_id = $1
          AND ($2::bigint IS NULL OR seq > $2) AND ($2::bigint IS NOT NULL OR ts >= $3)`,
      [r.workspace_id, r.audit_cursor?.seq ?? null, r.start_time],
    );
    if (row?.at) oldest.push(row.at);
  }
  if (r.logs.includes('activity')) {
    const row = await sql.one<{ at: Date | null }>(
      `SELECT min(finished_at) AS at FROM executions WHERE workspace_id = $1 AND stream_xid IS NOT NULL
          AND ($2::xid8 IS NULL OR (stream_xid, id::text) > ($2::xid8, $3::text))
          AND ($2::xid8 IS NOT NULL OR finished_at >= $4)`,
      [r.workspace_id, r.activity_cursor?.xid ?? null, r.activity_cursor?.id ?? '', r.start_time],
    );
    if (row?.at) oldest.push(row.at);
    const refused = await sql.one<{ at: Date | null }>(
      `SELECT min(created_at) AS at FROM trigger_events WHERE workspace_id = $1
          AND ($2::xid8 IS NULL OR (stream_xid, id::text) > ($2::xid8, $3::text))
          AND ($2::xid8 IS NOT NULL OR created_at >= $4)`,
      [r.workspace_id, r.activity_cursor?.xid ?? null, r.activity_cursor?.id ?? '', r.start_time],
    );
    if (refused?.at) oldest.push(refused.at);
  }
  if (oldest.length === 0) return 0;
  const first = Math.min(...oldest.map((d) => d.getTime()));
  return Math.max(0, (Date.now() - first) / 1000);
}

function isoTime(field: string, value: string): string {
  return microsToIso(parseRfc3339(field, value));
}

type Valid = Pick<
  LogStreamView,
  'name' | 'logs' | 'filter' | 'destination' | 'secret_name' | 'batch_size' | 'enabled'
>;

function values(v: Valid): unknown[] {
  return [
    v.name,
    v.logs,
    JSON.stringify(v.filter),
    JSON.stringify(v.destination),
    v.secret_name,
    v.batch_size,
    v.enabled,
  ];
}

const FILE_PATH = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$/;

function validate(input: LogStreamInput, creating: boolean): Valid {
  const name = input.name?.trim();
  if (!name || name.length > 100) throw invalidArgument('name', 'name must be 1-100 characters');
  const logs = [...new Set(input.logs ?? [])];
  if (logs.length === 0 || logs.some((l) => !(STREAM_LOGS as readonly string[]).includes(l)))
    throw invalidArgument('logs', 'logs must list audit, activity or both');
  const d = input.destination;
  if (!d || !(DESTINATION_TYPES as readonly string[]).includes(d.type))
    throw invalidArgument(
      'destination.type',
      `destination.type must be one of ${DESTINATION_TYPES.join(', ')}`,
    );
  if (d.type === 'splunk_hec' || d.type === 'elasticsearch' || d.type === 'webhook') {
    let url: URL | undefined;
    try {
      url = new URL(d.url ?? '');
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw invalidArgument('destination.url', 'destination.url must be an http(s) URL');
    if (url.username || url.password)
      throw invalidArgument('destination.url', 'put credentials in a secret (secret_name), not in the URL');
  }
  if (d.type === 'syslog') {
    if (!d.host) throw invalidArgument('destination.host', 'destination.host is required for syslog');
    if (d.port !== undefined && (!Number.isInteger(d.port) || d.port < 1 || d.port > 65535))
      throw invalidArgument('destination.port', 'destination.port must be 1-65535');
    if (d.transport !== undefined && !['tcp', 'tls', 'udp'].includes(d.transport))
      throw invalidArgument('destination.transport', 'destination.transport must be tcp, tls or udp');
  }
  if (d.allowed_networks) checkCidrs('destination.allowed_networks', d.allowed_networks);
  if (d.type === 'file' && (!d.path || !FILE_PATH.test(d.path)))
    throw invalidArgument(
      'destination.path',
      'destination.path must be a relative file name under the data directory (no "..")',
    );
  const batch = input.batch_size ?? 500;
  if (!Number.isInteger(batch) || batch < 1 || batch > 5000)
    throw invalidArgument('batch_size', 'batch_size must be 1-5000');
  if (creating && input.secret_name === '') throw invalidArgument('secret_name', 'secret_name is empty');
  return {
    name,
    logs,
    filter: input.filter ?? {},
    destination: d,
    secret_name: input.secret_name ?? null,
    batch_size: batch,
    enabled: input.enabled ?? true,
  };
}

function taken(error: unknown, name: string): unknown {
  return error instanceof UniqueViolation
    ? conflict('LOG_STREAM_NAME_TAKEN', `a log stream named "${name}" already exists`, 'name')
    : error;
}
