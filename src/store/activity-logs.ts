import { microsToIso } from '../domain/log-window.js';
import type { Sql } from './database.js';

export interface ActivityRow {
  kind: 'workflow_run' | 'step_execution' | 'trigger_event';
  uid: string;
  ts: string;
  execution_id: string | null;
  workflow_id: string | null;
  workflow_name: string;
  status: string;
  step_id: string | null;
  step_kind: string | null;
  trigger: Record<string, unknown>;
  body: unknown;
}

export interface ActivityQuery {
  workspaceId: string;
  startMicros: bigint;
  endMicros: bigint;
  activityType: 'all' | 'workflow_runs' | 'step_executions' | 'trigger_events';
  workflowId: string | undefined;
  /** Every keyword must appear in the entry's body. */
  keywords: string[];
  order: 'asc' | 'desc';
  after: { ts: string; uid: string } | undefined;
  limit: number;
}

const TS = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Workflow runs (one per execution, at its creation), step executions (one per step run, at its
 * start) and trigger deliveries that started no run, merged in time order with a keyset on (time, uid).
 */
export function activityPage(sql: Sql, q: ActivityQuery): Promise<ActivityRow[]> {
  const params: unknown[] = [
    q.workspaceId,
    microsToIso(q.startMicros),
    microsToIso(q.endMicros),
    q.workflowId ?? null,
    q.keywords,
    q.limit,
  ];
  const runs = `SELECT 'workflow_run' AS kind, e.id::text AS uid, e.created_at AS at, e.id AS execution_id, e.workflow_id,
        w.name AS workflow_name, e.status, NULL::text AS step_id, NULL::text AS step_kind, e.trigger, e.input AS body
      FROM executions e JOIN workflows w ON w.id = e.workflow_id
      WHERE e.workspace_id = $1 AND e.created_at > $2::timestamptz AND e.created_at < $3::timestamptz
        AND ($4::uuid IS NULL OR e.workflow_id = $4)`;
  const steps = `SELECT 'step_execution' AS kind, s.execution_id::text || ':' || s.key AS uid, s.started_at AS at,
        s.execution_id, e.workflow_id, w.name AS workflow_name, s.status, s.step_id, s.kind AS step_kind, e.trigger,
        s.output AS body
      FROM step_runs s JOIN executions e ON e.id = s.execution_id JOIN workflows w ON w.id = e.workflow_id
      WHERE e.workspace_id = $1 AND s.started_at > $2::timestamptz AND s.started_at < $3::timestamptz
        AND ($4::uuid IS NULL OR e.workflow_id = $4)`;
  // Deliveries that started no run (refused header, unpublished or disabled workflow).
  const events = `SELECT 'trigger_event' AS kind, t.id::text AS uid, t.created_at AS at, NULL::uuid AS execution_id,
        t.workflow_id, t.workflow_name, 'not_started' AS status, NULL::text AS step_id, NULL::text AS step_kind,
        jsonb_build_object('type', t.source, 'reason', t.reason) AS trigger, t.body
      FROM trigger_events t
      WHERE t.workspace_id = $1 AND t.created_at > $2::timestamptz AND t.created_at < $3::timestamptz
        AND ($4::uuid IS NULL OR t.workflow_id = $4)`;
  const parts =
    q.activityType === 'workflow_runs'
      ? [runs]
      : q.activityType === 'step_executions'
        ? [steps]
        : q.activityType === 'trigger_events'
          ? [events]
          : [runs, steps, events];
  const cmp = q.order === 'asc' ? '>' : '<';
  let cursor = '';
  if (q.after) {
    params.push(q.after.ts, q.after.uid);
    cursor = `AND (a.at, a.uid) ${cmp} ($7::timestamptz, $8::text)`;
  }
  return sql.rows<ActivityRow>(
    `SELECT a.kind, a.uid, ${TS('a.at')} AS ts, a.execution_id, a.workflow_id, a.workflow_name, a.status, a.step_id, a.step_kind,
            a.trigger, a.body
       FROM (${parts.join(' UNION ALL ')}) AS a
      WHERE (SELECT bool_and(strpos(lower(a.body::text), lower(k)) > 0) FROM unnest($5::text[]) AS k) IS NOT FALSE ${cursor}
      ORDER BY a.at ${q.order}, a.uid ${q.order} LIMIT $6`,
    params,
  );
}
