import type { Sql } from './database.js';

export interface LogStreamRow {
  id: string;
  workspace_id: string;
  name: string;
  logs: string[];
  filter: Record<string, unknown>;
  destination: Record<string, unknown>;
  secret_name: string | null;
  batch_size: number;
  enabled: boolean;
  audit_cursor: { seq: string; id: string; ts: string } | null;
  activity_cursor: { xid: string; id: string } | null;
  start_time: Date;
  delivered: string;
  last_delivered_at: Date | null;
  last_entry_at: Date | null;
  failures: number;
  last_error: string | null;
  paused_at: Date | null;
  next_attempt_at: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

/** Takes the stream most overdue for delivery, with a lease (SKIP LOCKED: one deliverer each). */
export function claimStream(sql: Sql, owner: string, leaseMs: number): Promise<LogStreamRow | undefined> {
  return sql.one<LogStreamRow>(
    `UPDATE log_streams SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2::float8 / 1000)
      WHERE id = (SELECT id FROM log_streams
                   WHERE enabled AND paused_at IS NULL AND next_attempt_at <= now()
                     AND (lease_expires_at IS NULL OR lease_expires_at < now())
                   ORDER BY next_attempt_at FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING *`,
    [owner, leaseMs],
  );
}

/** Moves the checkpoints after an acknowledged batch, if the lease is still held. */
export async function ackBatch(
  sql: Sql,
  id: string,
  owner: string,
  a: {
    audit: LogStreamRow['audit_cursor'];
    activity: LogStreamRow['activity_cursor'];
    delivered: number;
    lastEntryAt: string | undefined;
    nextInMs: number;
  },
): Promise<boolean> {
  const n = await sql.exec(
    `UPDATE log_streams SET audit_cursor = $3, activity_cursor = $4, delivered = delivered + $5,
        last_delivered_at = CASE WHEN $5 > 0 THEN now() ELSE last_delivered_at END,
        last_entry_at = coalesce($6::timestamptz, last_entry_at), failures = 0, last_error = NULL,
        next_attempt_at = now() + make_interval(secs => $7::float8 / 1000), lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_owner = $2`,
    [
      id,
      owner,
      a.audit ? JSON.stringify(a.audit) : null,
      a.activity ? JSON.stringify(a.activity) : null,
      a.delivered,
      a.lastEntryAt ?? null,
      a.nextInMs,
    ],
  );
  return n === 1;
}

/** Records a failed attempt: retry after `retryInMs`, or pause after `maxFailures` in a row. */
export async function failBatch(
  sql: Sql,
  id: string,
  owner: string,
  error: string,
  retryInMs: number,
  maxFailures: number,
): Promise<void> {
  await sql.exec(
    `UPDATE log_streams SET failures = failures + 1, last_error = $3,
        paused_at = CASE WHEN failures + 1 >= $5 THEN now() ELSE NULL END,
        next_attempt_at = now() + make_interval(secs => $4::float8 / 1000), lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_owner = $2`,
    [id, owner, error.slice(0, 2000), retryInMs, maxFailures],
  );
}

/** Extends a held lease while a batch is being delivered. */
export async function renewStreamLease(sql: Sql, id: string, owner: string, leaseMs: number): Promise<void> {
  await sql.exec(
    `UPDATE log_streams SET lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
      WHERE id = $1 AND lease_owner = $2`,
    [id, owner, leaseMs],
  );
}
