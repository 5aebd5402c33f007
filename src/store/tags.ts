import type { Sql } from './database.js';
import type { RowTable } from './workspace-rows.js';

export interface TagRow {
  id: string;
  workspace_id: string;
  title: string;
  description: string;
  color: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
}

export const TAGS: RowTable = {
  table: 'tags',
  fields: ['title', 'description', 'color', 'updated_by'],
  refs: ['title'],
  order: 'title',
  touch: 'updated_at = now()',
};

export interface Grantee {
  type: 'user' | 'api_key';
  id: string;
}

export async function setGrants(sql: Sql, tagId: string, grantees: readonly Grantee[]): Promise<void> {
  await sql.exec('DELETE FROM tag_grants WHERE tag_id = $1', [tagId]);
  if (grantees.length === 0) return;
  await sql.exec(
    `INSERT INTO tag_grants (tag_id, grantee_type, grantee_id)
     SELECT $1, t, i FROM unnest($2::text[], $3::uuid[]) AS g (t, i) ON CONFLICT DO NOTHING`,
    [tagId, grantees.map((g) => g.type), grantees.map((g) => g.id)],
  );
}

export function grantsOf(sql: Sql, tagIds: readonly string[]): Promise<(Grantee & { tag_id: string })[]> {
  return sql.rows(
    `SELECT tag_id, grantee_type AS type, grantee_id AS id FROM tag_grants WHERE tag_id = ANY($1::uuid[])
      ORDER BY grantee_type, grantee_id`,
    [tagIds],
  );
}

/** The titles of the workspace's tags granted to any of `granteeIds` (a user, an API key). */
export async function grantedTitles(
  sql: Sql,
  workspaceId: string,
  granteeIds: readonly string[],
): Promise<string[]> {
  const rows = await sql.rows<{ title: string }>(
    `SELECT DISTINCT t.title FROM tag_grants g JOIN tags t ON t.id = g.tag_id
      WHERE t.workspace_id = $1 AND g.grantee_id = ANY($2::uuid[])`,
    [workspaceId, granteeIds],
  );
  return rows.map((r) => r.title);
}

/** How many workflows carry each tag title. */
export async function workflowCounts(sql: Sql, workspaceId: string): Promise<Map<string, number>> {
  const rows = await sql.rows<{ tag: string; n: number }>(
    `SELECT tag, count(*)::int AS n FROM workflows, unnest(tags) AS tag WHERE workspace_id = $1 GROUP BY tag`,
    [workspaceId],
  );
  return new Map(rows.map((r) => [r.tag, r.n]));
}

/** Ends a user's or an API key's grants in a workspace (membership removed, key deleted). */
export async function revokeGrantsOf(sql: Sql, workspaceId: string, granteeId: string): Promise<void> {
  await sql.exec(
    `DELETE FROM tag_grants g USING tags t WHERE g.tag_id = t.id AND t.workspace_id = $1 AND g.grantee_id = $2`,
    [workspaceId, granteeId],
  );
}
