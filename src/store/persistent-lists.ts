import type { Sql } from './database.js';

export interface PersistentListRow {
  id: string;
  workspace_id: string;
  seq: string;
  title: string;
  slug: string;
  description: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
}

export async function insertList(
  sql: Sql,
  row: Pick<PersistentListRow, 'id' | 'workspace_id' | 'title' | 'slug' | 'description' | 'created_by'>,
): Promise<PersistentListRow> {
  return (await sql.one<PersistentListRow>(
    `INSERT INTO persistent_lists (id, workspace_id, title, slug, description, created_by, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
    [row.id, row.workspace_id, row.title, row.slug, row.description, row.created_by],
  ))!;
}

/** By id, slug or readable id (PL12). */
export function listByRef(
  sql: Sql,
  workspaceId: string,
  ref: string,
  lock = false,
): Promise<PersistentListRow | undefined> {
  return sql.one<PersistentListRow>(
    `SELECT * FROM persistent_lists
      WHERE workspace_id = $1 AND (id::text = $2 OR slug = $2 OR 'PL' || seq = $2) ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, ref],
  );
}

export function listsPage(
  sql: Sql,
  workspaceId: string,
  q: string | undefined,
  afterSlug: string | undefined,
  limit: number,
): Promise<PersistentListRow[]> {
  return sql.rows<PersistentListRow>(
    `SELECT * FROM persistent_lists
      WHERE workspace_id = $1 AND ($2::text IS NULL OR title ILIKE '%' || $2 || '%' OR slug ILIKE '%' || $2 || '%')
        AND ($3::text IS NULL OR slug > $3)
      ORDER BY slug LIMIT $4`,
    [workspaceId, q ?? null, afterSlug ?? null, limit],
  );
}

export async function updateList(
  sql: Sql,
  id: string,
  fields: { title?: string | undefined; description?: string | undefined; updated_by: string },
): Promise<PersistentListRow> {
  return (await sql.one<PersistentListRow>(
    `UPDATE persistent_lists SET title = coalesce($2, title), description = coalesce($3, description),
       updated_by = $4, updated_at = now() WHERE id = $1 RETURNING *`,
    [id, fields.title ?? null, fields.description ?? null, fields.updated_by],
  ))!;
}

export async function touchList(sql: Sql, id: string, by: string): Promise<void> {
  await sql.exec('UPDATE persistent_lists SET updated_at = now(), updated_by = $2 WHERE id = $1', [id, by]);
}

export async function deleteList(sql: Sql, id: string): Promise<void> {
  await sql.exec('DELETE FROM persistent_lists WHERE id = $1', [id]);
}

export async function listData(sql: Sql, listId: string): Promise<Record<string, unknown>> {
  const rows = await sql.rows<{ key: string; value: unknown }>(
    'SELECT key, value FROM persistent_list_items WHERE list_id = $1 ORDER BY key',
    [listId],
  );
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

export async function itemValue(
  sql: Sql,
  listId: string,
  key: string,
): Promise<{ value: unknown } | undefined> {
  return sql.one<{ value: unknown }>(
    'SELECT value FROM persistent_list_items WHERE list_id = $1 AND key = $2',
    [listId, key],
  );
}

export async function putItem(sql: Sql, listId: string, key: string, value: unknown): Promise<void> {
  await sql.exec(
    `INSERT INTO persistent_list_items (list_id, key, value) VALUES ($1, $2, $3)
     ON CONFLICT (list_id, key) DO UPDATE SET value = excluded.value, updated_at = now()`,
    [listId, key, JSON.stringify(value)],
  );
}

/** Replaces the whole data of a list. */
export async function replaceItems(sql: Sql, listId: string, data: Record<string, unknown>): Promise<void> {
  await sql.exec('DELETE FROM persistent_list_items WHERE list_id = $1', [listId]);
  for (const [key, value] of Object.entries(data)) await putItem(sql, listId, key, value);
}

export async function deleteItem(sql: Sql, listId: string, key: string): Promise<boolean> {
  return (
    (await sql.exec('DELETE FROM persistent_list_items WHERE list_id = $1 AND key = $2', [listId, key])) === 1
  );
}

/**
 * Appends `values` to the key's list in one statement: a missing key becomes the list, a scalar
 * becomes a list of itself first. Concurrent appends to one key serialise on its row; none is lost.
 * With `unique`, values the list already has are not added again. Answers the new length.
 */
export async function appendItems(
  sql: Sql,
  listId: string,
  key: string,
  values: unknown[],
  unique: boolean,
): Promise<number> {
  const row = await sql.one<{ n: number }>(
    `INSERT INTO persistent_list_items AS i (list_id, key, value) VALUES ($1, $2, $3::jsonb)
     ON CONFLICT (list_id, key) DO UPDATE SET updated_at = now(), value =
       (CASE WHEN jsonb_typeof(i.value) = 'array' THEN i.value ELSE jsonb_build_array(i.value) END) ||
       (CASE WHEN $4 THEN (SELECT coalesce(jsonb_agg(v), '[]'::jsonb) FROM jsonb_array_elements($3::jsonb) v
                            WHERE NOT ((CASE WHEN jsonb_typeof(i.value) = 'array' THEN i.value
                                             ELSE jsonb_build_array(i.value) END) @> jsonb_build_array(v)))
             ELSE $3::jsonb END)
     RETURNING jsonb_array_length(i.value) AS n`,
    [listId, key, JSON.stringify(unique ? distinct(values) : values), unique],
  );
  return row?.n ?? 0;
}

/** Every workflow's current and published definitions, to find the lists they use. */
export function workflowDefinitions(
  sql: Sql,
  workspaceId: string,
): Promise<
  { id: string; name: string; description: string; readable_number: string; definitions: unknown[] }[]
> {
  return sql.rows(
    `SELECT w.id, w.name, w.description, w.readable_number,
            array_remove(ARRAY[c.definition, p.definition], NULL) AS definitions
       FROM workflows w
       JOIN workflow_revisions c ON c.id = w.current_revision_id
       LEFT JOIN workflow_revisions p ON p.id = w.published_revision_id
      WHERE w.workspace_id = $1 ORDER BY w.name`,
    [workspaceId],
  );
}

function distinct(values: unknown[]): unknown[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const k = JSON.stringify(v);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
