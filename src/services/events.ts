import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import { invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { microsToIso, parseRfc3339 } from '../domain/log-window.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';
import type { RunQueue } from '../engine/run-queue.js';
import type { Database, Sql } from '../store/database.js';
import {
  eventById,
  eventsPage,
  insertEvent,
  labelsFor,
  recordRouting,
  workflowsOnLabels,
  type EventFilter,
  type EventRow,
} from '../store/events.js';
import { insertTriggerEvent } from '../store/webhooks.js';

/** Where an event came from, as Orchestrate names it. */
export type EventSource = 'Openapi' | 'Platform' | 'Webhooks';

export interface EventInput {
  title: string;
  app_identifier: string;
  action_identifier: string;
  data?: unknown;
  extra_data?: unknown;
  /** Labels attached by hand, besides those the configured trigger gives. */
  labels?: string[] | undefined;
}

export interface EventView {
  id: string;
  readable_id: string;
  title: string;
  app_identifier: string;
  action_identifier: string;
  data?: unknown;
  extra_data?: unknown;
  labels: string[];
  source: string;
  created_at: string;
  created_by: string;
  /** Whether it started a run. */
  processed: boolean;
  /** Whether a run it started failed. */
  execution_error: boolean;
  execution_ids: string[];
  /** Why it started nothing. */
  reason: string | null;
}

/** TE + the id's first ten characters, as Orchestrate's event ids look (TE3970854f-a). */
export function eventReadableId(id: string): string {
  return `TE${id.slice(0, 10)}`;
}

export function toEventView(row: EventRow, detail: boolean): EventView {
  return {
    id: row.id,
    readable_id: eventReadableId(row.id),
    title: row.title,
    app_identifier: row.app_identifier,
    action_identifier: row.action_identifier,
    ...(detail && { data: row.data, extra_data: row.extra_data }),
    labels: row.labels,
    source: row.source,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    processed: row.execution_ids.length > 0,
    execution_error: row.execution_error,
    execution_ids: row.execution_ids,
    reason: row.reason,
  };
}

/** What a run started by an event sees as `$.event`. */
export function eventPayload(row: EventRow): Record<string, unknown> {
  return {
    id: row.id,
    readable_id: eventReadableId(row.id),
    title: row.title,
    app_identifier: row.app_identifier,
    action_identifier: row.action_identifier,
    data: row.data,
    extra_data: row.extra_data,
    labels: row.labels,
    source: row.source,
    created_at: row.created_at.toISOString(),
  };
}

const IDENTIFIER_MAX = 200;

export interface EventQuery {
  title?: string | undefined;
  app_identifier?: string | undefined;
  action_identifier?: string | undefined;
  label?: string | undefined;
  id?: string | undefined;
  q?: string | undefined;
  start_time?: string | undefined;
  end_time?: string | undefined;
  processed?: boolean | undefined;
  page_size?: number | undefined;
  page_token?: string | undefined;
}

/**
 * Source events: (source app, event type, data). The active configured trigger for the pair adds
 * its labels, and every enabled, published workflow with an `event` trigger on one of the labels
 * runs with the event as `$.event`, in the transaction that stores the event. An event that starts
 * nothing is kept with the reason, and shows in the activity log.
 */
export class EventService {
  constructor(private readonly deps: { db: Database; queue: RunQueue; pageTokens: PageTokenCodec }) {}

  async create(principal: Principal, input: EventInput, source: EventSource): Promise<EventView> {
    authorize(principal, 'events.create');
    return this.raise(principal.workspaceId, principal.actor.email || principal.actor.name, input, source);
  }

  /** Stores and routes an event for a workspace (the webhook path has no principal). */
  async raise(workspaceId: string, by: string, input: EventInput, source: EventSource): Promise<EventView> {
    checkInput(input);
    const id = newId();
    await this.deps.db.transaction(async (tx) => {
      const configured = await labelsFor(tx, workspaceId, input.app_identifier, input.action_identifier);
      const labels = [...new Set([...(input.labels ?? []), ...configured])];
      await insertEvent(tx, {
        id,
        workspace_id: workspaceId,
        title: input.title,
        app_identifier: input.app_identifier,
        action_identifier: input.action_identifier,
        data: input.data ?? {},
        extra_data: input.extra_data ?? {},
        labels,
        source,
        created_by: by,
      });
      const row = (await eventById(tx, workspaceId, id))!;
      await this.#route(tx, row);
    });
    return toEventView((await eventById(this.deps.db, workspaceId, id))!, true);
  }

  async #route(tx: Sql, event: EventRow): Promise<void> {
    const started: string[] = [];
    let reason: string | null = null;
    if (event.labels.length === 0) {
      reason = `no active trigger is configured for ${event.app_identifier} / ${event.action_identifier}, and the event has no labels`;
    } else {
      const listeners = await workflowsOnLabels(tx, event.workspace_id, event.labels);
      const payload = eventPayload(event);
      for (const w of listeners.filter((l) => l.enabled)) {
        const row = await this.deps.queue.enqueue(tx, {
          workspaceId: event.workspace_id,
          workflowId: w.id,
          revisionId: w.published_revision_id,
          trigger: {
            type: 'event',
            revision: 'published',
            event_id: event.id,
            event_readable_id: eventReadableId(event.id),
            labels: w.labels.filter((l) => event.labels.includes(l)),
            source: event.source,
          },
          input: payload,
        });
        started.push(row.id);
      }
      if (started.length === 0)
        reason =
          listeners.length > 0
            ? `the workflows labelled ${quoted(event.labels)} are disabled`
            : `no published workflow has an event trigger on ${quoted(event.labels)}`;
    }
    await recordRouting(tx, event.id, started, reason);
    if (reason) {
      await insertTriggerEvent(tx, {
        id: newId(),
        workspace_id: event.workspace_id,
        workflow_id: null,
        workflow_name: '',
        source: 'event',
        reason,
        body: {
          event_id: event.id,
          readable_id: eventReadableId(event.id),
          title: event.title,
          data: event.data,
        },
      });
    }
  }

  async get(principal: Principal, id: string): Promise<EventView> {
    authorize(principal, 'events.read');
    return toEventView(await this.row(principal, id), true);
  }

  /** The stored event (for running a workflow with it). */
  async row(principal: Principal, id: string): Promise<EventRow> {
    authorize(principal, 'events.read');
    const row = await eventById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('EVENT_NOT_FOUND', 'event', id);
    return row;
  }

  async list(
    principal: Principal,
    q: EventQuery,
  ): Promise<{ events: EventView[]; next_page_token?: string }> {
    authorize(principal, 'events.read');
    const size = pageSize(q.page_size, 100, 500);
    const scope = `events:${principal.workspaceId}`;
    let after: { createdAt: string; id: string } | undefined;
    if (q.page_token) {
      const c = this.deps.pageTokens.decode(q.page_token);
      if (c.k !== scope || typeof c.t !== 'string' || typeof c.i !== 'string')
        throw invalidArgument('page_token', 'page_token does not belong to this list', 'INVALID_PAGE_TOKEN');
      after = { createdAt: c.t, id: c.i };
    }
    const rows = await eventsPage(this.deps.db, this.filter(principal, q), { limit: size + 1, after });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      events: page.map((r) => toEventView(r, false)),
      ...(rows.length > size &&
        last && {
          next_page_token: this.deps.pageTokens.encode({ k: scope, t: last.created_at_text, i: last.id }),
        }),
    };
  }

  /** A numbered page (Orchestrate's `page`/`page_size`) and the count of matches. */
  async numberedPage(
    principal: Principal,
    q: EventQuery,
    offset: number,
    limit: number,
  ): Promise<{ count: number; events: EventView[] }> {
    authorize(principal, 'events.read');
    const rows = await eventsPage(this.deps.db, this.filter(principal, q), { limit, offset });
    const count =
      rows[0]?.total ??
      (offset > 0
        ? ((await eventsPage(this.deps.db, this.filter(principal, q), { limit: 1, offset: 0 }))[0]?.total ??
          0)
        : 0);
    return { count, events: rows.map((r) => toEventView(r, false)) };
  }

  filter(principal: Principal, q: EventQuery): EventFilter {
    const since = q.start_time ? microsToIso(parseRfc3339('start_time', q.start_time)) : undefined;
    const until = q.end_time ? microsToIso(parseRfc3339('end_time', q.end_time)) : undefined;
    return {
      workspaceId: principal.workspaceId,
      title: q.title,
      appIdentifier: q.app_identifier,
      actionIdentifier: q.action_identifier,
      label: q.label,
      id: q.id,
      q: q.q,
      since,
      until,
      processed: q.processed,
    };
  }
}

