import type { StepDefinition } from '../../domain/workflow/validate.js';
import type { StepRunRow } from '../../store/executions.js';
import type { PlaybookRow, RunLogRow } from '../../store/run-logs.js';
import { isOutOfLine, nodeResultId } from '../../services/run-logs.js';
import { stableId } from '../../domain/ids.js';
import { eventReadableId } from '../../services/events.js';
import {
  layout,
  playbookApps,
  playbookSummary,
  subType,
  type PlaybookContext,
  type PlaybookLayout,
} from './playbook-model.js';

/** RL + the run id's first ten characters (RLe322985a-5), as Orchestrate's run log ids look. */
export function runReadableId(id: string): string {
  return `RL${id.slice(0, 10)}`;
}

const SOURCES: Record<string, string> = {
  manual: 'User',
  schedule: 'Scheduler',
  nested: 'Playbook',
  event: 'Event',
  webhook: 'Webhook',
};

const NODE_STATUS: Record<string, string> = {
  succeeded: 'SUCCESS',
  failed: 'ERROR',
  running: 'IN_PROGRESS',
  waiting: 'WAITING',
};

function person(name: string): Record<string, unknown> {
  const parts = name.includes('@') ? [name.split('@')[0] ?? name] : name.split(/\s+/);
  return { first_name: parts[0] ?? '', last_name: parts.slice(1).join(' '), full_name: name };
}

/** The run's workflow as a playbook, with the definition the run ran. */
function playbookOf(run: RunLogRow): PlaybookRow {
  return {
    id: run.workflow_id,
    name: run.workflow_name,
    description: run.workflow_description,
    tags: run.workflow_tags,
    enabled: run.workflow_enabled,
    published: run.workflow_published,
    readable_number: run.readable_number,
    revision_id: run.revision_id,
    definition: run.revision_definition,
    created_at: run.workflow_created_at,
    updated_at: run.workflow_updated_at,
    last_run_at: run.workflow_last_run,
  };
}

/** RunLogSummary (P5, P6). */
export function runLogSummary(run: RunLogRow, ctx: PlaybookContext): Record<string, unknown> {
  const t = run.trigger;
  const type = run.parent_execution_id ? 'nested' : typeof t.type === 'string' ? t.type : 'manual';
  const by = typeof t.by === 'string' ? t.by : '';
  const eventId = typeof t.event_id === 'string' ? t.event_id : undefined;
  return {
    readable_id: runReadableId(run.id),
    unique_id: run.id,
    created: run.created_at.toISOString(),
    modified: (run.finished_at ?? run.started_at ?? run.created_at).toISOString(),
    status: run.run_status,
    osprey_status: run.status,
    source: SOURCES[type] ?? 'User',
    run_details: eventId ? `Event ${eventReadableId(eventId)}` : by || (SOURCES[type] ?? type),
    cron_expression: {},
    schedule_info: {},
    playbook_data: playbookSummary(playbookOf(run), ctx),
    playbook_title: run.workflow_name,
    event_data: eventId
      ? { unique_id: eventId, readable_id: t.event_readable_id, labels: t.labels ?? [], source: t.source }
      : {},
    ran_by_data: by ? person(by) : {},
    source_playbook_result_data: run.parent_execution_id
      ? { unique_id: run.parent_execution_id, readable_id: runReadableId(run.parent_execution_id) }
      : {},
    playbook_summary: playbookApps(run.revision_definition, ctx),
    execution_time: run.execution_time,
    sub_playbooks: run.sub_playbooks,
  };
}

