import type { Sql } from './database.js';

export interface VariableRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string;
  value: unknown;
  created_at: Date;
  updated_at: Date;
}

export async function insertVariable(
  sql: Sql,
  v: Omit<VariableRow, 'created_at' | 'updated_at'>,
): Promise<VariableRow> {
  return (await sql.one<VariableRow>(
    `INSERT INTO variables (id, workspace_id, name, description, value) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
    [v.id, v.workspace_id, v.name, v.description, JSON.stringify(v.value)],
  ))!;
}

export function variableById(
  sql: Sql,
  workspaceId: string,
  id: string,
  lock = false,
): Promise<VariableRow | undefined> {
  return sql.one<VariableRow>(
    `SELECT * FROM variables WHERE workspace_id = $1 AND id = $2 ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, id],
  );
}

export function variablesByName(sql: Sql, workspaceId: string, names: string[]): Promise<VariableRow[]> {
  return sql.rows<VariableRow>('SELECT * FROM variables WHERE workspace_id = $1 AND name = ANY($2::text[])', [
    workspaceId,
    names,
  ]);
}

export function variablesPage(
  sql: Sql,
  workspaceId: string,
  afterName: string | undefined,
  limit: number,
): Promise<VariableRow[]> {
  return sql.rows<VariableRow>(
    'SELECT * FROM variables WHERE workspace_id = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3',
    [workspaceId, afterName ?? null, limit],
  );
}

export async function updateVariable(
  sql: Sql,
  workspaceId: string,
  id: string,
  patch: { name?: string; description?: string; value?: unknown },
): Promise<VariableRow> {
  return (await sql.one<VariableRow>(
    `UPDATE variables SET name = coalesce($3, name), description = coalesce($4, description),
       value = CASE WHEN $5 THEN $6::jsonb ELSE value END, updated_at = now()
     WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    [
      workspaceId,
      id,
      patch.name ?? null,
      patch.description ?? null,
      'value' in patch,
      JSON.stringify(patch.value ?? null),
    ],
  ))!;
}

export async function deleteVariable(sql: Sql, workspaceId: string, id: string): Promise<void> {
  await sql.exec('DELETE FROM variables WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
}
