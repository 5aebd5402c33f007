import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import type { Clock } from '../domain/clock.js';
import { invalidArgument } from '../domain/errors.js';
import { resolveLogWindow } from '../domain/log-window.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';
import type { Database } from '../store/database.js';
import { activityPage, type ActivityRow } from '../store/activity-logs.js';

/** The reference's execution status names, used by activity entries on every surface. */
export const TORQ_EXECUTION_STATUS: Record<string, string> = {
  queued: 'QUEUED',
  running: 'RUNNING',
  waiting: 'ON_HOLD',
  succeeded: 'SUCCESS',
  failed: 'FAILED',
  cancelled: 'STOPPED',
  not_started: 'NOT_STARTED',
};

export interface ActivityQueryInput {
  start_time?: string | undefined;
  end_time?: string | undefined;
  activity_type?: 'all' | 'workflow_runs' | 'step_executions' | 'trigger_events' | undefined;
  workflow_id?: string | undefined;
  payload?: string | undefined;
  discard_body?: boolean | undefined;
  order?: 'asc' | 'desc' | undefined;
  page_size?: number | undefined;
  page_token?: string | undefined;
}

export interface ActivityEntry {
  id: string;
  account_id: string;
  type: 'workflow_run' | 'step_execution' | 'trigger_event';
  timestamp: string;
  workflow_id: string | null;
  workflow_name: string;
  execution_id: string | null;
  status: string;
  /** Why a trigger delivery started no run. */
  reason?: string;
  step_id?: string;
  step_kind?: string;
  event: { id: string; timestamp: string; type: string; body?: string };
}

/** Activity logs: every workflow run and every step execution, in the audit log's window and paging rules. */
export class ActivityLogService {
  constructor(private readonly deps: { db: Database; clock: Clock; pageTokens: PageTokenCodec }) {}

  async list(
    principal: Principal,
    q: ActivityQueryInput,
  ): Promise<{ activity_logs: ActivityEntry[]; next_page_token?: string }> {
    authorize(principal, 'workflows.read');
    const size = pageSize(q.page_size, 100, 500);
    const scope = `activity:${principal.workspaceId}:${q.activity_type ?? 'all'}:${q.workflow_id ?? ''}:${q.payload ?? ''}`;
    let window;
    let order = q.order ?? 'desc';
    let after: { ts: string; uid: string } | undefined;
    if (q.page_token) {
      const c = this.deps.pageTokens.decode(q.page_token);
      if (
        c.k !== scope ||
        typeof c.s !== 'string' ||
        typeof c.e !== 'string' ||
        typeof c.t !== 'string' ||
        typeof c.u !== 'string'
      ) {
        throw invalidArgument('page_token', 'page_token does not belong to this query', 'INVALID_PAGE_TOKEN');
      }
      window = { startMicros: BigInt(c.s), endMicros: BigInt(c.e) };
      order = c.o === 'asc' ? 'asc' : 'desc';
      after = { ts: c.t, uid: c.u };
    } else {
      window = resolveLogWindow(q.start_time, q.end_time, this.deps.clock.now());
    }
    const keywords = (q.payload ?? '').split(/\s+/).filter(Boolean);
    const rows = await activityPage(this.deps.db, {
      workspaceId: principal.workspaceId,
      ...window,
      activityType: q.activity_type ?? 'all',
      workflowId: q.workflow_id,
      keywords,
      order,
      after,
      limit: size + 1,
    });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      activity_logs: page.map((r) => toEntry(r, principal.workspaceId, q.discard_body === true)),
      ...(rows.length > size && last
        ? {
            next_page_token: this.deps.pageTokens.encode({
              k: scope,
              s: window.startMicros.toString(),
              e: window.endMicros.toString(),
              o: order,
              t: last.ts,
              u: last.uid,
            }),
          }
        : {}),
    };
  }
}

function toEntry(r: ActivityRow, accountId: string, discardBody: boolean): ActivityEntry {
  return {
    id: r.uid,
    account_id: accountId,
    type: r.kind,
    timestamp: r.ts,
    workflow_id: r.workflow_id,
    workflow_name: r.workflow_name,
    execution_id: r.execution_id,
    status: TORQ_EXECUTION_STATUS[r.status] ?? r.status.toUpperCase(),
    ...(r.step_id ? { step_id: r.step_id } : {}),
    ...(r.step_kind ? { step_kind: r.step_kind } : {}),
    ...(r.kind === 'trigger_event' ? { reason: String(r.trigger.reason) } : {}),
    event: {
      id: r.execution_id ?? r.uid,
      timestamp: r.ts,
      type: typeof r.trigger.type === 'string' ? r.trigger.type : 'manual',
      ...(discardBody ? {} : { body: JSON.stringify(r.body) }),
    },
  };
}
