import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import { invalidArgument } from '../domain/errors.js';
import { walkSteps, type StepDefinition } from '../domain/workflow/validate.js';
import type { AppManifest } from '../domain/apps/manifest.js';
import type { Database } from '../store/database.js';

/** The thirteen dashboard metrics, by Orchestrate's `categorize_by` names. */
export const METRICS = [
  'playbook_run_count',
  'most_active_playbooks',
  'playbook_avg_execution_time',
  'most_used_instances',
  'most_used_apps',
  'most_used_actions',
  'most_active_actions',
  'most_active_apps',
  'most_active_instances',
  'event_count',
  'incoming_source_of_events',
  'unprocessed_events',
  'events_with_error',
] as const;
export type Metric = (typeof METRICS)[number];

export type Series = { label: string; value: number }[];
export type Ratio = { label: string; total_value: number; value: number };

const TOP = 10;
const DAY = new Intl.DateTimeFormat('en-US', {
  month: 'short',
  day: 'numeric',
  year: 'numeric',
  timeZone: 'UTC',
});

interface ActionUse {
  app: string;
  action: string;
  integration: string | undefined;
}

/** The action steps of a definition, by step id. */
function actionSteps(definition: unknown): Map<string, ActionUse> {
  const steps = ((definition as { steps?: unknown }).steps ?? []) as StepDefinition[];
  const out = new Map<string, ActionUse>();
  for (const { step } of walkSteps(steps)) {
    if (step.kind !== 'action' || typeof step.action !== 'string') continue;
    const [app = '', action = ''] = step.action.split('.');
    out.set(step.id, {
      app,
      action,
      integration: typeof step.integration === 'string' ? step.integration : undefined,
    });
  }
  return out;
}

function top(counts: Map<string, number>): Series {
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, TOP)
    .map(([label, value]) => ({ label, value }));
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export interface AnalyticsDeps {
  db: Database;
  /** The apps a workspace can use, for titles and versions in labels. */
  apps(workspaceId: string): Promise<AppManifest[]>;
}

/**
 * Dashboard metrics over a time range (runs and events created in it), in Orchestrate's shapes:
 * a daily series or a top-ten list of `{label, value}`, or a ratio `{label, total_value, value}`.
 * "Used" counts the workflows whose published definition (or draft, if unpublished) has the app,
 * action or integration; "active" counts the action steps run.
 */
export class AnalyticsService {
  constructor(private readonly deps: AnalyticsDeps) {}

  /** `fields` names the caller's parameters in errors (native: metric/end_time; Orchestrate's). */
  async metric(
    principal: Principal,
    metric: string,
    range: { since: Date; until: Date },
    fields: { metric: string; end: string } = { metric: 'metric', end: 'end_time' },
  ): Promise<Series | Ratio> {
    authorize(principal, 'workflows.read');
    if (!(METRICS as readonly string[]).includes(metric))
      throw invalidArgument(fields.metric, `${fields.metric} must be one of: ${METRICS.join(', ')}`);
    if (range.since > range.until)
      throw invalidArgument(fields.end, 'the end of the range is before its start', 'INVALID_TIME_RANGE');
    const ws = principal.workspaceId;
    const p = [ws, range.since.toISOString(), range.until.toISOString()];
    const db = this.deps.db;
    const inRange = 'workspace_id = $1 AND created_at >= $2::timestamptz AND created_at <= $3::timestamptz';
    const m = metric as Metric;
    switch (m) {
      case 'playbook_run_count':
      case 'event_count': {
        const table = metric === 'event_count' ? 'events' : 'executions';
        const rows = await db.rows<{ day: Date; n: number }>(
          `SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*)::int AS n
             FROM ${table} WHERE ${inRange} GROUP BY 1 ORDER BY 1`,
          p,
        );
        return rows.map((r) => ({ label: DAY.format(utcDay(r.day)), value: r.n }));
      }
      case 'most_active_playbooks': {
        const rows = await db.rows<{ name: string; n: number }>(
          `SELECT w.name, count(*)::int AS n FROM executions e JOIN workflows w ON w.id = e.workflow_id
            WHERE e.workspace_id = $1 AND e.created_at >= $2::timestamptz AND e.created_at <= $3::timestamptz
            GROUP BY w.id, w.name ORDER BY n DESC, w.name LIMIT ${TOP}`,
          p,
        );
        return rows.map((r) => ({ label: r.name, value: r.n }));
      }
      case 'playbook_avg_execution_time': {
        const rows = await db.rows<{ name: string; s: number }>(
          `SELECT w.name, round(avg(extract(epoch FROM e.finished_at - coalesce(e.started_at, e.created_at)))::numeric, 3)::float8 AS s
             FROM executions e JOIN workflows w ON w.id = e.workflow_id
            WHERE e.workspace_id = $1 AND e.created_at >= $2::timestamptz AND e.created_at <= $3::timestamptz
              AND e.finished_at IS NOT NULL
            GROUP BY w.id, w.name ORDER BY s DESC, w.name LIMIT ${TOP}`,
          p,
        );
        return rows.map((r) => ({ label: r.name, value: r.s }));
      }
      case 'most_used_instances':
      case 'most_used_apps':
      case 'most_used_actions':
        return this.#used(ws, m);
      case 'most_active_actions':
      case 'most_active_apps':
      case 'most_active_instances':
        return this.#active(ws, m, p);
      case 'incoming_source_of_events': {
        const rows = await db.rows<{ app: string; n: number }>(
          `SELECT app_identifier AS app, count(*)::int AS n FROM events WHERE ${inRange}
            GROUP BY 1 ORDER BY n DESC, app LIMIT ${TOP}`,
          p,
        );
        return rows.map((r) => ({ label: r.app, value: r.n }));
      }
      case 'unprocessed_events':
      case 'events_with_error': {
        const condition =
          metric === 'unprocessed_events'
            ? 'cardinality(execution_ids) = 0'
            : `EXISTS (SELECT 1 FROM executions x WHERE x.id = ANY(events.execution_ids) AND x.status = 'failed')`;
        const row = await db.one<{ total: number; n: number }>(
          `SELECT count(*)::int AS total, (count(*) FILTER (WHERE ${condition}))::int AS n FROM events WHERE ${inRange}`,
          p,
        );
        return {
          label: metric === 'unprocessed_events' ? 'Percentage of Unprocessed Events' : 'Events Giving Error',
          total_value: row?.total ?? 0,
          value: row?.n ?? 0,
        };
      }
    }
  }