/** One step run as a NodeResult (P7 items, P8). */
export function nodeResult(run: RunLogRow, step: StepRunRow, graph: PlaybookLayout): Record<string, unknown> {
  const big = isOutOfLine(step.output);
  const number = graph.numbers.get(step.step_id) ?? step.step_id;
  const node = graph.nodes[number];
  return {
    unique_id: nodeResultId(run.id, step.key),
    created: step.started_at.toISOString(),
    modified: (step.finished_at ?? step.started_at).toISOString(),
    status: NODE_STATUS[step.status] ?? step.status.toUpperCase(),
    execution_time: step.finished_at ? (step.finished_at.getTime() - step.started_at.getTime()) / 1000 : null,
    attempt: step.attempt,
    node_data: {
      type: 'REGULAR',
      internal_id: number,
      title: node?.title ?? step.step_id,
      unique_id: stableId('node', run.workflow_id, step.step_id),
      is_removed: !node,
      io_params_format: node?.io_params_format ?? {},
      sub_type: node?.sub_type ?? subType(step),
      step_id: step.step_id,
      key: step.key,
      kind: step.kind,
    },
    result: big ? {} : (step.output ?? {}),
    initial_params: step.input ?? {},
    error: step.error ?? {},
    io_params: {},
    io_approved_by: null,
    io_approved_by_data: null,
    splitted_columns: big ? ['result'] : [],
  };
}

/** Each step id's descendants (the steps nested in an if, switch, loop, parallel or approval). */
function descendants(definition: Record<string, unknown>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visit = (steps: unknown, ancestors: string[]): void => {
    for (const step of (Array.isArray(steps) ? steps : []) as StepDefinition[]) {
      for (const a of ancestors) out.get(a)?.add(step.id);
      out.set(step.id, out.get(step.id) ?? new Set());
      const inner = [...ancestors, step.id];
      for (const key of ['then', 'else', 'default', 'steps', 'notify']) visit(step[key], inner);
      for (const key of ['cases', 'branches'])
        for (const c of (Array.isArray(step[key]) ? step[key] : []) as { steps?: unknown }[])
          visit(c.steps, inner);
    }
  };
  visit(definition.steps, []);
  return out;
}

/**
 * Step runs in execution order. A container step's row is written when it ends, after the steps
 * inside it, so it is placed by the earliest start among itself and its descendants.
 */
function executionOrder(steps: StepRunRow[], definition: Record<string, unknown>): StepRunRow[] {
  const nested = descendants(definition);
  const firstStart = new Map<string, number>();
  for (const s of steps) {
    const t = s.started_at.getTime();
    firstStart.set(s.step_id, Math.min(firstStart.get(s.step_id) ?? t, t));
  }
  const begins = (s: StepRunRow): number => {
    let t = s.started_at.getTime();
    for (const d of nested.get(s.step_id) ?? []) t = Math.min(t, firstStart.get(d) ?? t);
    return t;
  };
  const depth = (s: StepRunRow): number => [...nested.values()].filter((set) => set.has(s.step_id)).length;
  return [...steps].sort(
    (a, b) => begins(a) - begins(b) || depth(a) - depth(b) || Number(a.seq) - Number(b.seq),
  );
}

/** RunLogDetail (P7): the summary, the start node's result, then each step run in order. */
export function runLogDetail(
  run: RunLogRow,
  steps: StepRunRow[],
  definition: Record<string, unknown>,
  ctx: PlaybookContext,
): Record<string, unknown> {
  const graph = layout(definition, ctx);
  const start = {
    unique_id: nodeResultId(run.id, '$start'),
    created: run.created_at.toISOString(),
    modified: (run.started_at ?? run.created_at).toISOString(),
    status: 'SUCCESS',
    execution_time: 0,
    node_data: {
      type: 'START',
      internal_id: 'start',
      title: 'Start',
      unique_id: stableId('node', run.workflow_id, '$start'),
      is_removed: false,
      io_params_format: {},
      sub_type: 'start',
    },
    result: run.input ?? {},
    initial_params: run.input ?? {},
    error: {},
    io_params: {},
    io_approved_by: null,
    io_approved_by_data: null,
    splitted_columns: [],
  };
  return {
    ...runLogSummary(run, ctx),
    nodes_results: [start, ...executionOrder(steps, definition).map((s) => nodeResult(run, s, graph))],
    error: run.error ?? {},
    initial_params: run.input ?? {},
    output: run.output ?? {},
    auto_terminate_time: null,
    splitted_columns: [],
  };
}
