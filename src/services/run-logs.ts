import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import { invalidArgument, notFound } from '../domain/errors.js';
import { isUuid } from '../domain/ids.js';
import type { Database } from '../store/database.js';
import { OUTPUT_REF, stepOutput, stepRunsOf, type StepRunRow } from '../store/executions.js';
import {
  playbookRows,
  revisionsUsing,
  runLogsPage,
  type PlaybookRow,
  type RunLogFilter,
  type RunLogRow,
  RUN_LOG_ORDERS,
} from '../store/run-logs.js';
import { revisionById } from '../store/workflows.js';
import type { ExecutionService } from './executions.js';

export type RunLogQuery = Omit<RunLogFilter, 'workspaceId' | 'revisionIds'> & {
  /** Only runs of revisions using this app (and action). */
  app?: string | undefined;
  action?: string | undefined;
};

/** A node result id: the run and the step run's key, opaque to clients. */
export function nodeResultId(executionId: string, key: string): string {
  return `${executionId}.${Buffer.from(key).toString('base64url')}`;
}

function parseNodeResultId(id: string): { executionId: string; key: string } | undefined {
  const m = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{1,2000})$/.exec(id);
  return m ? { executionId: m[1]!, key: Buffer.from(m[2]!, 'base64url').toString() } : undefined;
}

export function isOutOfLine(output: unknown): boolean {
  return !!output && typeof output === 'object' && OUTPUT_REF in output;
}

/**
 * Runs as Orchestrate's run logs and playbooks: workflows with their running definition, runs
 * with mapped statuses and their step runs (node results), and bulk termination.
 */
export class RunLogService {
  constructor(private readonly deps: { db: Database; executions: ExecutionService }) {}

  async playbooks(principal: Principal, ref?: string): Promise<PlaybookRow[]> {
    authorize(principal, 'workflows.read');
    return playbookRows(this.deps.db, principal.workspaceId, ref);
  }

  async playbook(principal: Principal, ref: string): Promise<PlaybookRow> {
    const [row] = await this.playbooks(principal, ref);
    if (!row) throw notFound('WORKFLOW_NOT_FOUND', 'playbook', ref);
    return row;
  }

  async page(
    principal: Principal,
    q: RunLogQuery,
    page: { ordering?: string | undefined; offset: number; limit: number },
  ): Promise<{ count: number; rows: RunLogRow[] }> {
    authorize(principal, 'workflows.read');
    const ordering = page.ordering ?? '-created';
    const order = ordering.replace(/^-/, '');
    if (!(RUN_LOG_ORDERS as readonly string[]).includes(order))
      throw invalidArgument(
        'ordering',
        `ordering must be one of ${RUN_LOG_ORDERS.join(', ')}, with - to reverse`,
      );
    const revisionIds =
      q.app !== undefined
        ? await revisionsUsing(this.deps.db, principal.workspaceId, q.app, q.action)
        : undefined;
    const rows = await runLogsPage(
      this.deps.db,
      { ...q, workspaceId: principal.workspaceId, revisionIds },
      {
        order: order as (typeof RUN_LOG_ORDERS)[number],
        descending: ordering.startsWith('-'),
        offset: page.offset,
        limit: page.limit,
      },
    );
    let count = rows[0]?.total ?? 0;
    if (rows.length === 0 && page.offset > 0) {
      const first = await runLogsPage(
        this.deps.db,
        { ...q, workspaceId: principal.workspaceId, revisionIds },
        { order: 'created', descending: true, offset: 0, limit: 1 },
      );
      count = first[0]?.total ?? 0;
    }
    return { count, rows };
  }

  async get(
    principal: Principal,
    id: string,
  ): Promise<{ run: RunLogRow; steps: StepRunRow[]; definition: Record<string, unknown> }> {
    authorize(principal, 'workflows.read');
    if (!isUuid(id)) throw notFound('EXECUTION_NOT_FOUND', 'run log', id);
    const [run] = await runLogsPage(
      this.deps.db,
      { workspaceId: principal.workspaceId, ids: [id] },
      { order: 'created', descending: true, offset: 0, limit: 1 },
    );
    if (!run) throw notFound('EXECUTION_NOT_FOUND', 'run log', id);
    const revision = await revisionById(
      this.deps.db,
      principal.workspaceId,
      run.workflow_id,
      run.revision_id,
    );
    return { run, steps: await stepRunsOf(this.deps.db, id), definition: revision?.definition ?? {} };
  }

  async nodeResult(
    principal: Principal,
    id: string,
  ): Promise<{ run: RunLogRow; step: StepRunRow; definition: Record<string, unknown> }> {
    const parsed = parseNodeResultId(id);
    if (!parsed) throw notFound('STEP_RUN_NOT_FOUND', 'node result', id);
    const { run, steps, definition } = await this.get(principal, parsed.executionId);
    const step = steps.find((s) => s.key === parsed.key);
    if (!step) throw notFound('STEP_RUN_NOT_FOUND', 'node result', id);
    return { run, step, definition };
  }

  /** A node result's full output (read out of line when large). */
  async nodeOutput(principal: Principal, id: string): Promise<unknown> {
    const { run, step } = await this.nodeResult(principal, id);
    return (await stepOutput(this.deps.db, run.id, step.key))?.output ?? null;
  }

  /**
   * Cancels up to 100 runs that are queued, running or waiting. Each goes through the execution
   * service (tag gate, audit entry); runs already ended or unknown are reported, not failed.
   */
  async terminate(
    principal: Principal,
    ids: readonly string[],
  ): Promise<{ terminated: string[]; skipped: { id: string; reason: string }[] }> {
    authorize(principal, 'workflows.run');
    const terminated: string[] = [];
    const skipped: { id: string; reason: string }[] = [];
    for (const id of new Set(ids)) {
      try {
        await this.deps.executions.cancel(principal, id);
        terminated.push(id);
      } catch (error) {
        const e = error as { status?: number; message?: string };
        if (e.status !== 403 && e.status !== 404 && e.status !== 409) throw error;
        skipped.push({ id, reason: e.status === 404 ? 'no such run' : (e.message ?? 'not terminated') });
      }
    }
    return { terminated, skipped };
  }
}
