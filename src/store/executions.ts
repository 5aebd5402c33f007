import type { Sql } from './database.js';
import { FINISHED_CHANNEL } from './finished-runs.js';

export const EXECUTION_STATUSES = [
  'queued',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/** The statuses a run ends in. */
export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'cancelled']);

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
/** A notification on EXECUTIONS_CHANNEL whose payload is this prefix and an id: that run was cancelled. */
export const CANCEL_PREFIX = 'cancel:';

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
  // Inserted and announced in one statement; idle workers are woken when it commits.
  const row = await sql.one<ExecutionRow>(
    `WITH ins AS (
       INSERT INTO executions (id, workspace_id, workflow_id, revision_id, status, trigger, input,
          concurrency_cap, retention_days, parent_execution_id, parent_step_key)
       VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8, $9, $10) RETURNING *)
     SELECT ins.*, pg_notify($11, ins.id::text) AS notified FROM ins`,
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
      EXECUTIONS_CHANNEL,
    ],
  );
  return row!;
}

/**
 * Claims the oldest runnable execution (see osprey_claim_execution in migration 004): SKIP LOCKED,
 * per-workflow concurrency caps held across workers, and `excluded` workflows passed over.
 */
export function claimExecution(
  sql: Sql,
  owner: string,
  leaseMs: number,
  excluded: string[] = [],
): Promise<(ExecutionRow & { first_claim: boolean }) | undefined> {
  return sql.one<ExecutionRow & { first_claim: boolean }>(
    'SELECT (c.claimed).*, c.first_claim FROM osprey_claim_execution($1, $2, $3::uuid[]) c',
    [owner, leaseMs, excluded],
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

/**
 * Serialises a parent's suspension on a child run with that child's end (finish or cancel): both
 * take this lock first, in their transaction, so the statement that comes second sees the first
 * committed. Without it, a child ending while its parent parks could each miss the other (the
 * child finds the parent still running; the parent finds the child still running) and the parent
 * would sleep until its recheck.
 */
export async function lockChildWakeups(sql: Sql, parentId: string): Promise<void> {
  await sql.exec(`SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7412))`, [parentId]);
}

/** Wakes a parent waiting on a child run (call_workflow), in the same statement as the child's change. */
const WAKE_PARENT = `, woke AS (
   UPDATE executions p SET run_after = now() FROM done
    WHERE p.id = done.parent_execution_id AND p.status = 'waiting' RETURNING p.id)
 SELECT (SELECT count(*) FROM done)::int AS done, (SELECT count(*) FROM woke)::int AS woke,
        (SELECT count(pg_notify('${FINISHED_CHANNEL}', id::text)) FROM done WHERE (trigger->>'sync')::boolean IS TRUE)::int AS announced`;

export async function finishExecution(
  sql: Sql,
  id: string,
  owner: string,
  status: 'succeeded' | 'failed',
  output: unknown,
  error: ExecutionRow['error'],
  sizeBytes?: number,
): Promise<boolean> {
  const r = await sql.one<{ done: number; woke: number; capped: number }>(
    `WITH done AS (
       UPDATE executions SET status = $3, output = $4, error = $5, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
          stream_xid = pg_current_xact_id(),
          size_bytes = coalesce($6, size_bytes)
        WHERE id = $1 AND lease_owner = $2 AND status = 'running' RETURNING id, trigger, parent_execution_id, concurrency_cap)${WAKE_PARENT},
        (SELECT count(*) FROM done WHERE concurrency_cap IS NOT NULL)::int AS capped`,
    [
      id,
      owner,
      status,
      JSON.stringify(output ?? null),
      error ? JSON.stringify(error) : null,
      sizeBytes ?? null,
    ],
  );
  // A parent to resume, or a slot under a concurrency cap freed: wake idle workers now.
  if (r!.woke > 0 || r!.capped > 0) await sql.exec(`SELECT pg_notify($1, 'slot')`, [EXECUTIONS_CHANNEL]);
  return r!.done === 1;
}

/**
 * Parks a run until `until` (a wait, an approval, a child run): it holds no worker meanwhile. A run
 * watching a child that has already ended, or an approval already answered, is due at once; with
 * lockChildWakeups taken first (for a child), a wake-up cannot be lost.
 */
export async function suspendExecution(
  sql: Sql,
  id: string,
  owner: string,
  until: Date,
  watch?: { kind: 'child' | 'approval'; id: string },
  sizeBytes?: number,
): Promise<boolean> {
  const n = await sql.exec(
    `UPDATE executions SET status = 'waiting', lease_owner = NULL, lease_expires_at = NULL,
        size_bytes = coalesce($6, size_bytes),
        run_after = CASE
          WHEN $4::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM executions c WHERE c.id = $4::uuid
                 AND c.status IN ('succeeded', 'failed', 'cancelled')) THEN now()
          WHEN $5::uuid IS NOT NULL AND EXISTS (SELECT 1 FROM approvals a WHERE a.id = $5::uuid
                 AND a.decided_at IS NOT NULL) THEN now()
          ELSE $3 END
      WHERE id = $1 AND lease_owner = $2 AND status = 'running'`,
    [
      id,
      owner,
      until,
      watch?.kind === 'child' ? watch.id : null,
      watch?.kind === 'approval' ? watch.id : null,
      sizeBytes ?? null,
    ],
  );
  return n === 1;
}

/** Cancels a run and, with it, the child runs it waits on; a parent waiting on it is woken. */
export async function cancelExecution(
  sql: Sql,
  workspaceId: string,
  id: string,
): Promise<ExecutionRow | undefined> {
  const row = await sql.one<ExecutionRow>(
    `WITH RECURSIVE tree AS (
       SELECT id FROM executions WHERE workspace_id = $1 AND id = $2
       UNION ALL
       SELECT c.id FROM executions c JOIN tree t ON c.parent_execution_id = t.id
     ), done AS (
       UPDATE executions SET status = 'cancelled', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL,
          stream_xid = pg_current_xact_id(),
          error = '{"code":"CANCELLED","message":"the execution was cancelled"}'
        WHERE id IN (SELECT id FROM tree) AND status IN ('queued', 'running', 'waiting')
        RETURNING *
     ), woke AS (
       UPDATE executions p SET run_after = now() FROM done
        WHERE p.id = done.parent_execution_id AND p.status = 'waiting' AND done.id = $2 RETURNING p.id
     ), announced AS (
       SELECT pg_notify('${FINISHED_CHANNEL}', id::text) FROM done WHERE (trigger->>'sync')::boolean IS TRUE
     )
     SELECT done.*, (SELECT count(*) FROM announced) AS announced FROM done WHERE id = $2`,
    [workspaceId, id],
  );
  if (row) {
    // Tells the worker running it (and its children) to stop at the next step.
    await sql.exec(
      `SELECT pg_notify($1, $2 || e.id::text) FROM executions e
        WHERE e.id = $3 OR (e.parent_execution_id = $3 AND e.status = 'cancelled')`,
      [EXECUTIONS_CHANNEL, CANCEL_PREFIX, id],
    );
  }
  if (row?.parent_execution_id) await sql.exec(`SELECT pg_notify($1, 'parent')`, [EXECUTIONS_CHANNEL]);
  return row;
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
    /** Created at or after (RFC 3339). */
    since?: string | undefined;
    /** Created before (RFC 3339). */
    until?: string | undefined;
    after?: { createdAt: string; id: string } | undefined;
    limit: number;
  },
): Promise<(ExecutionRow & { created_at_text: string })[]> {
  return sql.rows(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_text FROM executions
      WHERE workspace_id = $1 AND ($2::uuid IS NULL OR workflow_id = $2) AND ($3::text IS NULL OR status = $3)
        AND ($4::timestamptz IS NULL OR (executions.created_at, id) < ($4::timestamptz, $5::uuid))
        AND ($7::timestamptz IS NULL OR executions.created_at >= $7) AND ($8::timestamptz IS NULL OR executions.created_at < $8)
      ORDER BY executions.created_at DESC, id DESC LIMIT $6`,
    [
      q.workspaceId,
      q.workflowId ?? null,
      q.status ?? null,
      q.after?.createdAt ?? null,
      q.after?.id ?? null,
      q.limit,
      q.since ?? null,
      q.until ?? null,
    ],
  );
}

export function stepRunsOf(sql: Sql, executionId: string): Promise<StepRunRow[]> {
  return sql.rows<StepRunRow>('SELECT * FROM step_runs WHERE execution_id = $1 ORDER BY seq', [executionId]);
}

/** Records a step's state: the checkpoint the executor replays from. */
/** A checkpoint to write; input and output come already serialised (the executor measured them). */
export interface StepRunWrite extends Pick<
  StepRunRow,
  'execution_id' | 'key' | 'step_id' | 'kind' | 'status' | 'attempt' | 'resume_at'
> {
  input_json: string;
  output_json: string;
  error: unknown;
}

export async function saveStepRun(sql: Sql, r: StepRunWrite): Promise<void> {
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
      r.input_json,
      r.output_json,
      r.error ? JSON.stringify(r.error) : null,
      r.resume_at,
    ],
  );
}

/** The marker a step run's output holds when the output itself is stored out of line. */
export const OUTPUT_REF = '$osprey_output_ref';

export async function insertStepOutput(
  sql: Sql,
  o: { id: string; execution_id: string; key: string; size_bytes: number; data: string },
): Promise<void> {
  await sql.exec(
    'INSERT INTO step_outputs (id, execution_id, key, size_bytes, data) VALUES ($1, $2, $3, $4, $5::jsonb)',
    [o.id, o.execution_id, o.key, o.size_bytes, o.data],
  );
}

export async function stepOutputsByIds(sql: Sql, ids: string[]): Promise<Map<string, unknown>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.rows<{ id: string; data: unknown }>(
    'SELECT id, data FROM step_outputs WHERE id = ANY($1::uuid[])',
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.data]));
}

/** The current status, for a worker to notice a cancel between steps. */
export async function executionStatus(sql: Sql, id: string): Promise<string | undefined> {
  return (await sql.one<{ status: string }>('SELECT status FROM executions WHERE id = $1', [id]))?.status;
}

/**
 * Copies a run's finished steps into a new run (a retry from the failed step): succeeded steps and
 * failures recorded with on_error continue, with their out-of-line outputs.
 */
export async function copyCheckpoints(sql: Sql, fromId: string, toId: string): Promise<number> {
  return sql.exec(
    `WITH m AS (SELECT id AS old, gen_random_uuid() AS new FROM step_outputs WHERE execution_id = $1),
     outs AS (INSERT INTO step_outputs (id, execution_id, key, size_bytes, data)
              SELECT m.new, $2, s.key, s.size_bytes, s.data FROM step_outputs s JOIN m ON m.old = s.id)
     INSERT INTO step_runs (execution_id, key, step_id, kind, status, attempt, input, output, error, resume_at, started_at, finished_at)
     SELECT $2, r.key, r.step_id, r.kind, r.status, r.attempt, r.input,
            CASE WHEN r.output ? '${OUTPUT_REF}'
                 THEN jsonb_set(r.output, '{${OUTPUT_REF}}', to_jsonb((SELECT m.new::text FROM m WHERE m.old::text = r.output->>'${OUTPUT_REF}')))
                 ELSE r.output END,
            r.error, r.resume_at, r.started_at, r.finished_at
       FROM step_runs r
      WHERE r.execution_id = $1
        AND (r.status = 'succeeded' OR (r.status = 'failed' AND r.output IS NOT NULL AND r.output <> 'null'::jsonb))`,
    [fromId, toId],
  );
}

/** Deletes up to `limit` finished runs past their retention; answers how many went. */
export function pruneExecutions(sql: Sql, limit: number): Promise<number> {
  return sql.exec(
    `DELETE FROM executions WHERE id IN (
       SELECT id FROM executions
        WHERE finished_at IS NOT NULL AND finished_at < now() - make_interval(days => retention_days)
        LIMIT $1)`,
    [limit],
  );
}

/** A step's full output, reading an out-of-line output. */
export async function stepOutput(
  sql: Sql,
  executionId: string,
  key: string,
): Promise<{ output: unknown } | undefined> {
  const row = await sql.one<{ output: unknown }>(
    'SELECT output FROM step_runs WHERE execution_id = $1 AND key = $2',
    [executionId, key],
  );
  if (!row) return undefined;
  const o = row.output as Record<string, unknown> | null;
  if (o && typeof o === 'object' && OUTPUT_REF in o) {
    const data = await stepOutputsByIds(sql, [String(o[OUTPUT_REF])]);
    return { output: data.get(String(o[OUTPUT_REF])) ?? null };
  }
  return { output: row.output };
}
