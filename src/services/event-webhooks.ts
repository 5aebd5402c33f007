import { createHash } from 'node:crypto';
import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound, OspreyError } from '../domain/errors.js';
import { newId, randomToken } from '../domain/ids.js';
import type { Database, Sql } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import type { Clock } from '../domain/clock.js';
import type { AuditService } from './audit.js';
import { PerSecondLimit } from './per-second-limit.js';
import type { EventInput, EventService, EventView } from './events.js';

export interface EventWebhookRow {
  id: string;
  workspace_id: string;
  title: string;
  description: string;
  enabled: boolean;
  created_at: Date;
  created_by: string;
  rotated_at: Date | null;
  last_used_at: Date | null;
}

export interface EventWebhookView {
  id: string;
  title: string;
  description: string;
  enabled: boolean;
  created_at: string;
  created_by: string;
  rotated_at: string | null;
  last_used_at: string | null;
}

/** Shown once, when a webhook is created or its token rotated. */
export interface EventWebhookSecret {
  token: string;
  /** Detailed response (the event as stored). */
  url: string;
  /** Concise response (Orchestrate 3.5.9's v2 URLs). */
  v2_url: string;
}

function toView(row: EventWebhookRow): EventWebhookView {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    enabled: row.enabled,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    rotated_at: row.rotated_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const COLUMNS =
  'id, workspace_id, title, description, enabled, created_at, created_by, rotated_at, last_used_at';

/**
 * Inbound webhooks that raise source events (Orchestrate's `/soarapi/webhooks_auth/events/`). A
 * webhook holds a token, kept only as its SHA-256 and shown once; rotating replaces it, disabling
 * refuses deliveries. Events raised through it come from source "Webhooks".
 */
export class EventWebhookService {
  readonly #limit: PerSecondLimit;

  constructor(
    private readonly deps: {
      db: Database;
      audit: AuditService;
      events: EventService;
      publicUrl: string;
      clock: Clock;
      ratePerSecond: number;
    },
  ) {
    this.#limit = new PerSecondLimit(deps.clock, deps.ratePerSecond, 'this webhook');
  }

  async create(
    principal: Principal,
    input: { title: string; description?: string | undefined; enabled?: boolean | undefined },
  ): Promise<EventWebhookView & EventWebhookSecret> {
    authorize(principal, 'events.manage');
    const title = input.title.trim();
    if (!title) throw invalidArgument('title', 'title is required');
    const token = randomToken(24);
    return this.deps.db.transaction(async (tx) => {
      const row = await tx
        .one<EventWebhookRow>(
          `INSERT INTO event_webhooks (id, workspace_id, title, description, token_hash, enabled, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
          [
            newId(),
            principal.workspaceId,
            title,
            input.description ?? '',
            sha256(token),
            input.enabled ?? true,
            principal.actor.email || principal.actor.name,
          ],
        )
        .catch((e: unknown) => {
          throw taken(e, title);
        });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventWebhookCreated,
        resourceId: row!.id,
        resourceName: row!.title,
      });
      return { ...toView(row!), ...this.#secret(token) };
    });
  }

  async list(principal: Principal): Promise<EventWebhookView[]> {
    authorize(principal, 'events.read');
    const rows = await this.deps.db.rows<EventWebhookRow>(
      `SELECT ${COLUMNS} FROM event_webhooks WHERE workspace_id = $1 ORDER BY title`,
      [principal.workspaceId],
    );
    return rows.map(toView);
  }

  async get(principal: Principal, id: string): Promise<EventWebhookView> {
    authorize(principal, 'events.read');
    return toView(await this.#row(this.deps.db, principal, id));
  }

  async update(
    principal: Principal,
    id: string,
    patch: { title?: string | undefined; description?: string | undefined; enabled?: boolean | undefined },
  ): Promise<EventWebhookView> {
    authorize(principal, 'events.manage');
    if (patch.title !== undefined && !patch.title.trim()) throw invalidArgument('title', 'title is empty');
    return this.deps.db.transaction(async (tx) => {
      const before = await this.#row(tx, principal, id, true);
      const row = await tx
        .one<EventWebhookRow>(
          `UPDATE event_webhooks SET title = $2, description = $3, enabled = $4 WHERE id = $1 RETURNING ${COLUMNS}`,
          [
            before.id,
            patch.title?.trim() ?? before.title,
            patch.description ?? before.description,
            patch.enabled ?? before.enabled,
          ],
        )
        .catch((e: unknown) => {
          throw taken(e, patch.title ?? before.title);
        });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventWebhookUpdated,
        resourceId: before.id,
        resourceName: row!.title,
        extraData: {
          changed_fields: Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined),
          enabled: row!.enabled,
        },
      });
      return toView(row!);
    });
  }

  /** A new token; the old one answers 401 from now on. */
  async rotate(principal: Principal, id: string): Promise<EventWebhookView & EventWebhookSecret> {
    authorize(principal, 'events.manage');
    const token = randomToken(24);
    return this.deps.db.transaction(async (tx) => {
      const before = await this.#row(tx, principal, id, true);
      const row = await tx.one<EventWebhookRow>(
        `UPDATE event_webhooks SET token_hash = $2, rotated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
        [before.id, sha256(token)],
      );
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventWebhookRotated,
        resourceId: before.id,
        resourceName: before.title,
      });
      return { ...toView(row!), ...this.#secret(token) };
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'events.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await this.#row(tx, principal, id, true);
      await tx.exec('DELETE FROM event_webhooks WHERE id = $1', [row.id]);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.eventWebhookDeleted,
        resourceId: row.id,
        resourceName: row.title,
      });
    });
  }

  /** Checks a token: 401 when unknown, 403 when the webhook is disabled. */
  async authenticate(token: string | undefined): Promise<EventWebhookRow> {
    const row =
      token && token.length <= 200
        ? await this.deps.db.one<EventWebhookRow>(
            `UPDATE event_webhooks SET last_used_at = CASE WHEN enabled THEN now() ELSE last_used_at END
              WHERE token_hash = $1 RETURNING ${COLUMNS}`,
            [sha256(token)],
          )
        : undefined;
    if (!row) throw new OspreyError('WEBHOOK_UNAUTHORIZED', 401, 'the webhook token is missing or wrong');
    if (!row.enabled)
      throw new OspreyError('EVENT_WEBHOOK_DISABLED', 403, `the webhook "${row.title}" is disabled`);
    return row;
  }

  /** Raises an event through an authenticated webhook. */
  receive(hook: EventWebhookRow, input: EventInput): Promise<EventView> {
    this.#limit.take(hook.id);
    return this.deps.events.raise(hook.workspace_id, `webhook: ${hook.title}`, input, 'Webhooks');
  }

  #secret(token: string): EventWebhookSecret {
    const base = `${this.deps.publicUrl.replace(/\/+$/, '')}/soarapi/webhooks_auth`;
    return {
      token,
      url: `${base}/events/?token=${token}`,
      v2_url: `${base}/v2/events/?token=${token}`,
    };
  }

  async #row(sql: Sql, principal: Principal, id: string, lock = false): Promise<EventWebhookRow> {
    const row = await sql.one<EventWebhookRow>(
      `SELECT ${COLUMNS} FROM event_webhooks WHERE workspace_id = $1 AND id::text = $2 ${lock ? 'FOR UPDATE' : ''}`,
      [principal.workspaceId, id],
    );
    if (!row) throw notFound('EVENT_WEBHOOK_NOT_FOUND', 'event webhook', id);
    return row;
  }
}

function taken(error: unknown, title: string): unknown {
  return error instanceof UniqueViolation
    ? conflict('EVENT_WEBHOOK_TITLE_TAKEN', `an event webhook titled "${title}" already exists`, 'title')
    : error;
}
