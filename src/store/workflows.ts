import type { Sql } from './database.js';

export interface WorkflowRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string;
  tags: string[];
  trigger_type: string;
  current_revision_id: string;
  published_revision_id: string | null;
  enabled: boolean;
  readable_number: string;
  webhook_token_hash: Buffer | null;
  schedule_next_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface RevisionRow {
  id: string;
  workflow_id: string;
  workspace_id: string;
  number: number;
  source: string;
  definition: Record<string, unknown>;
  warnings: unknown[];
  created_at: Date;
  created_by: string;
  publish_description: string | null;
  published_at: Date | null;
}

export async function insertWorkflow(
  sql: Sql,
  w: Pick<
    WorkflowRow,
    'id' | 'workspace_id' | 'name' | 'description' | 'tags' | 'trigger_type' | 'current_revision_id'
  >,
): Promise<WorkflowRow> {
  return (await sql.one<WorkflowRow>(
    `INSERT INTO workflows (id, workspace_id, name, description, tags, trigger_type, current_revision_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [w.id, w.workspace_id, w.name, w.description, w.tags, w.trigger_type, w.current_revision_id],
  ))!;
}

export function workflowById(
  sql: Sql,
  workspaceId: string,
  id: string,
  lock = false,
): Promise<WorkflowRow | undefined> {
  return sql.one<WorkflowRow>(
    `SELECT * FROM workflows WHERE workspace_id = $1 AND id = $2 ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, id],
  );
}

/** A page by (name, id), optionally filtered by exact name and by a tag. */
export function workflowsPage(
  sql: Sql,
  q: {
    workspaceId: string;
    name?: string | undefined;
    tag?: string | undefined;
    after?: { name: string; id: string } | undefined;
    limit: number;
  },
): Promise<WorkflowRow[]> {
  return sql.rows<WorkflowRow>(
    `SELECT * FROM workflows
      WHERE workspace_id = $1
        AND ($2::text IS NULL OR name = $2)
        AND ($3::text IS NULL OR tags @> ARRAY[$3::text])
        AND ($4::text IS NULL OR (name, id) > ($4::text, $5::uuid))
      ORDER BY name, id LIMIT $6`,
    [q.workspaceId, q.name ?? null, q.tag ?? null, q.after?.name ?? null, q.after?.id ?? null, q.limit],
  );
}

export async function updateWorkflow(
  sql: Sql,
  workspaceId: string,
  id: string,
  patch: Partial<
    Pick<WorkflowRow, 'name' | 'description' | 'tags' | 'trigger_type' | 'current_revision_id' | 'enabled'>
  > & {
    published_revision_id?: string | null;
    schedule_next_at?: null;
  },
): Promise<WorkflowRow> {
  const sets: string[] = [];
  const params: unknown[] = [workspaceId, id];
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    params.push(value);
    sets.push(`${key} = $${params.length}`);
  }
  return (await sql.one<WorkflowRow>(
    `UPDATE workflows SET ${[...sets, 'updated_at = now()'].join(', ')} WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    params,
  ))!;
}

export async function deleteWorkflow(sql: Sql, workspaceId: string, id: string): Promise<void> {
  await sql.exec('DELETE FROM workflows WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
}

export async function insertRevision(
  sql: Sql,
  r: Pick<
    RevisionRow,
    'id' | 'workflow_id' | 'workspace_id' | 'source' | 'definition' | 'warnings' | 'created_by'
  >,
): Promise<RevisionRow> {
  return (await sql.one<RevisionRow>(
    `INSERT INTO workflow_revisions (id, workflow_id, workspace_id, number, source, definition, warnings, created_by)
     VALUES ($1, $2, $3,
       (SELECT coalesce(max(number), 0) + 1 FROM workflow_revisions WHERE workflow_id = $2), $4, $5, $6, $7)
     RETURNING *`,
    [
      r.id,
      r.workflow_id,
      r.workspace_id,
      r.source,
      JSON.stringify(r.definition),
      JSON.stringify(r.warnings),
      r.created_by,
    ],
  ))!;
}

export function revisionById(
  sql: Sql,
  workspaceId: string,
  workflowId: string,
  id: string,
): Promise<RevisionRow | undefined> {
  return sql.one<RevisionRow>(
    'SELECT * FROM workflow_revisions WHERE workspace_id = $1 AND workflow_id = $2 AND id = $3',
    [workspaceId, workflowId, id],
  );
}

export function revisionsOf(sql: Sql, workspaceId: string, workflowId: string): Promise<RevisionRow[]> {
  return sql.rows<RevisionRow>(
    'SELECT * FROM workflow_revisions WHERE workspace_id = $1 AND workflow_id = $2 ORDER BY number DESC',
    [workspaceId, workflowId],
  );
}

export async function markPublished(sql: Sql, revisionId: string, description: string | null): Promise<void> {
  await sql.exec(
    'UPDATE workflow_revisions SET published_at = now(), publish_description = $2 WHERE id = $1',
    [revisionId, description],
  );
}
