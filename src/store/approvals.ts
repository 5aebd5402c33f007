import type { Sql } from './database.js';
import { EXECUTIONS_CHANNEL } from './executions.js';

export interface ApprovalRow {
  id: string;
  workspace_id: string;
  execution_id: string;
  step_key: string;
  message: string;
  options: string[];
  approvers: string[];
  requester: string;
  requester_may_approve: boolean;
  default_outcome: string | null;
  expires_at: Date;
  created_at: Date;
  decided_at: Date | null;
  outcome: string | null;
  decided_by: string | null;
  comment: string | null;
  /** The status of the run the question belongs to (read with the approval). */
  execution_status?: string;
}

/** Records the question once; a replay after a crash finds the row already there and reuses it. */
export async function upsertApproval(
  sql: Sql,
  a: Pick<
    ApprovalRow,
    | 'id'
    | 'workspace_id'
    | 'execution_id'
    | 'step_key'
    | 'message'
    | 'options'
    | 'approvers'
    | 'requester'
    | 'requester_may_approve'
    | 'default_outcome'
    | 'expires_at'
  >,
): Promise<ApprovalRow> {
  await sql.exec(
    `INSERT INTO approvals (id, workspace_id, execution_id, step_key, message, options, approvers, requester,
        requester_may_approve, default_outcome, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (execution_id, step_key) DO NOTHING`,
    [
      a.id,
      a.workspace_id,
      a.execution_id,
      a.step_key,
      a.message,
      a.options,
      a.approvers,
      a.requester,
      a.requester_may_approve,
      a.default_outcome,
      a.expires_at,
    ],
  );
  return (await approvalByStep(sql, a.execution_id, a.step_key))!;
}

export function approvalByStep(
  sql: Sql,
  executionId: string,
  stepKey: string,
): Promise<ApprovalRow | undefined> {
  return sql.one<ApprovalRow>('SELECT * FROM approvals WHERE execution_id = $1 AND step_key = $2', [
    executionId,
    stepKey,
  ]);
}

export function approvalById(sql: Sql, id: string): Promise<ApprovalRow | undefined> {
  return sql.one<ApprovalRow>(
    `SELECT a.*, e.status AS execution_status FROM approvals a JOIN executions e ON e.id = a.execution_id
      WHERE a.id = $1`,
    [id],
  );
}

/** Records the answer if none was given yet (single use) and wakes the waiting run. */
export async function decideApproval(
  sql: Sql,
  id: string,
  answer: { outcome: string; decided_by: string; comment: string | null },
): Promise<ApprovalRow | undefined> {
  const row = await sql.one<ApprovalRow>(
    `UPDATE approvals SET decided_at = now(), outcome = $2, decided_by = $3, comment = $4
      WHERE id = $1 AND decided_at IS NULL RETURNING *`,
    [id, answer.outcome, answer.decided_by, answer.comment],
  );
  if (row) {
    await sql.exec(`UPDATE executions SET run_after = now() WHERE id = $1 AND status = 'waiting'`, [
      row.execution_id,
    ]);
    await sql.exec(`SELECT pg_notify($1, $2)`, [EXECUTIONS_CHANNEL, row.execution_id]);
  }
  return row;
}

/** Unanswered questions in a workspace, newest first; with `approver`, those that person may answer. */
export function pendingApprovals(
  sql: Sql,
  workspaceId: string,
  approver: string | undefined,
  limit: number,
): Promise<ApprovalRow[]> {
  return sql.rows<ApprovalRow>(
    `SELECT a.* FROM approvals a JOIN executions e ON e.id = a.execution_id
      WHERE a.workspace_id = $1 AND a.decided_at IS NULL AND a.expires_at > now() AND e.status = 'waiting'
        AND ($2::text IS NULL OR cardinality(a.approvers) = 0 OR lower($2) = ANY (SELECT lower(x) FROM unnest(a.approvers) x))
      ORDER BY a.created_at DESC LIMIT $3`,
    [workspaceId, approver ?? null, limit],
  );
}
