import { toAuditEntry } from '../services/audit.js';
import { TORQ_EXECUTION_STATUS } from '../services/activity-logs.js';
import { entriesAfter } from '../store/audit-logs.js';
import type { Sql } from '../store/database.js';

/** One log entry on its way to a destination. `id` is stable: receivers de-duplicate on it. */
export interface StreamEntry {
  id: string;
  log: 'audit' | 'activity';
  /** When it happened (RFC 3339), for the destination's time field and the lag. */
  timestamp: string;
  entry: Record<string, unknown>;
}

export interface StreamFilter {
  actions?: string[];
  workflow_ids?: string[];
  statuses?: string[];
}

export interface AuditCursor {
  seq: string;
  id: string;
  ts: string;
}

export interface ActivityCursor {
  xid: string;
  id: string;
}

/** The next audit entries after the cursor (chain order, which is commit order). */
export async function auditBatch(
  sql: Sql,
  workspaceId: string,
  cursor: AuditCursor | null,
  since: Date,
  filter: StreamFilter,
  limit: number,
): Promise<{ entries: StreamEntry[]; cursor: AuditCursor | null; read: number }> {
  // Filtered-out entries still move the cursor: read unfiltered, then filter.
  const rows = await entriesAfter(sql, workspaceId, cursor?.seq, since, undefined, limit);
  const last = rows.at(-1);
  const wanted = filter.actions?.length ? new Set(filter.actions) : undefined;
  return {
    entries: rows
      .filter((r) => !wanted || wanted.has(r.action))
      .map((r) => ({ id: r.id, log: 'audit', timestamp: r.ts, entry: { ...toAuditEntry(r), seq: r.seq } })),
    cursor: last ? { seq: last.seq, id: last.id, ts: last.ts } : cursor,
    read: rows.length,
  };
}

interface ActivityRow {
  kind: 'workflow_run' | 'trigger_event';
  id: string;
  xid: string;
  ts: string;
  workflow_id: string | null;
  workflow_name: string;
  status: string;
  trigger: Record<string, unknown>;
  error: unknown;
  started_at: string | null;
  finished_at: string | null;
  reason: string | null;
}

interface StepRow {
  execution_id: string;
  key: string;
  step_id: string;
  kind: string;
  status: string;
  attempt: number;
  error: unknown;
  started_at: string;
  finished_at: string | null;
}

const TS = (c: string): string => `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * The next activity entries after the cursor: ended runs (each followed by its step runs) and
 * refused trigger deliveries, in the order their transactions committed. Only positions below the
 * oldest transaction still running are read, so nothing can later appear behind the cursor.
 */
export async function activityBatch(
  sql: Sql,
  workspaceId: string,
  cursor: ActivityCursor | null,
  since: Date,
  filter: StreamFilter,
  limit: number,
): Promise<{ entries: StreamEntry[]; cursor: ActivityCursor | null; read: number }> {
  const rows = await sql.rows<ActivityRow>(
    `WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x)
     SELECT * FROM (
       SELECT 'workflow_run' AS kind, e.id::text AS id, e.stream_xid::text AS xid, ${TS('e.finished_at')} AS ts,
              e.workflow_id::text AS workflow_id, w.name AS workflow_name, e.status, e.trigger, e.error,
              ${TS('e.started_at')} AS started_at, ${TS('e.finished_at')} AS finished_at, NULL AS reason,
              e.stream_xid AS pos
         FROM executions e JOIN workflows w ON w.id = e.workflow_id, horizon
        WHERE e.workspace_id = $1 AND e.stream_xid IS NOT NULL AND e.stream_xid < horizon.x
          AND ($2::xid8 IS NULL OR (e.stream_xid, e.id::text) > ($2::xid8, $3::text))
          AND ($2::xid8 IS NOT NULL OR e.finished_at >= $4)
       UNION ALL
       SELECT 'trigger_event', t.id::text, t.stream_xid::text, ${TS('t.created_at')}, t.workflow_id::text,
              t.workflow_name, 'not_started', jsonb_build_object('type', t.source), NULL, NULL, NULL, t.reason,
              t.stream_xid
         FROM trigger_events t, horizon
        WHERE t.workspace_id = $1 AND t.stream_xid < horizon.x
          AND ($2::xid8 IS NULL OR (t.stream_xid, t.id::text) > ($2::xid8, $3::text))
          AND ($2::xid8 IS NOT NULL OR t.created_at >= $4)
     ) a ORDER BY pos, id LIMIT $5`,
    [workspaceId, cursor?.xid ?? null, cursor?.id ?? null, since, limit],
  );
  const last = rows.at(-1);
  const runs = rows.filter((r) => r.kind === 'workflow_run' && keep(r, filter));
  const steps = runs.length
    ? await sql.rows<StepRow>(
        `SELECT execution_id::text, key, step_id, kind, status, attempt, error,
                ${TS('started_at')} AS started_at, ${TS('finished_at')} AS finished_at
           FROM step_runs WHERE execution_id = ANY($1::uuid[]) ORDER BY execution_id, seq`,
        [runs.map((r) => r.id)],
      )
    : [];
  const stepsOf = new Map<string, StepRow[]>();
  for (const s of steps) stepsOf.set(s.execution_id, [...(stepsOf.get(s.execution_id) ?? []), s]);
  const entries: StreamEntry[] = [];
  for (const r of rows) {
    if (!keep(r, filter)) continue;
    entries.push({ id: r.id, log: 'activity', timestamp: r.ts, entry: activityEntry(workspaceId, r) });
    for (const s of stepsOf.get(r.id) ?? []) {
      entries.push({
        id: `${r.id}:${s.key}`,
        log: 'activity',
        timestamp: s.finished_at ?? s.started_at,
        entry: {
          id: `${r.id}:${s.key}`,
          account_id: workspaceId,
          type: 'step_execution',
          timestamp: s.finished_at ?? s.started_at,
          workflow_id: r.workflow_id,
          workflow_name: r.workflow_name,
          execution_id: r.id,
          step_id: s.step_id,
          step_key: s.key,
          step_kind: s.kind,
          status: TORQ_EXECUTION_STATUS[s.status] ?? s.status.toUpperCase(),
          attempt: s.attempt,
          started_at: s.started_at,
          finished_at: s.finished_at,
          ...(s.error ? { error: s.error } : {}),
        },
      });
    }
  }
  return { entries, cursor: last ? { xid: last.xid, id: last.id } : cursor, read: rows.length };
}

function keep(r: ActivityRow, filter: StreamFilter): boolean {
  if (filter.workflow_ids?.length && !filter.workflow_ids.includes(r.workflow_id ?? '')) return false;
  if (filter.statuses?.length) {
    const status = TORQ_EXECUTION_STATUS[r.status] ?? r.status.toUpperCase();
    if (!filter.statuses.some((s) => s.toUpperCase() === status || s === r.status)) return false;
  }
  return true;
}

function activityEntry(workspaceId: string, r: ActivityRow): Record<string, unknown> {
  return {
    id: r.id,
    account_id: workspaceId,
    type: r.kind,
    timestamp: r.ts,
    workflow_id: r.workflow_id,
    workflow_name: r.workflow_name,
    execution_id: r.kind === 'workflow_run' ? r.id : null,
    status: TORQ_EXECUTION_STATUS[r.status] ?? r.status.toUpperCase(),
    trigger_type: typeof r.trigger.type === 'string' ? r.trigger.type : 'manual',
    ...(r.started_at ? { started_at: r.started_at, finished_at: r.finished_at } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
  };
}
