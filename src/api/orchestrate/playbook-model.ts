import type { AppManifest } from '../../domain/apps/manifest.js';
import { stableId } from '../../domain/ids.js';
import { walkSteps, type StepDefinition } from '../../domain/workflow/validate.js';
import type { PlaybookRow } from '../../store/run-logs.js';
import type { TagView } from '../../services/tags.js';

/** What presenting a workflow as a playbook needs besides the workflow. */
export interface PlaybookContext {
  apps: ReadonlyMap<string, AppManifest>;
  /** Each app's unique_id (as the integrations endpoints give it), by identifier. */
  appIds: ReadonlyMap<string, string>;
  tags: ReadonlyMap<string, TagView>;
}

export interface PlaybookNode {
  type: 'START' | 'REGULAR';
  internal_id: string;
  title: string;
  description: Record<string, unknown>;
  sub_type: string;
  actions: Record<string, unknown>[];
  conditions: Record<string, unknown>[];
  condition_type: Record<string, unknown>;
  memory_params: Record<string, unknown>;
  io_params_format: Record<string, unknown>;
  io_params_email_details: Record<string, unknown>;
  enable_io_param_email_details: boolean;
  enable_app_notification: boolean;
  stop_on_error: boolean;
  extra_params: Record<string, unknown>;
}

export interface PlaybookEdge {
  source_node: string;
  destination_node: string;
  label: string;
}

export interface PlaybookLayout {
  nodes: Record<string, PlaybookNode>;
  edges: PlaybookEdge[];
  /** Node number by step id. */
  numbers: Map<string, string>;
}

const DEFAULT_LABEL = 'DEFAULT_LABEL';

/** Orchestrate's node sub_type for an Osprey step kind. */
export function subType(step: { kind: string; action?: unknown }): string {
  switch (step.kind) {
    case 'action':
      return typeof step.action === 'string' && step.action.startsWith('lists.') ? 'STORAGE' : 'PREDEFINED';
    case 'call_workflow':
      return 'PLAYBOOK';
    case 'if':
    case 'switch':
      return 'EXPRESSION_BASED';
    default:
      return 'CUSTOM';
  }
}

function actionData(step: StepDefinition, ctx: PlaybookContext): Record<string, unknown>[] {
  if (step.kind === 'action' && typeof step.action === 'string') {
    const [app = '', action = ''] = step.action.split('.');
    const manifest = ctx.apps.get(app);
    const version = manifest?.version ?? '';
    return [
      {
        action,
        action_type: 'PREDEFINED',
        parameter_data_source: { ...(step.with as Record<string, unknown> | undefined), loop_keys: [] },
        app_instances: typeof step.integration === 'string' ? [step.integration] : [],
        action_data: {
          action_identifier: action,
          app,
          app_slug: `${app}_${version.replaceAll('.', '_')}`,
          app_version: version,
          app_title: manifest?.title ?? app,
          action_title: manifest?.actions[action]?.title ?? action,
          is_system: true,
        },
        output_params: {},
        save_result: true,
        save_customized_result: false,
        run_async: false,
        action_run_attempt: (step.retry as { max_attempts?: number } | undefined)?.max_attempts ?? 1,
        action_run_buffer_time: 1,
      },
    ];
  }
  if (step.kind === 'code') {
    return [
      {
        action: step.id,
        action_type: 'CUSTOM',
        parameter_data_source: { ...(step.inputs as Record<string, unknown> | undefined), loop_keys: [] },
        code: step.source ?? '',
        code_snippets: step.snippets ?? [],
        language: 'javascript',
      },
    ];
  }
  if (step.kind === 'call_workflow') {
    return [
      {
        action: 'run_playbook',
        action_type: 'PLAYBOOK',
        playbook: step.workflow,
        parameter_data_source: step.inputs ?? {},
      },
    ];
  }
  return [];
}

function conditions(step: StepDefinition): Record<string, unknown>[] {
  if (step.kind === 'if') return [{ label: 'TRUE', expression: step.condition }];
  if (step.kind === 'switch')
    return ((step.cases ?? []) as { name: string; when: unknown }[]).map((c) => ({
      label: c.name,
      expression: c.when,
    }));
  return [];
}

/**
 * Lays a workflow out as Orchestrate's node graph: a start node, one numbered node per step (depth
 * first), and edges between them — DEFAULT_LABEL from a step to the next, TRUE/FALSE out of an `if`,
 * case names out of a `switch`, branch names out of `parallel`, LOOP into a loop's body and
 * NEXT_ITEM back. The step's own definition is kept in `extra_params.osprey_step`.
 */
