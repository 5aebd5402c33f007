import type { Sql } from './database.js';
import type { ExecutionRow } from './executions.js';

/** Orchestrate's run statuses. */
export const RUN_STATUSES = [
  'SUCCESS',
  'PARTIAL_SUCCESS',
  'IN_PROGRESS',
  'ERROR',
  'SYSTEM_ERROR',
  'ON_HOLD',
  'IN_QUEUE',
  'WAITING',
  'TERMINATED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface RunLogRow extends ExecutionRow {
  workflow_name: string;
  workflow_description: string;
  workflow_tags: string[];
  workflow_active: boolean;
  workflow_enabled: boolean;
  workflow_published: boolean;
  workflow_created_at: Date;
  workflow_updated_at: Date;
  workflow_last_run: Date | null;
  /** The definition of the revision the run ran. */
  revision_definition: Record<string, unknown>;
  readable_number: string;
  run_status: RunStatus;
  /** Seconds from start (or queueing) to end, or to now while it runs. */
  execution_time: number;
  sub_playbooks: number;
  total: number;
}

export interface RunLogFilter {
  workspaceId: string;
  ids?: readonly string[] | undefined;
  workflowId?: string | undefined;
  revisionIds?: readonly string[] | undefined;
  topLevel?: boolean | undefined;
  since?: string | undefined;
  until?: string | undefined;
  ranBy?: string | undefined;
  scheduled?: boolean | undefined;
  workflowActive?: boolean | undefined;
  status?: RunStatus | undefined;
}

export const RUN_LOG_ORDERS = ['created', 'modified', 'execution_time'] as const;

const ORDER_SQL: Record<(typeof RUN_LOG_ORDERS)[number], string> = {
  created: 'created_at',
  modified: 'coalesce(finished_at, started_at, created_at)',
  execution_time: 'execution_time',
};

/**
 * Runs with Orchestrate's status: a succeeded run with a failed step (on_error: continue) is
 * PARTIAL_SUCCESS, a run failed by an internal error SYSTEM_ERROR, a run waiting on an approval
 * ON_HOLD. Each row carries the count of matches (`total`).
 */
