import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Database, Sql } from '../store/database.js';
import {
  eventTriggerById,
  eventTriggers,
  upsertEventTrigger,
  type EventTriggerRow,
} from '../store/events.js';
import type { AuditService } from './audit.js';
import { LABEL_TITLE_MAX, toLabelView, type LabelService, type LabelView } from './labels.js';

export interface EventTriggerView {
  id: string;
  app_identifier: string;
  action_identifier: string;
  labels: string[];
  labels_data: LabelView[];
  is_active: boolean;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

export interface EventTriggerInput {
  app_identifier: string;
  action_identifier: string;
  labels: string[];
  is_active?: boolean | undefined;
}

/**
 * Configured triggers: events of (source app, event type) get these labels, and so start the
 * workflows listening on them. One per pair: configuring the pair again replaces its labels.
 */
export class EventTriggerService {
  constructor(private readonly deps: { db: Database; audit: AuditService; labels: LabelService }) {}

  async configure(
    principal: Principal,
    input: EventTriggerInput,
  ): Promise<{ trigger: EventTriggerView; created: boolean }> {
    authorize(principal, 'events.manage');
    for (const field of ['app_identifier', 'action_identifier'] as const) {
      if (typeof input[field] !== 'string' || !input[field].trim() || input[field].length > 200)
        throw invalidArgument(field, `${field} must be 1-200 characters`);
    }
    const labels = [...new Set(input.labels.map((l) => l.trim()))];
    if (labels.length === 0) throw invalidArgument('labels', 'labels needs at least one label title');
    labels.forEach((l, i) => {
      if (!l || l.length > LABEL_TITLE_MAX)
        throw invalidArgument(`labels[${i}]`, `a label title is 1-${LABEL_TITLE_MAX} characters`);
    });
    return this.deps.db.transaction(async (tx) => {
      await this.deps.labels.ensure(tx, principal, labels);
      const row = await upsertEventTrigger(tx, {
        id: newId(),
        workspace_id: principal.workspaceId,
        app_identifier: input.app_identifier,
        action_identifier: input.action_identifier,
        labels,
        is_active: input.is_active ?? true,
        created_by: principal.actor.email || principal.actor.name,
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventTriggerConfigured,
        resourceId: row.id,
        resourceName: `${row.app_identifier}/${row.action_identifier}`,
        extraData: { labels, is_active: row.is_active, created: row.inserted },
      });
      return { trigger: await this.#view(tx, principal, row), created: row.inserted };
    });
  }

  async list(principal: Principal): Promise<EventTriggerView[]> {
    authorize(principal, 'events.read');
    const rows = await eventTriggers(this.deps.db, principal.workspaceId);
    return Promise.all(rows.map((r) => this.#view(this.deps.db, principal, r)));
  }

  async get(principal: Principal, id: string): Promise<EventTriggerView> {
    authorize(principal, 'events.read');
    const row = await eventTriggerById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('EVENT_TRIGGER_NOT_FOUND', 'event trigger', id);
    return this.#view(this.deps.db, principal, row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: { labels?: string[] | undefined; is_active?: boolean | undefined },
  ): Promise<EventTriggerView> {
    authorize(principal, 'events.manage');
    const row = await eventTriggerById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('EVENT_TRIGGER_NOT_FOUND', 'event trigger', id);
    const configured = await this.configure(principal, {
      app_identifier: row.app_identifier,
      action_identifier: row.action_identifier,
      labels: patch.labels ?? row.labels,
      is_active: patch.is_active ?? row.is_active,
    });
    return configured.trigger;
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'events.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await eventTriggerById(tx, principal.workspaceId, id, true);
      if (!row) throw notFound('EVENT_TRIGGER_NOT_FOUND', 'event trigger', id);
      await tx.exec('DELETE FROM event_triggers WHERE id = $1', [row.id]);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventTriggerDeleted,
        resourceId: row.id,
        resourceName: `${row.app_identifier}/${row.action_identifier}`,
      });
    });
  }

  async #view(sql: Sql, principal: Principal, row: EventTriggerRow): Promise<EventTriggerView> {
    const labels = await this.deps.labels.byTitles(sql, principal.workspaceId, row.labels);
    return {
      id: row.id,
      app_identifier: row.app_identifier,
      action_identifier: row.action_identifier,
      labels: row.labels,
      labels_data: labels.map(toLabelView),
      is_active: row.is_active,
      created_at: row.created_at.toISOString(),
      created_by: row.created_by,
      updated_at: row.updated_at.toISOString(),
      updated_by: row.updated_by,
    };
  }
}
