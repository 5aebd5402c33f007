import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import type { Clock } from '../domain/clock.js';
import { OspreyError, invalidArgument, notFound } from '../domain/errors.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';
import type { RunQueue } from '../engine/run-queue.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { microsToIso, parseRfc3339 } from '../domain/log-window.js';
import type { AuditService } from './audit.js';
import type { FinishedRuns } from '../store/finished-runs.js';
import type { Database, Sql } from '../store/database.js';
import {
  cancelExecution,
  copyCheckpoints,
  lockChildWakeups,
  executionById,
  pruneExecutions,
  stepOutput,
  TERMINAL_STATUSES,
  executionsPage,
  stepRunsOf,
  type ExecutionRow,
  type StepRunRow,
} from '../store/executions.js';
import { workflowById } from '../store/workflows.js';

export interface StepRunView {
  key: string;
  step_id: string;
  kind: string;
  status: string;
  attempt: number;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  input: unknown;
  output: unknown;
  error: unknown;
}

export interface ExecutionView {
  id: string;
  workflow_id: string;
  revision_id: string;
  status: string;
  trigger: Record<string, unknown>;
  input: unknown;
  output: unknown;
  error: ExecutionRow['error'];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  steps?: StepRunView[];
}

function ms(a: Date | null, b: Date | null): number | null {
  return a && b ? b.getTime() - a.getTime() : null;
}

function toStepView(r: StepRunRow): StepRunView {
  return {
    key: r.key,
    step_id: r.step_id,
    kind: r.kind,
    status: r.status,
    attempt: r.attempt,
    started_at: r.started_at.toISOString(),
    finished_at: r.finished_at ? r.finished_at.toISOString() : null,
    duration_ms: ms(r.started_at, r.finished_at),
    input: r.input,
    output: r.output,
    error: r.error,
  };
}

export function toExecutionView(e: ExecutionRow, steps?: StepRunRow[]): ExecutionView {
  return {
    id: e.id,
    workflow_id: e.workflow_id,
    revision_id: e.revision_id,
    status: e.status,
    trigger: e.trigger,
    input: e.input,
    output: e.output,
    error: e.error,
    created_at: e.created_at.toISOString(),
    started_at: e.started_at ? e.started_at.toISOString() : null,
    finished_at: e.finished_at ? e.finished_at.toISOString() : null,
    duration_ms: ms(e.started_at, e.finished_at),
    ...(steps ? { steps: steps.map(toStepView) } : {}),
  };
}

export interface ExecutionServiceDeps {
  db: Database;
  clock: Clock;
  pageTokens: PageTokenCodec;
  queue: RunQueue;
  audit: AuditService;
  finished: FinishedRuns;
  /** Throws unless the caller may run a workflow with these tags (TagService.assertMayRun). */
  mayRun(sql: Sql, principal: Principal, workflow: { name: string; tags: string[] }): Promise<void>;
}

/** Starting, watching and cancelling runs. Workers (engine/worker.ts) do the running. */
export class ExecutionService {
  constructor(private readonly deps: ExecutionServiceDeps) {}

  /**
   * Queues a run of the published revision (or, with `revision: "current"`, the latest draft, as a
   * manual run may). Inputs are checked against the trigger's `inputs` schema.
   */
  async start(
    principal: Principal,
    workflowId: string,
    request: {
      inputs?: unknown;
      revision?: 'published' | 'current' | undefined;
      wait?: boolean;
      /** Recorded in the run's trigger (e.g. the event or earlier run it was started with). */
      context?: Record<string, unknown>;
    },
  ): Promise<ExecutionView> {
    authorize(principal, 'workflows.run');
    const db = this.deps.db;
    const workflow = await workflowById(db, principal.workspaceId, workflowId);
    if (!workflow) throw notFound('WORKFLOW_NOT_FOUND', 'workflow', workflowId);
    await this.deps.mayRun(db, principal, workflow);
    const wanted = request.revision ?? (workflow.published_revision_id ? 'published' : 'current');
    const revisionId = wanted === 'published' ? workflow.published_revision_id : workflow.current_revision_id;
    if (!revisionId) {
      throw invalidArgument(
        'revision',
        'the workflow is not published; publish it, or run the draft with "revision": "current"',
      );
    }
    const row = await this.deps.queue.enqueue(db, {
      workspaceId: principal.workspaceId,
      workflowId,
      revisionId,
      trigger: {
        type: 'manual',
        by: principal.actor.email || principal.actor.name,
        actor_type: principal.actor.type,
        revision: wanted,
        // A caller waiting for the end is told when it comes (no polling).
        ...(request.wait ? { sync: true } : {}),
        ...request.context,
      },
      input: request.inputs ?? {},
    });
    return toExecutionView(row);
  }

  async get(principal: Principal, id: string): Promise<ExecutionView> {
    authorize(principal, 'workflows.read');
    const row = await executionById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('EXECUTION_NOT_FOUND', 'execution', id);
    return toExecutionView(row, await stepRunsOf(this.deps.db, id));
  }

  /** Waits until the run ends or the time is up; answers its state either way. */
  async waitFor(principal: Principal, id: string, timeoutMs: number): Promise<ExecutionView> {
    authorize(principal, 'workflows.read');
    await this.deps.finished.waitFor(
      id,
      async () => {
        const row = await executionById(this.deps.db, principal.workspaceId, id);
        return row && TERMINAL_STATUSES.has(row.status) ? row : undefined;
      },
      timeoutMs,
    );
    return this.get(principal, id);
  }