  async #labels(workspaceId: string): Promise<{
    app: (id: string) => string;
    action: (app: string, action: string) => string;
    instance: (use: ActionUse) => string;
  }> {
    const manifests = new Map((await this.deps.apps(workspaceId)).map((m) => [m.identifier, m]));
    const defaults = new Map(
      (
        await this.deps.db.rows<{ app_id: string; name: string }>(
          'SELECT app AS app_id, name FROM integrations WHERE workspace_id = $1 AND is_default',
          [workspaceId],
        )
      ).map((r) => [r.app_id, r.name]),
    );
    const slug = (id: string): string => {
      const m = manifests.get(id);
      return m ? `${id}_${m.version.replaceAll('.', '_')}` : id;
    };
    return {
      app: (id) => {
        const m = manifests.get(id);
        return m ? `${m.title} ${m.version}` : id;
      },
      action: (app, action) => `${manifests.get(app)?.actions[action]?.title ?? action} ${slug(app)}`,
      instance: (use) => use.integration ?? defaults.get(use.app) ?? `${use.app} (no integration)`,
    };
  }

  async #used(workspaceId: string, metric: Metric): Promise<Series> {
    const rows = await this.deps.db.rows<{ definition: unknown }>(
      `SELECT r.definition FROM workflows w
         JOIN workflow_revisions r ON r.id = coalesce(w.published_revision_id, w.current_revision_id)
        WHERE w.workspace_id = $1`,
      [workspaceId],
    );
    const label = await this.#labels(workspaceId);
    const counts = new Map<string, number>();
    for (const { definition } of rows) {
      const keys = new Set<string>();
      for (const use of actionSteps(definition).values()) {
        keys.add(
          metric === 'most_used_apps'
            ? label.app(use.app)
            : metric === 'most_used_actions'
              ? label.action(use.app, use.action)
              : label.instance(use),
        );
      }
      for (const k of keys) bump(counts, k);
    }
    return top(counts);
  }

  async #active(workspaceId: string, metric: Metric, p: unknown[]): Promise<Series> {
    const rows = await this.deps.db.rows<{ revision_id: string; step_id: string; n: number }>(
      `SELECT e.revision_id, s.step_id, count(*)::int AS n
         FROM step_runs s JOIN executions e ON e.id = s.execution_id
        WHERE e.workspace_id = $1 AND e.created_at >= $2::timestamptz AND e.created_at <= $3::timestamptz
          AND s.kind = 'action'
          -- Steps copied into a retry from the failed step ran before the retry existed: not again.
          AND s.started_at >= e.created_at
        GROUP BY 1, 2`,
      p,
    );
    const revisions = [...new Set(rows.map((r) => r.revision_id))];
    const definitions = new Map(
      (
        await this.deps.db.rows<{ id: string; definition: unknown }>(
          'SELECT id, definition FROM workflow_revisions WHERE id = ANY($1::uuid[])',
          [revisions],
        )
      ).map((r) => [r.id, actionSteps(r.definition)]),
    );
    const label = await this.#labels(workspaceId);
    const counts = new Map<string, number>();
    for (const r of rows) {
      const use = definitions.get(r.revision_id)?.get(r.step_id);
      if (!use) continue;
      bump(
        counts,
        metric === 'most_active_apps'
          ? label.app(use.app)
          : metric === 'most_active_actions'
            ? label.action(use.app, use.action)
            : label.instance(use),
        r.n,
      );
    }
    return top(counts);
  }
}

/** date_trunc on a timestamp without zone comes back as local midnight; read it as UTC. */
function utcDay(d: Date): Date {
  return new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()));
}
