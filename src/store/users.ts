import type { Sql } from './database.js';

export interface UserRow {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  created_at: Date;
  last_login_at: Date | null;
}

export interface MemberRow extends UserRow {
  workspace_id: string;
  role: string;
  status: 'INVITATION_SENT' | 'VERIFIED';
  invitation_expires_at: Date | null;
  joined_at: Date;
}

export function userByEmail(sql: Sql, email: string): Promise<UserRow | undefined> {
  return sql.one<UserRow>('SELECT * FROM users WHERE email = $1', [email]);
}

export function userById(sql: Sql, id: string): Promise<UserRow | undefined> {
  return sql.one<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
}

export async function insertUser(sql: Sql, id: string, email: string, name: string): Promise<UserRow> {
  const row = await sql.one<UserRow>(
    `INSERT INTO users (id, email, name) VALUES ($1, $2, $3)
     ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING *`,
    [id, email, name],
  );
  return row!;
}

export async function setPassword(
  sql: Sql,
  userId: string,
  hash: string,
  name: string | undefined,
): Promise<void> {
  await sql.exec('UPDATE users SET password_hash = $2, name = coalesce($3, name) WHERE id = $1', [
    userId,
    hash,
    name ?? null,
  ]);
}

export async function touchLogin(sql: Sql, userId: string): Promise<void> {
  await sql.exec('UPDATE users SET last_login_at = now() WHERE id = $1', [userId]);
}

const MEMBER = `u.*, m.workspace_id, m.role, m.status, m.invitation_expires_at, m.created_at AS joined_at`;

export function members(sql: Sql, workspaceId: string): Promise<MemberRow[]> {
  return sql.rows<MemberRow>(
    `SELECT ${MEMBER} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.email`,
    [workspaceId],
  );
}

export function member(sql: Sql, workspaceId: string, userId: string): Promise<MemberRow | undefined> {
  return sql.one<MemberRow>(
    `SELECT ${MEMBER} FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND m.user_id = $2`,
    [workspaceId, userId],
  );
}

/** Locks the workspace's owner memberships, so two demotions cannot remove the last owner together. */
export async function lockOwners(sql: Sql, workspaceId: string): Promise<number> {
  const rows = await sql.rows(
    `SELECT user_id FROM memberships WHERE workspace_id = $1 AND role = 'owner' AND status = 'VERIFIED' FOR UPDATE`,
    [workspaceId],
  );
  return rows.length;
}

/** Adds a membership; re-inviting someone whose invitation expired unused issues a new invitation. */
export async function insertMembership(
  sql: Sql,
  m: {
    workspaceId: string;
    userId: string;
    role: string;
    status: string;
    invitationHash: Buffer | null;
    expiresAt: Date | null;
    /** The service's clock: an invitation that expired before it may be replaced. */
    now?: Date;
  },
): Promise<boolean> {
  const n = await sql.exec(
    `INSERT INTO memberships (workspace_id, user_id, role, status, invitation_hash, invitation_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (workspace_id, user_id) DO UPDATE
       SET role = EXCLUDED.role, invitation_hash = EXCLUDED.invitation_hash,
           invitation_expires_at = EXCLUDED.invitation_expires_at
       WHERE memberships.status = 'INVITATION_SENT' AND EXCLUDED.status = 'INVITATION_SENT'
         AND memberships.invitation_expires_at < $7`,
    [m.workspaceId, m.userId, m.role, m.status, m.invitationHash, m.expiresAt, m.now ?? new Date()],
  );
  return n === 1;
}

export function membershipByInvitation(
  sql: Sql,
  hash: Buffer,
): Promise<(MemberRow & { workspace_name: string }) | undefined> {
  return sql.one(
    `SELECT ${MEMBER}, w.name AS workspace_name FROM memberships m JOIN users u ON u.id = m.user_id
       JOIN workspaces w ON w.id = m.workspace_id
      WHERE m.invitation_hash = $1 FOR UPDATE OF m`,
    [hash],
  );
}

export async function acceptMembership(sql: Sql, workspaceId: string, userId: string): Promise<void> {
  await sql.exec(
    `UPDATE memberships SET status = 'VERIFIED', invitation_hash = NULL, invitation_expires_at = NULL
      WHERE workspace_id = $1 AND user_id = $2`,
    [workspaceId, userId],
  );
}

export async function updateRole(sql: Sql, workspaceId: string, userId: string, role: string): Promise<void> {
  await sql.exec('UPDATE memberships SET role = $3 WHERE workspace_id = $1 AND user_id = $2', [
    workspaceId,
    userId,
    role,
  ]);
}

/** Removes the membership with the user's private keys and sessions in that workspace. */
export async function deleteMembership(sql: Sql, workspaceId: string, userId: string): Promise<void> {
  await sql.exec('DELETE FROM api_keys WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId]);
  await sql.exec('DELETE FROM sessions WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId]);
  await sql.exec('DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2', [workspaceId, userId]);
}
