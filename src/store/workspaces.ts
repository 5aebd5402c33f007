import type { Sql } from './database.js';

export interface WorkspaceRow {
  id: string;
  name: string;
  created_at: Date;
}

export async function insertWorkspace(sql: Sql, id: string, name: string): Promise<WorkspaceRow> {
  const row = await sql.one<WorkspaceRow>('INSERT INTO workspaces (id, name) VALUES ($1, $2) RETURNING *', [
    id,
    name,
  ]);
  return row!;
}

export function workspaceById(sql: Sql, id: string): Promise<WorkspaceRow | undefined> {
  return sql.one<WorkspaceRow>('SELECT * FROM workspaces WHERE id = $1', [id]);
}

export function workspaceByName(sql: Sql, name: string): Promise<WorkspaceRow | undefined> {
  return sql.one<WorkspaceRow>('SELECT * FROM workspaces WHERE name = $1', [name]);
}

export function allWorkspaces(sql: Sql): Promise<WorkspaceRow[]> {
  return sql.rows<WorkspaceRow>('SELECT * FROM workspaces ORDER BY name');
}

export async function countWorkspaces(sql: Sql): Promise<number> {
  const row = await sql.one<{ n: string }>('SELECT count(*)::text AS n FROM workspaces');
  return Number(row?.n ?? 0);
}

/** Workspaces a user belongs to (verified memberships), by name. */
export function workspacesOfUser(sql: Sql, userId: string): Promise<(WorkspaceRow & { role: string })[]> {
  return sql.rows(
    `SELECT w.*, m.role FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
      WHERE m.user_id = $1 AND m.status = 'VERIFIED' ORDER BY w.name`,
    [userId],
  );
}

export function ownerEmails(sql: Sql, workspaceId: string): Promise<{ email: string }[]> {
  return sql.rows(
    `SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id
      WHERE m.workspace_id = $1 AND m.role = 'owner' AND m.status = 'VERIFIED' ORDER BY u.email`,
    [workspaceId],
  );
}

/** Networks the workspace's steps may reach despite the SSRF rules. */
export async function workspaceAllowedNetworks(sql: Sql, id: string): Promise<string[]> {
  const row = await sql.one<{ http_allowed_networks: string[] }>(
    'SELECT http_allowed_networks FROM workspaces WHERE id = $1',
    [id],
  );
  return row?.http_allowed_networks ?? [];
}

export async function setWorkspaceAllowedNetworks(sql: Sql, id: string, networks: string[]): Promise<void> {
  await sql.exec('UPDATE workspaces SET http_allowed_networks = $2 WHERE id = $1', [id, networks]);
}
