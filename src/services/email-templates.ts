import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { placeholders, renderTemplate } from '../domain/email-template.js';
import { conflict, invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { isSlug, slugify } from '../domain/slug.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { ActionError } from '../integrations/action-error.js';
import type { Database } from '../store/database.js';
import { EMAIL_TEMPLATES, type EmailTemplateRow } from '../store/email-templates.js';
import { deleteRow, insertRow, rowByRef, rowsPage, updateRow } from '../store/workspace-rows.js';
import { UniqueViolation } from '../store/pg-errors.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

export interface EmailTemplateView {
  id: string;
  name: string;
  title: string;
  description: string;
  subject: string;
  body?: string;
  placeholders: string[];
  created_at: string;
  created_by: string;
  updated_at: string;
}

function toView(row: EmailTemplateRow, withBody: boolean): EmailTemplateView {
  return {
    id: row.id,
    name: row.name,
    title: row.title,
    description: row.description,
    subject: row.subject,
    ...(withBody && { body: row.body }),
    placeholders: placeholders(`${row.subject}\n${row.body}`),
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    updated_at: row.updated_at.toISOString(),
  };
}

export interface EmailTemplateInput {
  name?: string | undefined;
  title?: string | undefined;
  description?: string | undefined;
  subject?: string | undefined;
  body?: string | undefined;
}

/** Email templates: HTML with `{{var}}` placeholders that the email action fills in, HTML-escaped. */
export class EmailTemplateService {
  constructor(private readonly deps: { db: Database; audit: AuditService; pageTokens: PageTokenCodec }) {}

  async create(principal: Principal, input: EmailTemplateInput): Promise<EmailTemplateView> {
    authorize(principal, 'templates.manage');
    if (!input.title) throw invalidArgument('title', 'title is required');
    if (input.body === undefined) throw invalidArgument('body', 'body is required');
    const name = input.name ?? slugify(input.title, 100);
    if (!isSlug(name, 100))
      throw invalidArgument(
        input.name ? 'name' : 'title',
        'the name must be 1-100 lower-case letters, digits, "-" or "_"',
      );
    return this.deps.db.transaction(async (tx) => {
      const row = await insertRow<EmailTemplateRow>(tx, EMAIL_TEMPLATES, {
        id: newId(),
        workspace_id: principal.workspaceId,
        name,
        title: input.title!,
        description: input.description ?? '',
        subject: input.subject ?? '',
        body: input.body!,
        created_by: principal.actor.email || principal.actor.name,
      }).catch((e: unknown) => {
        throw taken(e, name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.emailTemplateCreated,
        resourceId: row.id,
        resourceName: row.title,
      });
      return toView(row, true);
    });
  }

  async list(
    principal: Principal,
    query: { q?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ templates: EmailTemplateView[]; next_page_token?: string }> {
    authorize(principal, 'templates.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `email-templates:${principal.workspaceId}:${query.q ?? ''}`,
      query,
      (after, limit) =>
        rowsPage<EmailTemplateRow>(
          this.deps.db,
          EMAIL_TEMPLATES,
          principal.workspaceId,
          query.q,
          after,
          limit,
        ),
    );
    return { templates: rows.map((r) => toView(r, false)), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<EmailTemplateView> {
    authorize(principal, 'templates.read');
    return toView(await this.#row(principal.workspaceId, ref), true);
  }

  async update(principal: Principal, ref: string, patch: EmailTemplateInput): Promise<EmailTemplateView> {
    authorize(principal, 'templates.manage');
    if (patch.name !== undefined && !isSlug(patch.name, 100))
      throw invalidArgument('name', 'the name must be 1-100 lower-case letters, digits, "-" or "_"');
    return this.deps.db.transaction(async (tx) => {
      const before = await rowByRef<EmailTemplateRow>(tx, EMAIL_TEMPLATES, principal.workspaceId, ref, true);
      if (!before) throw notFound('EMAIL_TEMPLATE_NOT_FOUND', 'email template', ref);
      const row = await updateRow<EmailTemplateRow>(tx, EMAIL_TEMPLATES, before.id, {
        name: patch.name ?? before.name,
        title: patch.title ?? before.title,
        description: patch.description ?? before.description,
        subject: patch.subject ?? before.subject,
        body: patch.body ?? before.body,
      }).catch((e: unknown) => {
        throw taken(e, patch.name ?? before.name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.emailTemplateUpdated,
        resourceId: row.id,
        resourceName: row.title,
        extraData: {
          changed_fields: Object.keys(patch).filter(
            (k) => patch[k as keyof EmailTemplateInput] !== undefined,
          ),
        },
      });
      return toView(row, true);
    });
  }

  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'templates.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await rowByRef<EmailTemplateRow>(tx, EMAIL_TEMPLATES, principal.workspaceId, ref, true);
      if (!row) throw notFound('EMAIL_TEMPLATE_NOT_FOUND', 'email template', ref);
      await deleteRow(tx, EMAIL_TEMPLATES, row.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.emailTemplateDeleted,
        resourceId: row.id,
        resourceName: row.title,
      });
    });
  }

  /** For the email action: the template rendered with `data` (HTML-escaped values). */
  async render(
    workspaceId: string,
    ref: string,
    data: Record<string, unknown>,
  ): Promise<{ subject: string; html: string; missing: string[] }> {
    const row = await rowByRef<EmailTemplateRow>(this.deps.db, EMAIL_TEMPLATES, workspaceId, ref);
    if (!row)
      throw new ActionError('EMAIL_TEMPLATE_NOT_FOUND', `no email template "${ref}" in this workspace`);
    const html = renderTemplate(row.body, data);
    const subject = renderTemplate(row.subject, data, false);
    return {
      subject: subject.text,
      html: html.text,
      missing: [...new Set([...subject.missing, ...html.missing])],
    };
  }

  async #row(workspaceId: string, ref: string): Promise<EmailTemplateRow> {
    const row = await rowByRef<EmailTemplateRow>(this.deps.db, EMAIL_TEMPLATES, workspaceId, ref);
    if (!row) throw notFound('EMAIL_TEMPLATE_NOT_FOUND', 'email template', ref);
    return row;
  }
}

function taken(error: unknown, name: string): unknown {
  if (error instanceof UniqueViolation)
    return conflict('EMAIL_TEMPLATE_NAME_TAKEN', `an email template named "${name}" already exists`, 'name');
  return error;
}
