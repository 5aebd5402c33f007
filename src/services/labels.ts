import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import type { Database, Sql } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import { deleteRow, insertRow, rowByRef, rowsPage, type RowTable } from '../store/workspace-rows.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

export interface LabelRow {
  id: string;
  workspace_id: string;
  title: string;
  description: string;
  color: string;
  created_at: Date;
  created_by: string;
}

const LABELS: RowTable = {
  table: 'labels',
  fields: ['title', 'description', 'color'],
  refs: ['title'],
  order: 'title',
};

export interface LabelView {
  id: string;
  title: string;
  description: string;
  color: string;
  created_at: string;
  created_by: string;
}

export function toLabelView(row: LabelRow): LabelView {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    color: row.color,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
  };
}

const COLOR = /^#[0-9a-fA-F]{6}$/;
export const LABEL_TITLE_MAX = 100;

/** Data labels: what configured triggers put on events and event-triggered workflows listen on. */
export class LabelService {
  constructor(private readonly deps: { db: Database; audit: AuditService; pageTokens: PageTokenCodec }) {}

  async create(
    principal: Principal,
    input: { title: string; description?: string | undefined; color?: string | undefined },
  ): Promise<LabelView> {
    authorize(principal, 'events.manage');
    const title = input.title.trim();
    if (!title || title.length > LABEL_TITLE_MAX)
      throw invalidArgument('title', `title must be 1-${LABEL_TITLE_MAX} characters`);
    if (input.color !== undefined && !COLOR.test(input.color))
      throw invalidArgument('color', 'color must be a hex colour like #1E88E5');
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#insert(tx, principal, title, input.description ?? '', input.color).catch(
        (e: unknown) => {
          throw e instanceof UniqueViolation
            ? conflict('LABEL_TITLE_TAKEN', `a label titled "${title}" already exists`, 'title')
            : e;
        },
      );
      return toLabelView(row);
    });
  }

  /**
   * The labels with these titles, creating (and auditing) those missing, in the caller's
   * transaction: configuring a trigger with a new label title makes the label.
   */
  async ensure(tx: Sql, principal: Principal, titles: readonly string[]): Promise<LabelRow[]> {
    const out: LabelRow[] = [];
    for (const title of titles) {
      // ON CONFLICT: triggers configured at once that name the same new label both succeed.
      const made = await tx.one<LabelRow>(
        `INSERT INTO labels (id, workspace_id, title, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, title) DO NOTHING RETURNING *`,
        [newId(), principal.workspaceId, title, principal.actor.email || principal.actor.name],
      );
      if (made) await this.#audited(tx, principal, made);
      out.push(made ?? (await rowByRef<LabelRow>(tx, LABELS, principal.workspaceId, title))!);
    }
    return out;
  }

  async #insert(
    tx: Sql,
    principal: Principal,
    title: string,
    description: string,
    color: string | undefined,
  ): Promise<LabelRow> {
    const row = await insertRow<LabelRow>(tx, LABELS, {
      id: newId(),
      workspace_id: principal.workspaceId,
      created_by: principal.actor.email || principal.actor.name,
      title,
      description,
      color: color ?? '#2563EB',
    });
    await this.#audited(tx, principal, row);
    return row;
  }

  async #audited(tx: Sql, principal: Principal, row: LabelRow): Promise<void> {
    await this.deps.audit.record(tx, principal, {
      action: AUDIT_ACTIONS.labelCreated,
      resourceId: row.id,
      resourceName: row.title,
    });
  }

  async list(
    principal: Principal,
    query: { q?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ labels: LabelView[]; next_page_token?: string }> {
    authorize(principal, 'events.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `labels:${principal.workspaceId}:${query.q ?? ''}`,
      query,
      (after, limit) =>
        rowsPage<LabelRow>(this.deps.db, LABELS, principal.workspaceId, query.q, after, limit),
      (row) => row.title,
    );
    return { labels: rows.map(toLabelView), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<LabelView> {
    authorize(principal, 'events.read');
    const row = await rowByRef<LabelRow>(this.deps.db, LABELS, principal.workspaceId, ref);
    if (!row) throw notFound('LABEL_NOT_FOUND', 'label', ref);
    return toLabelView(row);
  }

  /**
   * Deletes a label and takes it off configured triggers, deleting triggers left with none (events
   * keep the titles they had).
   */
  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'events.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await rowByRef<LabelRow>(tx, LABELS, principal.workspaceId, ref, true);
      if (!row) throw notFound('LABEL_NOT_FOUND', 'label', ref);
      await deleteRow(tx, LABELS, row.id);
      await tx.exec(
        `UPDATE event_triggers SET labels = array_remove(labels, $2), updated_at = now()
          WHERE workspace_id = $1 AND $2 = ANY(labels)`,
        [principal.workspaceId, row.title],
      );
      // A trigger left with no label would route nothing: it goes too.
      await tx.exec(`DELETE FROM event_triggers WHERE workspace_id = $1 AND cardinality(labels) = 0`, [
        principal.workspaceId,
      ]);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.labelDeleted,
        resourceId: row.id,
        resourceName: row.title,
      });
    });
  }

  /** The label rows for these titles (those that exist). */
  byTitles(sql: Sql, workspaceId: string, titles: readonly string[]): Promise<LabelRow[]> {
    return sql.rows<LabelRow>('SELECT * FROM labels WHERE workspace_id = $1 AND title = ANY($2::text[])', [
      workspaceId,
      titles,
    ]);
  }
}
