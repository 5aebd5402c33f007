import type { Sql } from './database.js';

export const EXECUTION_STATUSES = [
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export interface ExecutionRow {
  id: string;
  workspace_id: string;
  workflow_id: string;
  revision_id: string;
  status: ExecutionStatus;
  trigger: Record<string, unknown>;
  input: unknown;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  run_after: Date;
  lease_owner: string | null;
  lease_expires_at: Date | null;
  resumes: number;
  parent_execution_id: string | null;
  parent_step_key: string | null;
  concurrency_cap: number | null;
  retention_days: number;
  size_bytes: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface StepRunRow {
  execution_id: string;
  key: string;
  step_id: string;
  kind: string;
  status: 'running' | 'waiting' | 'succeeded' | 'failed';
  attempt: number;
  seq: string;
  input: unknown;
  output: unknown;
  error: unknown;
  resume_at: Date | null;
  started_at: Date;
  finished_at: Date | null;
}

export const EXECUTIONS_CHANNEL = 'osprey_executions';

export type NewExecution = Pick<
  ExecutionRow,
  | 'id'
  | 'workspace_id'
  | 'workflow_id'
  | 'revision_id'
  | 'trigger'
  | 'input'
  | 'concurrency_cap'
  | 'retention_days'
> &
  Partial<Pick<ExecutionRow, 'parent_execution_id' | 'parent_step_key'>>;

export async function insertExecution(sql: Sql, e: NewExecution): Promise<ExecutionRow> {
  const row = await sql.one<ExecutionRow>(
    `INSERT INTO executions (id, workspace_id, workflow_id, revision_id, status, trigger, input,
        concurrency_cap, retention_days, parent_execution_id, parent_step_key)
     VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10) RETURNING *`,
    [
      e.id,
      e.workspace_id,
      e.workflow_id,
      e.revision_id,
      JSON.stringify(e.trigger),
      JSON.stringify(e.input ?? null),
      e.concurrency_cap,
      e.retention_days,
      e.parent_execution_id ?? null,
      e.parent_step_key ?? null,
    ],
  );
  // Wakes idle workers; delivered when the transaction commits.
  await sql.exec(`SELECT pg_notify($1, $2)`, [EXECUTIONS_CHANNEL, e.id]);
  return row!;
}

/**
 * Claims the oldest runnable execution: queued, a wait that is due, or a run whose worker stopped
 * renewing its lease. SKIP LOCKED lets any number of workers claim concurrently.
 */
export function claimExecution(sql: Sql, owner: string, leaseMs: number): Promise<ExecutionRow | undefined> {
  return sql.one<ExecutionRow>(
    `UPDATE executions e SET status = 'running', lease_owner = $1,
        lease_expires_at = now() + make_interval(secs => $2::float8 / 1000),
        started_at = coalesce(e.started_at, now()),
        resumes = e.resumes + (CASE WHEN e.status = 'running' THEN 1 ELSE 0 END)
      WHERE e.id = (
        SELECT id FROM executions
         WHERE status IN ('queued', 'waiting', 'running') AND run_after <= now()
           AND (status <> 'running' OR lease_expires_at < now())
         ORDER BY run_after, created_at
         FOR UPDATE SKIP LOCKED LIMIT 1)
      RETURNING e.*`,
    [owner, leaseMs],
  );
}

/** Extends the lease; false when the lease was lost (another worker took over, or it was cancelled). */
export async function renewLease(sql: Sql, id: string, owner: string, leaseMs: number): Promise<boolean> {
  const n = await sql.exec(
    `UPDATE executions SET lease_expires_at = now() + make_interval(secs => $3::float8 / 1000)
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, leaseMs],
  );
  return n === 1;
}

export async function finishExecution(
  sql: Sql,
  id: string,
  owner: string,
  status: 'succeeded' | 'failed',
  output: unknown,
  error: ExecutionRow['error'],
): Promise<boolean> {
  const n = await sql.exec(
    `UPDATE executions SET status = $3, output = $4, error = $5, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, status, JSON.stringify(output ?? null), error ? JSON.stringify(error) : null],
  );
  return n === 1;
}

/** Parks a run until `until` (a wait step): it holds no worker meanwhile. */
export async function suspendExecution(sql: Sql, id: string, owner: string, until: Date): Promise<boolean> {
  const n = await sql.exec(
    `UPDATE executions SET status = 'waiting', run_after = $3, lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [id, owner, until],
  );
  return n === 1;
}

export async function cancelExecution(
  sql: Sql,
  workspaceId: string,
  id: string,
): Promise<ExecutionRow | undefined> {
  return sql.one<ExecutionRow>(
    `UPDATE executions SET status = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
        error = '{"code":"CANCELLED","message":"the execution was cancelled"}'
      WHERE workspace_id = $1 AND id = $2 AND status IN ('queued', 'running', 'waiting') RETURNING *`,
    [workspaceId, id],
  );
}

export function executionById(sql: Sql, workspaceId: string, id: string): Promise<ExecutionRow | undefined> {
  return sql.one<ExecutionRow>('SELECT * FROM executions WHERE workspace_id = $1 AND id = $2', [
    workspaceId,
    id,
  ]);
}

export function executionsPage(
  sql: Sql,
  q: {
    workspaceId: string;
    workflowId?: string | undefined;
    status?: string | undefined;
    after?: { createdAt: string; id: string } | undefined;
    limit: number;
  },
): Promise<(ExecutionRow & { created_at_text: string })[]> {
  return sql.rows(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_text FROM executions
      WHERE workspace_id = $1 AND ($2::uuid IS NULL OR workflow_id = $2) AND ($3::text IS NULL OR status = $3)
        AND ($4::timestamptz IS NULL OR (executions.created_at, id) < ($4::timestamptz, $5::uuid))
      ORDER BY executions.created_at DESC, id DESC LIMIT $6`,
    [
      q.workspaceId,
      q.workflowId ?? null,
      q.status ?? null,
      q.after?.createdAt ?? null,
      q.after?.id ?? null,
      q.limit,
    ],
  );
}

export function stepRunsOf(sql: Sql, executionId: string): Promise<StepRunRow[]> {
  return sql.rows<StepRunRow>('SELECT * FROM step_runs WHERE execution_id = $1 ORDER BY seq', [executionId]);
}

/** Records a step's state: the checkpoint the executor replays from. */
export async function saveStepRun(
  sql: Sql,
  r: Pick<
    StepRunRow,
    | 'execution_id'
    | 'key'
    | 'step_id'
    | 'kind'
    | 'status'
    | 'attempt'
    | 'input'
    | 'output'
    | 'error'
    | 'resume_at'
  >,
): Promise<void> {
  await sql.exec(
    `INSERT INTO step_runs (execution_id, key, step_id, kind, status, attempt, input, output, error, resume_at, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $5 IN ('succeeded', 'failed') THEN now() END)
     ON CONFLICT (execution_id, key) DO UPDATE SET status = EXCLUDED.status, attempt = EXCLUDED.attempt, writes = step_runs.writes + 1,
       input = EXCLUDED.input, output = EXCLUDED.output, error = EXCLUDED.error, resume_at = EXCLUDED.resume_at,
       finished_at = EXCLUDED.finished_at`,
    [
      r.execution_id,
      r.key,
      r.step_id,
      r.kind,
      r.status,
      r.attempt,
      JSON.stringify(r.input ?? null),
      JSON.stringify(r.output ?? null),
      r.error ? JSON.stringify(r.error) : null,
      r.resume_at,
    ],
  );
}

/** The current status, for a worker to notice a cancel between steps. */
export async function executionStatus(sql: Sql, id: string): Promise<string | undefined> {
  return (await sql.one<{ status: string }>('SELECT status FROM executions WHERE id = $1', [id]))?.status;
}
