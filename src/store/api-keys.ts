import type { Sql } from './database.js';

export interface ApiKeyRow {
  id: string;
  workspace_id: string;
  client_id: string;
  secret_encrypted: Buffer;
  secret_key_version: number;
  name: string;
  type: 'private' | 'service';
  role: string;
  user_id: string | null;
  created_by_email: string;
  enabled: boolean;
  expires_at: Date | null;
  created_at: Date;
  last_authenticated_at: Date | null;
}

export interface ApiKeyWithUser extends ApiKeyRow {
  user_email: string | null;
  user_name: string | null;
  user_status: string | null;
  user_created_at: Date | null;
  user_last_login_at: Date | null;
}

const WITH_USER = `k.*, u.email AS user_email, u.name AS user_name, m.status AS user_status,
  u.created_at AS user_created_at, u.last_login_at AS user_last_login_at
  FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
  LEFT JOIN memberships m ON m.user_id = k.user_id AND m.workspace_id = k.workspace_id`;

export async function insertApiKey(
  sql: Sql,
  k: Omit<ApiKeyRow, 'created_at' | 'last_authenticated_at'>,
): Promise<ApiKeyRow> {
  const row = await sql.one<ApiKeyRow>(
    `INSERT INTO api_keys (id, workspace_id, client_id, secret_encrypted, secret_key_version, name, type, role,
                           user_id, created_by_email, enabled, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
    [
      k.id,
      k.workspace_id,
      k.client_id,
      k.secret_encrypted,
      k.secret_key_version,
      k.name,
      k.type,
      k.role,
      k.user_id,
      k.created_by_email,
      k.enabled,
      k.expires_at,
    ],
  );
  return row!;
}

export function apiKeyByClientId(sql: Sql, clientId: string): Promise<ApiKeyRow | undefined> {
  return sql.one<ApiKeyRow>('SELECT * FROM api_keys WHERE client_id = $1', [clientId]);
}

export function apiKeyById(sql: Sql, workspaceId: string, id: string): Promise<ApiKeyWithUser | undefined> {
  return sql.one<ApiKeyWithUser>(`SELECT ${WITH_USER} WHERE k.workspace_id = $1 AND k.id = $2`, [
    workspaceId,
    id,
  ]);
}

export function apiKeysOfWorkspace(sql: Sql, workspaceId: string): Promise<ApiKeyWithUser[]> {
  return sql.rows<ApiKeyWithUser>(
    `SELECT ${WITH_USER} WHERE k.workspace_id = $1 ORDER BY k.created_at, k.id`,
    [workspaceId],
  );
}

export async function updateApiKey(
  sql: Sql,
  workspaceId: string,
  id: string,
  patch: { name?: string; enabled?: boolean; expires_at?: Date | null },
): Promise<void> {
  await sql.exec(
    `UPDATE api_keys SET name = coalesce($3, name), enabled = coalesce($4, enabled),
       expires_at = CASE WHEN $5 THEN $6 ELSE expires_at END
     WHERE workspace_id = $1 AND id = $2`,
    [
      workspaceId,
      id,
      patch.name ?? null,
      patch.enabled ?? null,
      patch.expires_at !== undefined,
      patch.expires_at ?? null,
    ],
  );
}

export async function deleteApiKey(sql: Sql, workspaceId: string, id: string): Promise<void> {
  await sql.exec('DELETE FROM api_keys WHERE workspace_id = $1 AND id = $2', [workspaceId, id]);
}

export async function touchApiKey(sql: Sql, id: string): Promise<void> {
  await sql.exec('UPDATE api_keys SET last_authenticated_at = now() WHERE id = $1', [id]);
}
