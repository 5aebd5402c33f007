import type { Sql } from './database.js';

export interface EventRow {
  id: string;
  workspace_id: string;
  title: string;
  app_identifier: string;
  action_identifier: string;
  data: unknown;
  extra_data: unknown;
  labels: string[];
  source: string;
  created_by: string;
  created_at: Date;
  /** created_at with microseconds, for page cursors. */
  created_at_text: string;
  execution_ids: string[];
  reason: string | null;
  /** Whether a run it started failed (computed). */
  execution_error: boolean;
  /** Rows matching the filters, on the first row of a counted page. */
  total?: number;
}

export interface EventFilter {
  workspaceId: string;
  title?: string | undefined;
  appIdentifier?: string | undefined;
  actionIdentifier?: string | undefined;
  label?: string | undefined;
  id?: string | undefined;
  /** Searches title, app and action identifiers and id. */
  q?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  processed?: boolean | undefined;
}

const COLUMNS = `e.*, to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_text,
  EXISTS (SELECT 1 FROM executions x WHERE x.id = ANY(e.execution_ids) AND x.status = 'failed') AS execution_error`;

export async function insertEvent(
  sql: Sql,
  e: Pick<
    EventRow,
    | 'id'
    | 'workspace_id'
    | 'title'
    | 'app_identifier'
    | 'action_identifier'
    | 'data'
    | 'extra_data'
    | 'labels'
    | 'source'
    | 'created_by'
  >,
): Promise<void> {
  await sql.exec(
    `INSERT INTO events (id, workspace_id, title, app_identifier, action_identifier, data, extra_data, labels, source, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      e.id,
      e.workspace_id,
      e.title,
      e.app_identifier,
      e.action_identifier,
      JSON.stringify(e.data),
      JSON.stringify(e.extra_data),
      e.labels,
      e.source,
      e.created_by,
    ],
  );
}

export async function recordRouting(
  sql: Sql,
  id: string,
  executionIds: readonly string[],
  reason: string | null,
): Promise<void> {
  await sql.exec('UPDATE events SET execution_ids = $2::uuid[], reason = $3 WHERE id = $1', [
    id,
    executionIds,
    reason,
  ]);
}

export function eventById(sql: Sql, workspaceId: string, id: string): Promise<EventRow | undefined> {
  return sql.one<EventRow>(`SELECT ${COLUMNS} FROM events e WHERE e.workspace_id = $1 AND e.id::text = $2`, [
    workspaceId,
    id,
  ]);
}

/**
 * Newest first. `after` continues a keyset page; `offset` serves numbered pages and counts the
 * matches (`total` on each row).
 */
export function eventsPage(
  sql: Sql,
  f: EventFilter,
  page: { limit: number; after?: { createdAt: string; id: string } | undefined; offset?: number | undefined },
): Promise<EventRow[]> {
  const params: unknown[] = [
    f.workspaceId,
    f.title ?? null,
    f.appIdentifier ?? null,
    f.actionIdentifier ?? null,
    f.label ?? null,
    f.id ?? null,
    f.q ?? null,
    f.since ?? null,
    f.until ?? null,
    f.processed ?? null,
    page.limit,
    page.after?.createdAt ?? null,
    page.after?.id ?? null,
    page.offset ?? 0,
  ];
  return sql.rows<EventRow>(
    `SELECT ${COLUMNS}${page.offset !== undefined ? ', count(*) OVER ()::int AS total' : ''} FROM events e
      WHERE e.workspace_id = $1
        AND ($2::text IS NULL OR e.title ILIKE '%' || $2 || '%')
        AND ($3::text IS NULL OR e.app_identifier = $3)
        AND ($4::text IS NULL OR e.action_identifier = $4)
        AND ($5::text IS NULL OR $5 = ANY(e.labels))
        AND ($6::text IS NULL OR e.id::text = $6)
        AND ($7::text IS NULL OR e.title ILIKE '%' || $7 || '%' OR e.app_identifier ILIKE '%' || $7 || '%'
             OR e.action_identifier ILIKE '%' || $7 || '%' OR e.id::text = $7)
        AND ($8::timestamptz IS NULL OR e.created_at >= $8)
        AND ($9::timestamptz IS NULL OR e.created_at <= $9)
        AND ($10::boolean IS NULL OR (cardinality(e.execution_ids) > 0) = $10)
        AND ($12::timestamptz IS NULL OR (e.created_at, e.id) < ($12::timestamptz, $13::uuid))
      ORDER BY e.created_at DESC, e.id DESC LIMIT $11 OFFSET $14`,
    params,
  );
}

export interface EventTriggerRow {
  id: string;
  workspace_id: string;
  app_identifier: string;
  action_identifier: string;
  labels: string[];
  is_active: boolean;
  created_at: Date;
  created_by: string;
  updated_at: Date;
  updated_by: string;
}

/** Creates the trigger for (app, event type), or replaces its labels and state. */
export function upsertEventTrigger(
  sql: Sql,
  t: Pick<
    EventTriggerRow,
    'id' | 'workspace_id' | 'app_identifier' | 'action_identifier' | 'labels' | 'is_active' | 'created_by'
  >,
): Promise<EventTriggerRow & { inserted: boolean }> {
  return sql.one(
    `INSERT INTO event_triggers (id, workspace_id, app_identifier, action_identifier, labels, is_active, created_by, updated_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
     ON CONFLICT (workspace_id, app_identifier, action_identifier) DO UPDATE
       SET labels = EXCLUDED.labels, is_active = EXCLUDED.is_active, updated_by = EXCLUDED.updated_by, updated_at = now()
     RETURNING *, (xmax = 0) AS inserted`,
    [t.id, t.workspace_id, t.app_identifier, t.action_identifier, t.labels, t.is_active, t.created_by],
  ) as Promise<EventTriggerRow & { inserted: boolean }>;
}

export function eventTriggers(sql: Sql, workspaceId: string): Promise<EventTriggerRow[]> {
  return sql.rows<EventTriggerRow>(
    'SELECT * FROM event_triggers WHERE workspace_id = $1 ORDER BY app_identifier, action_identifier',
    [workspaceId],
  );
}

export function eventTriggerById(
  sql: Sql,
  workspaceId: string,
  id: string,
  lock = false,
): Promise<EventTriggerRow | undefined> {
  return sql.one<EventTriggerRow>(
    `SELECT * FROM event_triggers WHERE workspace_id = $1 AND id::text = $2 ${lock ? 'FOR UPDATE' : ''}`,
    [workspaceId, id],
  );
}

/** The labels active triggers give events of (app, event type). */
export async function labelsFor(
  sql: Sql,
  workspaceId: string,
  app: string,
  action: string,
): Promise<string[]> {
  const row = await sql.one<{ labels: string[] }>(
    `SELECT labels FROM event_triggers
      WHERE workspace_id = $1 AND app_identifier = $2 AND action_identifier = $3 AND is_active`,
    [workspaceId, app, action],
  );
  return row?.labels ?? [];
}

export interface LabelledWorkflow {
  id: string;
  name: string;
  enabled: boolean;
  published_revision_id: string;
  labels: string[];
}

/** Published workflows whose published trigger is `event` on any of these labels. */
export function workflowsOnLabels(
  sql: Sql,
  workspaceId: string,
  labels: readonly string[],
): Promise<LabelledWorkflow[]> {
  return sql.rows<LabelledWorkflow>(
    `SELECT w.id, w.name, w.enabled, w.published_revision_id,
            ARRAY(SELECT jsonb_array_elements_text(r.definition->'trigger'->'labels')) AS labels
       FROM workflows w JOIN workflow_revisions r ON r.id = w.published_revision_id
      WHERE w.workspace_id = $1 AND r.definition->'trigger'->>'type' = 'event'
        AND (r.definition->'trigger'->'labels') ?| $2::text[]
      ORDER BY w.name, w.id`,
    [workspaceId, labels],
  );
}

/** Deletes source events older than `days` (the runs they started keep their own retention). */
export function pruneEvents(sql: Sql, days: number): Promise<number> {
  return sql.exec(`DELETE FROM events WHERE created_at < now() - make_interval(days => $1)`, [days]);
}