export function layout(definition: Record<string, unknown>, ctx: PlaybookContext): PlaybookLayout {
  const nodes: Record<string, PlaybookNode> = {};
  const edges: PlaybookEdge[] = [];
  const numbers = new Map<string, string>();
  const trigger = (definition.trigger ?? {}) as Record<string, unknown>;
  nodes.start = node(
    'start',
    'START',
    'Start',
    'START',
    { x: 0, y: 0 },
    {
      io_params_format: (trigger.inputs as Record<string, unknown> | undefined) ?? {},
      extra_params: { position: { x: 0, y: 0 }, trigger },
    },
  );
  let counter = 0;
  type Exit = { source: string; label: string };
  const chain = (steps: unknown, entries: Exit[], depth: number): Exit[] => {
    let open = entries;
    for (const step of (Array.isArray(steps) ? steps : []) as StepDefinition[]) {
      const id = String(++counter);
      numbers.set(step.id, id);
      const position = { x: 280 * depth, y: 130 * counter };
      nodes[id] = node(id, 'REGULAR', (step.name as string | undefined) ?? step.id, subType(step), position, {
        description: step.description ? { text: step.description } : {},
        actions: actionData(step, ctx),
        conditions: conditions(step),
        io_params_format:
          step.kind === 'approval'
            ? {
                message: step.message,
                options: step.options ?? ['approve', 'reject'],
                approvers: step.approvers ?? [],
              }
            : {},
        stop_on_error: step.on_error !== 'continue',
        extra_params: {
          position,
          validations: { is_not_valid: false },
          osprey_step: stepWithoutChildren(step),
        },
      });
      for (const e of open) edges.push({ source_node: e.source, destination_node: id, label: e.label });
      const here = (label: string): Exit[] => [{ source: id, label }];
      switch (step.kind) {
        case 'if':
          open = [
            ...chain(step.then, here('TRUE'), depth + 1),
            ...(Array.isArray(step.else) ? chain(step.else, here('FALSE'), depth + 1) : here('FALSE')),
          ];
          break;
        case 'switch':
          open = [
            ...((step.cases ?? []) as { name: string; steps: unknown }[]).flatMap((c) =>
              chain(c.steps, here(c.name), depth + 1),
            ),
            ...(Array.isArray(step.default)
              ? chain(step.default, here('DEFAULT'), depth + 1)
              : here('DEFAULT')),
          ];
          break;
        case 'parallel':
          open = ((step.branches ?? []) as { name: string; steps: unknown }[]).flatMap((b) =>
            chain(b.steps, here(b.name), depth + 1),
          );
          break;
        case 'loop':
          for (const e of chain(step.steps, here('LOOP'), depth + 1))
            edges.push({ source_node: e.source, destination_node: id, label: 'NEXT_ITEM' });
          open = here(DEFAULT_LABEL);
          break;
        case 'approval':
          chain(step.notify, here('NOTIFY'), depth + 1);
          open = here(DEFAULT_LABEL);
          break;
        case 'exit':
          open = [];
          break;
        case 'action':
        case 'break':
        case 'call_workflow':
        case 'code':
        case 'transform':
        case 'wait':
          open = here(DEFAULT_LABEL);
      }
    }
    return open;
  };
  chain(definition.steps, [{ source: 'start', label: DEFAULT_LABEL }], 1);
  return { nodes, edges, numbers };
}

const CHILD_KEYS = new Set(['then', 'else', 'cases', 'default', 'steps', 'branches', 'notify']);

function stepWithoutChildren(step: StepDefinition): Record<string, unknown> {
  return Object.fromEntries(Object.entries(step).filter(([k]) => !CHILD_KEYS.has(k)));
}

function node(
  internalId: string,
  type: PlaybookNode['type'],
  title: string,
  sub: string,
  position: { x: number; y: number },
  extra: Partial<PlaybookNode>,
): PlaybookNode {
  return {
    type,
    internal_id: internalId,
    title,
    description: {},
    sub_type: sub,
    actions: [],
    conditions: [],
    condition_type: {},
    memory_params: {},
    io_params_format: {},
    io_params_email_details: {},
    enable_io_param_email_details: false,
    enable_app_notification: false,
    stop_on_error: true,
    extra_params: { position },
    ...extra,
  };
}

export function playbookReadableId(row: { readable_number: string }): string {
  return `PLB${row.readable_number}`;
}

