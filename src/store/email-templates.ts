import type { Sql } from './database.js';

export interface EmailTemplateRow {
  id: string;
  workspace_id: string;
  name: string;
  title: string;
  description: string;
  subject: string;
  body: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

export type EmailTemplateFields = Pick<
  EmailTemplateRow,
  'name' | 'title' | 'description' | 'subject' | 'body'
>;

export async function insertTemplate(
  sql: Sql,
  row: EmailTemplateFields & { id: string; workspace_id: string; created_by: string },
): Promise<EmailTemplateRow> {
  return (await sql.one<EmailTemplateRow>(
    `INSERT INTO email_templates (id, workspace_id, name, title, description, subject, body, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [row.id, row.workspace_id, row.name, row.title, row.description, row.subject, row.body, row.created_by],
  ))!;
}

export async function updateTemplate(
  sql: Sql,
  id: string,
  row: EmailTemplateFields,
): Promise<EmailTemplateRow> {
  return (await sql.one<EmailTemplateRow>(
    `UPDATE email_templates SET name = $2, title = $3, description = $4, subject = $5, body = $6, updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, row.name, row.title, row.description, row.subject, row.body],
  ))!;
}

/** By id or name. */
export function templateByRef(
  sql: Sql,
  workspaceId: string,
  ref: string,
  lock = false,
): Promise<EmailTemplateRow | undefined> {
  return sql.one<EmailTemplateRow>(
    `SELECT * FROM email_templates WHERE workspace_id = $1 AND (id::text = $2 OR name = $2) ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, ref],
  );
}

export function templatesPage(
  sql: Sql,
  workspaceId: string,
  q: string | undefined,
  afterName: string | undefined,
  limit: number,
): Promise<EmailTemplateRow[]> {
  return sql.rows<EmailTemplateRow>(
    `SELECT * FROM email_templates
      WHERE workspace_id = $1 AND ($2::text IS NULL OR title ILIKE '%' || $2 || '%' OR name ILIKE '%' || $2 || '%')
        AND ($3::text IS NULL OR name > $3)
      ORDER BY name LIMIT $4`,
    [workspaceId, q ?? null, afterName ?? null, limit],
  );
}

export async function deleteTemplate(sql: Sql, id: string): Promise<void> {
  await sql.exec('DELETE FROM email_templates WHERE id = $1', [id]);
}
