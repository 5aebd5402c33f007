import type { Sql } from './database.js';

export interface SecretRow {
  id: string;
  workspace_id: string;
  name: string;
  description: string;
  value_encrypted: Buffer;
  key_version: number;
  created_at: Date;
  updated_at: Date;
}

export async function insertSecret(
  sql: Sql,
  s: Omit<SecretRow, 'created_at' | 'updated_at'>,
): Promise<SecretRow> {
  return (await sql.one<SecretRow>(
    `INSERT INTO secrets (id, workspace_id, name, description, value_encrypted, key_version)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [s.id, s.workspace_id, s.name, s.description, s.value_encrypted, s.key_version],
  ))!;
}

export function secretById(
  sql: Sql,
  workspaceId: string,
  id: string,
  lock = false,
): Promise<SecretRow | undefined> {
  return sql.one<SecretRow>(
    `SELECT * FROM secrets WHERE workspace_id = $1 AND id = $2 ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, id],
  );
}

export function secretByName(sql: Sql, workspaceId: string, name: string): Promise<SecretRow | undefined> {
  return sql.one<SecretRow>('SELECT * FROM secrets WHERE workspace_id = $1 AND name = $2', [
    workspaceId,
    name,
  ]);
}

/** A page of secrets ordered by name, after the given name. */
export function secretsPage(
  sql: Sql,
  workspaceId: string,
  afterName: string | undefined,
  limit: number,
): Promise<SecretRow[]> {
  return sql.rows<SecretRow>(
    'SELECT * FROM secrets WHERE workspace_id = $1 AND ($2::text IS NULL OR name > $2) ORDER BY name LIMIT $3',
    [workspaceId, afterName ?? null, limit],
  );
}

export async function updateSecret(
  sql: Sql,
  workspaceId: string,
  id: string,
  patch: { name?: string; description?: string; value?: { data: Buffer; version: number } },
): Promise<SecretRow> {
  return (await sql.one<SecretRow>(
    `UPDATE secrets SET name = coalesce($3, name), description = coalesce($4, description),
       value_encrypted = coalesce($5, value_encrypted), key_version = coalesce($6, key_version), updated_at = now()
     WHERE workspace_id = $1 AND id = $2 RETURNING *`,
    [
      workspaceId,
      id,
      patch.name ?? null,
      patch.description ?? null,
      patch.value?.data ?? null,
      patch.value?.version ?? null,
    ],
  ))!;
}

export async function deleteSecret(sql: Sql, workspaceId: string, id: string): Promise<void> {
  await sql.exec('DELETE FROM secrets WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
}