export function runLogsPage(
  sql: Sql,
  f: RunLogFilter,
  page: { order: (typeof RUN_LOG_ORDERS)[number]; descending: boolean; offset: number; limit: number },
): Promise<RunLogRow[]> {
  const dir = page.descending ? 'DESC' : 'ASC';
  return sql.rows<RunLogRow>(
    `WITH runs AS (
       SELECT e.*, w.name AS workflow_name, w.description AS workflow_description, w.tags AS workflow_tags,
              (w.enabled AND w.published_revision_id IS NOT NULL) AS workflow_active, w.readable_number,
              w.enabled AS workflow_enabled, (w.published_revision_id IS NOT NULL) AS workflow_published,
              w.created_at AS workflow_created_at, w.updated_at AS workflow_updated_at,
              (SELECT max(x.created_at) FROM executions x WHERE x.workflow_id = e.workflow_id) AS workflow_last_run,
              r.definition AS revision_definition,
              CASE e.status
                WHEN 'queued' THEN 'IN_QUEUE'
                WHEN 'running' THEN 'IN_PROGRESS'
                WHEN 'waiting' THEN CASE WHEN EXISTS (SELECT 1 FROM approvals a
                                                       WHERE a.execution_id = e.id AND a.decided_at IS NULL)
                                         THEN 'ON_HOLD' ELSE 'WAITING' END
                WHEN 'succeeded' THEN CASE WHEN EXISTS (SELECT 1 FROM step_runs s
                                                         WHERE s.execution_id = e.id AND s.status = 'failed')
                                           THEN 'PARTIAL_SUCCESS' ELSE 'SUCCESS' END
                WHEN 'failed' THEN CASE WHEN e.error->>'code' IN ('INTERNAL', 'TOO_MANY_RESUMES')
                                        THEN 'SYSTEM_ERROR' ELSE 'ERROR' END
                ELSE 'TERMINATED' END AS run_status,
              round(extract(epoch FROM coalesce(e.finished_at, now()) - coalesce(e.started_at, e.created_at))::numeric, 4)::float8
                AS execution_time,
              (SELECT count(*) FROM executions c WHERE c.parent_execution_id = e.id)::int AS sub_playbooks
         FROM executions e JOIN workflows w ON w.id = e.workflow_id
         JOIN workflow_revisions r ON r.id = e.revision_id
        WHERE e.workspace_id = $1
          AND ($2::uuid[] IS NULL OR e.id = ANY($2))
          AND ($3::uuid IS NULL OR e.workflow_id = $3)
          AND ($4::uuid[] IS NULL OR e.revision_id = ANY($4))
          AND ($5::boolean IS NULL OR (e.parent_execution_id IS NULL) = $5)
          AND ($6::timestamptz IS NULL OR e.created_at >= $6)
          AND ($7::timestamptz IS NULL OR e.created_at <= $7)
          AND ($8::text IS NULL OR e.trigger->>'by' = $8)
          AND ($9::boolean IS NULL OR (e.trigger->>'type' = 'schedule') = $9)
          AND ($10::boolean IS NULL OR (w.enabled AND w.published_revision_id IS NOT NULL) = $10))
     SELECT *, count(*) OVER ()::int AS total FROM runs
      WHERE ($11::text IS NULL OR run_status = $11)
      ORDER BY ${ORDER_SQL[page.order]} ${dir}, id ${dir} LIMIT $12 OFFSET $13`,
    [
      f.workspaceId,
      f.ids ?? null,
      f.workflowId ?? null,
      f.revisionIds ?? null,
      f.topLevel ?? null,
      f.since ?? null,
      f.until ?? null,
      f.ranBy ?? null,
      f.scheduled ?? null,
      f.workflowActive ?? null,
      f.status ?? null,
      page.limit,
      page.offset,
    ],
  );
}

export interface PlaybookRow {
  id: string;
  name: string;
  description: string;
  tags: string[];
  enabled: boolean;
  published: boolean;
  readable_number: string;
  revision_id: string;
  definition: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
  last_run_at: Date | null;
}

/** Every workflow with the definition that runs (published, or the draft if never published). */
export function playbookRows(sql: Sql, workspaceId: string, id?: string): Promise<PlaybookRow[]> {
  return sql.rows<PlaybookRow>(
    `SELECT w.id, w.name, w.description, w.tags, w.enabled, w.published_revision_id IS NOT NULL AS published,
            w.readable_number, r.id AS revision_id, r.definition, w.created_at, w.updated_at,
            (SELECT max(x.created_at) FROM executions x WHERE x.workflow_id = w.id) AS last_run_at
       FROM workflows w JOIN workflow_revisions r ON r.id = coalesce(w.published_revision_id, w.current_revision_id)
      WHERE w.workspace_id = $1 AND ($2::text IS NULL OR w.id::text = $2 OR 'PLB' || w.readable_number = upper($2))
      ORDER BY w.name, w.id`,
    [workspaceId, id ?? null],
  );
}

/** Revisions of the workspace whose definition has an action step of `app` (and `action`). */
export async function revisionsUsing(
  sql: Sql,
  workspaceId: string,
  app: string | undefined,
  action: string | undefined,
): Promise<string[]> {
  const rows = await sql.rows<{ id: string }>(
    `SELECT id FROM workflow_revisions
      WHERE workspace_id = $1 AND jsonb_path_exists(definition, $2::jsonpath, jsonb_build_object('a', $3::text))`,
    [
      workspaceId,
      action ? '$.**.action ? (@ == $a)' : '$.**.action ? (@ starts with $a)',
      action ? `${app}.${action}` : `${app}.`,
    ],
  );
  return rows.map((r) => r.id);
}