function quoted(labels: readonly string[]): string {
  return labels.map((l) => `"${l}"`).join(', ');
}

function checkInput(input: EventInput): void {
  for (const field of ['title', 'app_identifier', 'action_identifier'] as const) {
    const value: unknown = input[field];
    if (typeof value !== 'string' || !value.trim())
      throw invalidArgument(field, `${field} is required and must be a non-empty string`);
    if (value.length > (field === 'title' ? 500 : IDENTIFIER_MAX))
      throw invalidArgument(
        field,
        `${field} is at most ${field === 'title' ? 500 : IDENTIFIER_MAX} characters`,
      );
  }
  if (input.data !== undefined && (input.data === null || typeof input.data !== 'object'))
    throw invalidArgument('data', 'data must be a JSON object or array');
  if (input.extra_data !== undefined && (input.extra_data === null || typeof input.extra_data !== 'object'))
    throw invalidArgument('extra_data', 'extra_data must be a JSON object or array');
  if (input.labels !== undefined) {
    if (!Array.isArray(input.labels))
      throw invalidArgument('labels', 'labels must be a list of label titles');
    input.labels.forEach((l, i) => {
      if (typeof l !== 'string' || !l.trim() || l.length > 100)
        throw invalidArgument(`labels[${i}]`, 'a label is a title of 1-100 characters');
    });
  }
}
