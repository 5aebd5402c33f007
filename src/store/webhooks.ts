import type { Sql } from './database.js';

export interface WebhookTarget {
  workflow_id: string;
  workspace_id: string;
  name: string;
  enabled: boolean;
  trigger_type: string;
  published_revision_id: string | null;
}

/** The workflow a webhook token (by its SHA-256) belongs to. */
export function workflowByWebhookHash(sql: Sql, hash: Buffer): Promise<WebhookTarget | undefined> {
  return sql.one<WebhookTarget>(
    `SELECT id AS workflow_id, workspace_id, name, enabled, trigger_type, published_revision_id
       FROM workflows WHERE webhook_token_hash = $1`,
    [hash],
  );
}

export async function setWebhookToken(
  sql: Sql,
  workflowId: string,
  token: { hash: Buffer; sealed: Buffer; version: number },
): Promise<void> {
  await sql.exec(
    `UPDATE workflows SET webhook_token_hash = $2, webhook_token_encrypted = $3, webhook_key_version = $4
      WHERE id = $1`,
    [workflowId, token.hash, token.sealed, token.version],
  );
}

export function sealedWebhookToken(
  sql: Sql,
  workspaceId: string,
  workflowId: string,
): Promise<{ data: Buffer | null; version: number | null } | undefined> {
  return sql.one(
    `SELECT webhook_token_encrypted AS data, webhook_key_version AS version
       FROM workflows WHERE workspace_id = $1 AND id = $2`,
    [workspaceId, workflowId],
  );
}

/** A delivery that started no run, kept for the activity log. */
export async function insertTriggerEvent(
  sql: Sql,
  e: {
    id: string;
    workspace_id: string;
    workflow_id: string | null;
    workflow_name: string;
    source: string;
    reason: string;
    body: unknown;
  },
): Promise<void> {
  await sql.exec(
    `INSERT INTO trigger_events (id, workspace_id, workflow_id, workflow_name, source, reason, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      e.id,
      e.workspace_id,
      e.workflow_id,
      e.workflow_name,
      e.source,
      e.reason,
      JSON.stringify(e.body ?? null),
    ],
  );
}

/** Deletes trigger deliveries older than `days`. */
export function pruneTriggerEvents(sql: Sql, days: number): Promise<number> {
  return sql.exec(`DELETE FROM trigger_events WHERE created_at < now() - make_interval(days => $1)`, [days]);
}
