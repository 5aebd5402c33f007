import { isUuid } from '../../domain/ids.js';
import type { StepDefinition } from '../../domain/workflow/validate.js';
import type { StepRunRow } from '../../store/executions.js';
import type { Scope } from '../expressions.js';
import { StepFailure, WaitSignal } from '../signals.js';
import { durationMs } from '../duration.js';
import { TERMINAL_STATUSES, cancelExecution } from '../../store/executions.js';
import type { StepHost } from '../step-host.js';

/** Nested runs deeper than this fail: a workflow calling itself forever must end. */
export const MAX_CALL_DEPTH = 10;
/** A parent waiting on a child looks again this often, should a wake-up ever be missed. */
const RECHECK_MS = 5 * 60_000;

interface ChildTarget {
  id: string;
  name: string;
  published_revision_id: string | null;
  current_revision_id: string;
}

async function findChild(host: StepHost, ref: string, stepId: string): Promise<ChildTarget> {
  const rows = await host.deps.db.rows<ChildTarget>(
    `SELECT id, name, published_revision_id, current_revision_id FROM workflows
      WHERE workspace_id = $1 AND (${isUuid(ref) ? 'id::text = lower($2) OR ' : ''}name = $2) LIMIT 2`,
    [host.execution.workspace_id, ref],
  );
  if (rows.length === 0)
    throw new StepFailure('CHILD_NOT_FOUND', `no workflow "${ref}" in this workspace`, stepId);
  if (rows.length > 1)
    throw new StepFailure('CHILD_AMBIGUOUS', `several workflows are named "${ref}"; call it by id`, stepId);
  return rows[0]!;
}

/**
 * Starts a child run. A published parent runs the child's published revision, a draft run its
 * current one. `sync` waits (holding no worker) until the child ends and takes its exit output;
 * `async` answers at once with the child's execution id.
 */
export async function callWorkflow(
  host: StepHost,
  step: StepDefinition,
  key: string,
  scope: Scope,
  rec: StepRunRow | undefined,
): Promise<unknown> {
  const { db, clock } = host.deps;
  if (rec?.status === 'waiting') {
    const childId = (rec.output as { execution_id?: string } | null)?.execution_id;
    const child = await db.one<{
      status: string;
      output: unknown;
      error: { code: string; message: string } | null;
    }>('SELECT status, output, error FROM executions WHERE id = $1', [childId]);
    if (!child) throw new StepFailure('CHILD_FAILED', 'the child execution no longer exists', step.id);
    // The step's timeout covers every attempt, from when the step first started a child.
    const deadline =
      typeof step.timeout === 'string' ? rec.started_at.getTime() + durationMs(step.timeout) : Infinity;
    if (!TERMINAL_STATUSES.has(child.status)) {
      if (clock.now() >= deadline) {
        await cancelExecution(db, host.execution.workspace_id, childId!);
        throw new StepFailure(
          'STEP_TIMEOUT',
          `the child execution ${childId} did not end within ${String(step.timeout)}; it was cancelled`,
          step.id,
        );
      }
      throw new WaitSignal(new Date(Math.min(deadline, clock.now() + RECHECK_MS)), {
        kind: 'child',
        id: childId!,
      });
    }
    if (child.status !== 'succeeded') {
      const attempts = (step.retry as { max_attempts?: number } | undefined)?.max_attempts ?? 1;
      const started = rec.input as ChildStart | null;
      if (child.status === 'failed' && rec.attempt < attempts && started) {
        return startChild(host, step, key, started, rec.attempt + 1);
      }
      throw new StepFailure(
        'CHILD_FAILED',
        `the child execution ${childId} ended ${child.status}: ${child.error?.message ?? 'no error recorded'}`,
        step.id,
      );
    }
    await host.save(step, key, 'succeeded', { input: rec.input, output: child.output, attempt: rec.attempt });
    return child.output;
  }
  const trigger = host.execution.trigger;
  const depth = typeof trigger.depth === 'number' ? trigger.depth : 0;
  if (depth >= MAX_CALL_DEPTH)
    throw new StepFailure(
      'CALL_DEPTH_EXCEEDED',
      `workflows may nest at most ${MAX_CALL_DEPTH} deep`,
      step.id,
    );
  const child = await findChild(host, String(await host.render(step.workflow, scope)), step.id);
  const draft = trigger.revision === 'current';
  const revisionId = draft ? child.current_revision_id : child.published_revision_id;
  if (!revisionId) {
    throw new StepFailure(
      'CHILD_NOT_PUBLISHED',
      `the workflow "${child.name}" is not published; a published workflow calls published children`,
      step.id,
    );
  }
  const definition = await host.deps.queue.definition(db, revisionId);
  if (!['on_demand', 'nested'].includes(definition.trigger.type)) {
    throw new StepFailure(
      'CHILD_NOT_CALLABLE',
      `the workflow "${child.name}" has a ${definition.trigger.type} trigger; only on_demand and nested workflows can be called`,
      step.id,
    );
  }
  const inputs = await host.render(step.inputs ?? {}, scope);
  const start: ChildStart = {
    workflow_id: child.id,
    revision_id: revisionId,
    mode: step.mode === 'async' ? 'async' : 'sync',
    revision: draft ? 'current' : 'published',
    depth: depth + 1,
    inputs,
  };
  return startChild(host, step, key, start, 1);
}

/** What a child run is started with, recorded as the step's input so a retry starts the same. */
interface ChildStart {
  workflow_id: string;
  revision_id: string;
  mode: 'sync' | 'async';
  revision: 'current' | 'published';
  depth: number;
  inputs: unknown;
}

/** Queues the child and records the step (waiting, or done for async) in one transaction. */
async function startChild(
  host: StepHost,
  step: StepDefinition,
  key: string,
  start: ChildStart,
  attempt: number,
): Promise<unknown> {
  const { db, clock } = host.deps;
  const sync = start.mode === 'sync';
  const childRow = await db.transaction(async (tx) => {
    let row;
    try {
      row = await host.deps.queue.enqueue(tx, {
        workspaceId: host.execution.workspace_id,
        workflowId: start.workflow_id,
        revisionId: start.revision_id,
        trigger: {
          type: 'workflow',
          revision: start.revision,
          parent_execution_id: host.execution.id,
          parent_workflow_id: host.execution.workflow_id,
          depth: start.depth,
          // The person who started the top-level run, so a child's approval knows its requester.
          ...(typeof host.execution.trigger.by === 'string' ? { by: host.execution.trigger.by } : {}),
          ...(attempt > 1 ? { attempt } : {}),
        },
        input: start.inputs,
        parent: sync ? { executionId: host.execution.id, stepKey: key } : undefined,
      });
    } catch (error) {
      const e = error as { code?: string; message?: string };
      throw new StepFailure(e.code ?? 'CHILD_FAILED', e.message ?? String(error), step.id);
    }
    await host.save(
      step,
      key,
      sync ? 'waiting' : 'succeeded',
      { input: start, output: { execution_id: row.id }, attempt },
      tx,
    );
    return row;
  });
  if (!sync) return { execution_id: childRow.id };
  const limit = typeof step.timeout === 'string' ? durationMs(step.timeout) : RECHECK_MS;
  throw new WaitSignal(new Date(clock.now() + Math.min(limit, RECHECK_MS)), {
    kind: 'child',
    id: childRow.id,
  });
}