function scheduleInfo(definition: Record<string, unknown>): Record<string, unknown> {
  const trigger = (definition.trigger ?? {}) as Record<string, unknown>;
  return trigger.type === 'schedule'
    ? {
        is_scheduled: true,
        details: { mode: 'cron', cron: trigger.cron, timezone: trigger.timezone ?? 'UTC' },
      }
    : { is_scheduled: false, details: {} };
}

export function playbookLabels(definition: Record<string, unknown>): string[] {
  const trigger = (definition.trigger ?? {}) as Record<string, unknown>;
  return trigger.type === 'event' && Array.isArray(trigger.labels) ? (trigger.labels as string[]) : [];
}

/** App title → action titles used (Orchestrate's `app_action`). */
function appActions(definition: Record<string, unknown>, ctx: PlaybookContext): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { step } of walkSteps((definition.steps ?? []) as StepDefinition[])) {
    if (step.kind !== 'action' || typeof step.action !== 'string') continue;
    const [app = '', action = ''] = step.action.split('.');
    const manifest = ctx.apps.get(app);
    const title = manifest?.title ?? app;
    out[title] = [...new Set([...(out[title] ?? []), manifest?.actions[action]?.title ?? action])];
  }
  return out;
}

/** Apps and their actions a definition uses (a run log's `playbook_summary`). */
export function playbookApps(
  definition: Record<string, unknown>,
  ctx: PlaybookContext,
): Record<string, unknown>[] {
  const apps = new Map<string, Set<string>>();
  for (const { step } of walkSteps((definition.steps ?? []) as StepDefinition[])) {
    if (step.kind !== 'action' || typeof step.action !== 'string') continue;
    const [app = '', action = ''] = step.action.split('.');
    apps.set(app, (apps.get(app) ?? new Set()).add(action));
  }
  return [...apps].map(([app, actions]) => {
    const manifest = ctx.apps.get(app);
    return {
      unique_id: ctx.appIds.get(app) ?? stableId('app', app, manifest?.version ?? ''),
      title: manifest?.title ?? app,
      actions: [...actions].map((action) => ({
        unique_id: stableId('action', app, manifest?.version ?? '', action),
        action_identifier: action,
        title: manifest?.actions[action]?.title ?? action,
      })),
    };
  });
}

function countKind(definition: Record<string, unknown>, kind: string): number {
  return walkSteps((definition.steps ?? []) as StepDefinition[]).filter((v) => v.step.kind === kind).length;
}

export function playbookStatus(row: PlaybookRow): 'ACTIVE' | 'INACTIVE' {
  return row.enabled && row.published ? 'ACTIVE' : 'INACTIVE';
}

/** PlaybookSummary (P1, P2 and inside run logs). */
export function playbookSummary(row: PlaybookRow, ctx: PlaybookContext): Record<string, unknown> {
  const apps = appActions(row.definition, ctx);
  const tagsData = row.tags.map((t) => ctx.tags.get(t)).filter((t): t is TagView => !!t);
  return {
    title: row.name,
    readable_id: playbookReadableId(row),
    unique_id: row.id,
    description: row.description,
    status: playbookStatus(row),
    is_active: playbookStatus(row) === 'ACTIVE',
    playbook_last_run: row.last_run_at?.toISOString() ?? null,
    sub_playbook: countKind(row.definition, 'call_workflow'),
    apps_count: Object.keys(apps).length,
    priority: '',
    app_action: apps,
    categories: [],
    tags: tagsData.map((t) => t.id),
    tags_data: tagsData.map((t) => ({
      unique_id: t.id,
      title: t.title,
      description: t.description,
      color: t.color,
    })),
    tag_titles: row.tags,
    labels: playbookLabels(row.definition),
    output_params: {},
    schedule_info: scheduleInfo(row.definition),
    created: row.created_at.toISOString(),
    modified: row.updated_at.toISOString(),
  };
}

/** The playbook definition (P3): the reference's JSON model over the running definition. */
export function playbookExport(row: PlaybookRow, ctx: PlaybookContext): Record<string, unknown> {
  const { nodes, edges } = layout(row.definition, ctx);
  const summary = playbookSummary(row, ctx);
  return {
    title: row.name,
    unique_id: row.id,
    readable_id: playbookReadableId(row),
    start_node: 'start',
    nodes,
    edges,
    labels: summary.labels,
    tags: summary.tags,
    tags_data: summary.tags_data,
    categories: [],
    status: playbookStatus(row),
    is_runnable: row.enabled,
    description: row.description ? { text: row.description } : {},
    output_params: {},
    cron_expression: {},
    schedule_info: summary.schedule_info,
    auto_terminate: false,
    auto_terminate_interval: {},
    osprey: { revision_id: row.revision_id, definition: row.definition },
  };
}
