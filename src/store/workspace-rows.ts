import type { Sql } from './database.js';

/**
 * Plain CRUD for the small workspace resources that are a row each (tags, labels, code snippets):
 * a table, its writable columns, and the columns a reference may match. Names come from constants,
 * never from input.
 */
export interface RowTable {
  table: string;
  /** Columns a create or update writes, besides id, workspace_id and created_by. */
  fields: readonly string[];
  /** Columns a reference (`id` or a name) matches, besides id. */
  refs: readonly string[];
  /** Columns a list's `q` searches (case-insensitive); default `refs`. */
  search?: readonly string[];
  /** The list order and keyset column. */
  order: string;
  /** Set on update, e.g. `updated_at = now()`. */
  touch?: string;
}

export async function insertRow<R extends object>(
  sql: Sql,
  t: RowTable,
  row: { id: string; workspace_id: string; created_by: string } & Record<string, unknown>,
): Promise<R> {
  const cols = ['id', 'workspace_id', 'created_by', ...t.fields];
  const params = cols.map((c) => row[c]);
  return (await sql.one<R>(
    `INSERT INTO ${t.table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
    params,
  ))!;
}

export async function updateRow<R extends object>(
  sql: Sql,
  t: RowTable,
  id: string,
  values: Record<string, unknown>,
): Promise<R> {
  const sets = t.fields.map((c, i) => `${c} = $${i + 2}`);
  if (t.touch) sets.push(t.touch);
  return (await sql.one<R>(`UPDATE ${t.table} SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, [
    id,
    ...t.fields.map((c) => values[c]),
  ]))!;
}

/** By id or by one of the reference columns. */
export function rowByRef<R extends object>(
  sql: Sql,
  t: RowTable,
  workspaceId: string,
  ref: string,
  lock = false,
): Promise<R | undefined> {
  const match = ['id::text', ...t.refs].map((c) => `${c} = $2`).join(' OR ');
  return sql.one<R>(
    `SELECT * FROM ${t.table} WHERE workspace_id = $1 AND (${match}) ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, ref],
  );
}

/** A keyset page in `order`, optionally searching the `search` columns (case-insensitive). */
export function rowsPage<R extends object>(
  sql: Sql,
  t: RowTable,
  workspaceId: string,
  q: string | undefined,
  after: string | undefined,
  limit: number,
): Promise<R[]> {
  const search = (t.search ?? t.refs).map((c) => `${c} ILIKE '%' || $2 || '%'`).join(' OR ');
  return sql.rows<R>(
    `SELECT * FROM ${t.table}
      WHERE workspace_id = $1 AND ($2::text IS NULL OR ${search}) AND ($3::text IS NULL OR ${t.order} > $3)
      ORDER BY ${t.order} LIMIT $4`,
    [workspaceId, q ?? null, after ?? null, limit],
  );
}

export async function deleteRow(sql: Sql, t: RowTable, id: string): Promise<void> {
  await sql.exec(`DELETE FROM ${t.table} WHERE id = $1`, [id]);
}