  async list(
    principal: Principal,
    q: {
      workflow_id?: string | undefined;
      status?: string | undefined;
      start_time?: string | undefined;
      end_time?: string | undefined;
      page_size?: number | undefined;
      page_token?: string | undefined;
    },
  ): Promise<{ executions: ExecutionView[]; next_page_token?: string }> {
    authorize(principal, 'workflows.read');
    const since = q.start_time ? microsToIso(parseRfc3339('start_time', q.start_time)) : undefined;
    const until = q.end_time ? microsToIso(parseRfc3339('end_time', q.end_time)) : undefined;
    if (since && until && since >= until)
      throw invalidArgument('end_time', 'end_time must be after start_time', 'INVALID_TIME_RANGE');
    const size = pageSize(q.page_size, 100, 500);
    let after: { createdAt: string; id: string } | undefined;
    if (q.page_token) {
      const c = this.deps.pageTokens.decode(q.page_token);
      if (
        c.k !== `executions:${principal.workspaceId}` ||
        typeof c.t !== 'string' ||
        typeof c.i !== 'string'
      ) {
        throw invalidArgument('page_token', 'page_token does not belong to this list', 'INVALID_PAGE_TOKEN');
      }
      after = { createdAt: c.t, id: c.i };
    }
    const rows = await executionsPage(this.deps.db, {
      workspaceId: principal.workspaceId,
      workflowId: q.workflow_id,
      status: q.status,
      since,
      until,
      after,
      limit: size + 1,
    });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      executions: page.map((r) => toExecutionView(r)),
      ...(rows.length > size && last
        ? {
            next_page_token: this.deps.pageTokens.encode({
              k: `executions:${principal.workspaceId}`,
              t: last.created_at_text,
              i: last.id,
            }),
          }
        : {}),
    };
  }

  async cancel(principal: Principal, id: string): Promise<ExecutionView> {
    authorize(principal, 'workflows.run');
    return this.deps.db.transaction(async (tx) => {
      const target = await executionById(tx, principal.workspaceId, id);
      if (!target) throw notFound('EXECUTION_NOT_FOUND', 'execution', id);
      const workflow = await workflowById(tx, principal.workspaceId, target.workflow_id);
      if (workflow) await this.deps.mayRun(tx, principal, workflow);
      if (target.parent_execution_id) await lockChildWakeups(tx, target.parent_execution_id);
      const row = await cancelExecution(tx, principal.workspaceId, id);
      if (!row) {
        const existing = await executionById(tx, principal.workspaceId, id);
        if (!existing) throw notFound('EXECUTION_NOT_FOUND', 'execution', id);
        throw new OspreyError('CONFLICT', 409, `the execution already ended (${existing.status})`);
      }
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.executionCancelled,
        resourceId: row.id,
        resourceName: row.workflow_id,
        extraData: { workflow_id: row.workflow_id },
      });
      return toExecutionView(row);
    });
  }

  /**
   * Runs an ended execution again with the same input: from the start, or from the failed step
   * (finished steps are copied and not run again), on the original revision or the current one.
   */
  async retry(
    principal: Principal,
    id: string,
    request: { from?: 'start' | 'failed_step' | undefined; revision?: 'original' | 'current' | undefined },
  ): Promise<ExecutionView> {
    authorize(principal, 'workflows.run');
    const from = request.from ?? 'start';
    const which = request.revision ?? 'original';
    return this.deps.db.transaction(async (tx) => {
      const original = await executionById(tx, principal.workspaceId, id);
      if (!original) throw notFound('EXECUTION_NOT_FOUND', 'execution', id);
      if (!TERMINAL_STATUSES.has(original.status)) {
        throw new OspreyError('CONFLICT', 409, `the execution is still ${original.status}; cancel it first`);
      }
      if (from === 'failed_step' && original.status === 'succeeded') {
        throw invalidArgument('from', 'the execution succeeded; there is no failed step to retry from');
      }
      const workflow = await workflowById(tx, principal.workspaceId, original.workflow_id);
      if (!workflow) throw notFound('WORKFLOW_NOT_FOUND', 'workflow', original.workflow_id);
      await this.deps.mayRun(tx, principal, workflow);
      const revisionId = which === 'original' ? original.revision_id : workflow.current_revision_id;
      const row = await this.deps.queue.enqueue(tx, {
        workspaceId: principal.workspaceId,
        workflowId: original.workflow_id,
        revisionId,
        trigger: {
          ...original.trigger,
          retry_of: original.id,
          retry_from: from,
          ...(which === 'current' ? { revision: 'current' } : {}),
          retried_by: principal.actor.email || principal.actor.name,
        },
        input: original.input,
      });
      if (from === 'failed_step') await copyCheckpoints(tx, original.id, row.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.executionRetried,
        resourceId: row.id,
        resourceName: workflow.name,
        extraData: { retry_of: original.id, from, revision: which, revision_id: revisionId },
      });
      return toExecutionView(row);
    });
  }

  /** One step's full output (outputs over the size threshold are stored out of line). */
  async stepOutput(principal: Principal, id: string, key: string): Promise<{ key: string; output: unknown }> {
    authorize(principal, 'workflows.read');
    const execution = await executionById(this.deps.db, principal.workspaceId, id);
    if (!execution) throw notFound('EXECUTION_NOT_FOUND', 'execution', id);
    const found = await stepOutput(this.deps.db, id, key);
    if (!found) throw notFound('STEP_RUN_NOT_FOUND', 'step run', key);
    return { key, output: found.output };
  }

  /** Deletes finished runs past their workflow's retention, in batches; answers how many went. */
  async prune(batch = 5000): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await pruneExecutions(this.deps.db, batch);
      total += n;
      if (n < batch) return total;
    }
  }
}
