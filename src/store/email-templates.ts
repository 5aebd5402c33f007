import type { RowTable } from './workspace-rows.js';

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

/** Email templates are plain workspace rows, referenced by id or name. */
export const EMAIL_TEMPLATES: RowTable = {
  table: 'email_templates',
  fields: ['name', 'title', 'description', 'subject', 'body'],
  refs: ['name'],
  search: ['title', 'name'],
  order: 'name',
  touch: 'updated_at = now()',
};
