import type { Sql } from './database.js';

export interface DueSchedule {
  workflow_id: string;
  workspace_id: string;
  revision_id: string;
  schedule_next_at: Date | null;
  cron: string;
  timezone: string | null;
}

/**
 * Published, enabled schedule workflows whose next tick is due (or not yet computed), locked for
 * this transaction; rows another scheduler holds are skipped.
 */
export function dueSchedules(sql: Sql, now: Date, limit: number): Promise<DueSchedule[]> {
  return sql.rows<DueSchedule>(
    `SELECT w.id AS workflow_id, w.workspace_id, w.published_revision_id AS revision_id, w.schedule_next_at,
            r.definition #>> '{trigger,cron}' AS cron, r.definition #>> '{trigger,timezone}' AS timezone
       FROM workflows w JOIN workflow_revisions r ON r.id = w.published_revision_id
      WHERE w.enabled AND r.definition #>> '{trigger,type}' = 'schedule'
        AND (w.schedule_next_at IS NULL OR w.schedule_next_at <= $1)
      ORDER BY w.schedule_next_at NULLS FIRST
      FOR UPDATE OF w SKIP LOCKED LIMIT $2`,
    [now, limit],
  );
}

/** Moves a schedule on; null parks it (a cron with no future tick) until the next publish or enable. */
export async function setScheduleNext(sql: Sql, workflowId: string, next: Date | null): Promise<void> {
  await sql.exec(
    `UPDATE workflows SET schedule_next_at = coalesce($2, 'infinity'::timestamptz) WHERE id = $1`,
    [workflowId, next],
  );
}
