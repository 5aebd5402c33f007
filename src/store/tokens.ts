import type { Sql } from './database.js';

export async function insertAccessToken(
  sql: Sql,
  hash: Buffer,
  apiKeyId: string,
  expiresAt: Date,
): Promise<void> {
  await sql.exec('INSERT INTO access_tokens (token_hash, api_key_id, expires_at) VALUES ($1, $2, $3)', [
    hash,
    apiKeyId,
    expiresAt,
  ]);
}

export interface TokenPrincipalRow {
  api_key_id: string;
  key_name: string;
  role: string;
  type: string;
  user_id: string | null;
  created_by_email: string;
  user_email: string | null;
  /** For a private key: its user's current role in the workspace. */
  user_role: string | null;
  workspace_id: string;
  workspace_name: string;
}

/** The key behind a live token: the token unexpired, the key enabled and unexpired. */
export function principalForToken(sql: Sql, hash: Buffer): Promise<TokenPrincipalRow | undefined> {
  return sql.one<TokenPrincipalRow>(
    `SELECT k.id AS api_key_id, k.name AS key_name, k.role, k.type, k.user_id, k.created_by_email,
            u.email AS user_email, m.role AS user_role, w.id AS workspace_id, w.name AS workspace_name
       FROM access_tokens t JOIN api_keys k ON k.id = t.api_key_id
       JOIN workspaces w ON w.id = k.workspace_id
       LEFT JOIN users u ON u.id = k.user_id
       LEFT JOIN memberships m ON m.user_id = k.user_id AND m.workspace_id = k.workspace_id
      WHERE t.token_hash = $1 AND t.expires_at > now() AND k.enabled
        AND (k.expires_at IS NULL OR k.expires_at > now())`,
    [hash],
  );
}

/** A usable API key by its client id, with its sealed secret (for signed requests). */
export function principalForClientId(
  sql: Sql,
  clientId: string,
): Promise<(TokenPrincipalRow & { secret_encrypted: Buffer; secret_key_version: number }) | undefined> {
  return sql.one(
    `SELECT k.id AS api_key_id, k.name AS key_name, k.role, k.type, k.user_id, k.created_by_email,
            k.secret_encrypted, k.secret_key_version,
            u.email AS user_email, m.role AS user_role, w.id AS workspace_id, w.name AS workspace_name
       FROM api_keys k JOIN workspaces w ON w.id = k.workspace_id
       LEFT JOIN users u ON u.id = k.user_id
       LEFT JOIN memberships m ON m.user_id = k.user_id AND m.workspace_id = k.workspace_id
      WHERE k.client_id = $1 AND k.enabled AND (k.expires_at IS NULL OR k.expires_at > now())`,
    [clientId],
  );
}

export async function deleteExpiredTokens(sql: Sql): Promise<number> {
  const a = await sql.exec('DELETE FROM access_tokens WHERE expires_at < now()');
  const b = await sql.exec('DELETE FROM sessions WHERE expires_at < now()');
  return a + b;
}

export async function insertSession(
  sql: Sql,
  s: { id: string; hash: Buffer; userId: string; workspaceId: string; expiresAt: Date },
): Promise<void> {
  await sql.exec(
    'INSERT INTO sessions (id, token_hash, user_id, workspace_id, expires_at) VALUES ($1, $2, $3, $4, $5)',
    [s.id, s.hash, s.userId, s.workspaceId, s.expiresAt],
  );
}

export interface SessionPrincipalRow {
  session_id: string;
  user_id: string;
  email: string;
  name: string;
  role: string;
  workspace_id: string;
  workspace_name: string;
}

export function principalForSession(sql: Sql, hash: Buffer): Promise<SessionPrincipalRow | undefined> {
  return sql.one<SessionPrincipalRow>(
    `SELECT s.id AS session_id, u.id AS user_id, u.email, u.name, m.role, w.id AS workspace_id, w.name AS workspace_name
       FROM sessions s JOIN users u ON u.id = s.user_id
       JOIN memberships m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id AND m.status = 'VERIFIED'
       JOIN workspaces w ON w.id = s.workspace_id
      WHERE s.token_hash = $1 AND s.expires_at > now()`,
    [hash],
  );
}

export async function deleteSession(sql: Sql, id: string): Promise<void> {
  await sql.exec('DELETE FROM sessions WHERE id = $1', [id]);
}

export async function moveSession(sql: Sql, id: string, workspaceId: string): Promise<void> {
  await sql.exec('UPDATE sessions SET workspace_id = $2 WHERE id = $1', [id, workspaceId]);
}
