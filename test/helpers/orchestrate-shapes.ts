// The response fields /work/shared/reference/cyware-orchestrate-api.md lists for each endpoint of
// the Cyware Orchestrate Open API catalogue (§5 endpoint details, §6 playbook model, §7 run log
// model), and a checker that reports every field that is missing or of another type.

/** A JSON type; `?` after it also allows null. `any` checks presence only. */
type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'any';
export type Field = Kind | `${Kind}?` | Shape | readonly [Shape];
/** Field name → its kind, a nested object's shape, or `[shape]` for an array of such objects. */
export interface Shape {
  readonly [name: string]: Field;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return kindOf(v) === 'object';
}

function checkField(value: unknown, field: Field, path: string, problems: string[]): void {
  if (typeof field === 'string') {
    const nullable = field.endsWith('?');
    const kind = field.replace(/\?$/, '');
    if (kind === 'any' || (nullable && value === null)) return;
    if (kindOf(value) !== kind) problems.push(`${path}: ${kindOf(value)}, not ${field}`);
    return;
  }
  if (Array.isArray(field)) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: ${kindOf(value)}, not array`);
      return;
    }
    for (const item of value) conform(item, (field as readonly [Shape])[0], `${path}[*]`, problems);
    return;
  }
  conform(value, field as Shape, path, problems);
}

/**
 * Adds to `problems` each field of `shape` that `value` lacks or holds with another type. Array
 * items are named `[*]`, so a field missing from every item is one problem once deduplicated.
 */
export function conform(value: unknown, shape: Shape, where: string, problems: string[]): void {
  if (!isRecord(value)) {
    problems.push(`${where}: ${kindOf(value)}, not object`);
    return;
  }
  for (const [name, field] of Object.entries(shape)) {
    if (!(name in value)) problems.push(`${where}.${name}: missing`);
    else checkField(value[name], field, `${where}.${name}`, problems);
  }
}

/** `Paged<T>` (§1): `{count, link: {next, previous}, results: [T]}`; `link` may be null. */
export function conformPaged(value: unknown, item: Shape, where: string, problems: string[]): void {
  conform(value, { count: 'number', link: 'object?', results: 'array' }, where, problems);
  if (!isRecord(value)) return;
  if (isRecord(value.link))
    conform(value.link, { next: 'string?', previous: 'string?' }, `${where}.link`, problems);
  if (Array.isArray(value.results))
    for (const r of value.results) conform(r, item, `${where}.results[*]`, problems);
}

/** §5.2 App object (I1 items; I2 and I11 add the nested lists). */
export const APP: Shape = {
  unique_id: 'string',
  title: 'string',
  description: 'string',
  app_identifier: 'string',
  app_slug: 'string',
  connector_version: 'string',
  supported_versions: 'any',
  major_version: 'number',
  minor_version: 'number',
  patch_version: 'number',
  latest_installed_version: 'string',
  published_by: 'string',
  published_date: 'any',
  is_system: 'boolean',
  publisher_logo_url: 'any',
  logo: 'any',
  logo_url: 'any',
  documentation_url: 'any',
  actions_count: 'number',
  instances_count: 'number',
  total_instance_count: 'number',
  download_counter: 'number',
  playbook_count_all_versions: 'number',
  config_template: [
    {
      title: 'string',
      field_key: 'string',
      field_type: 'string',
      description: 'string',
      is_required: 'boolean',
      valid_file_type: 'array',
    },
  ],
  categories: [{ title: 'string', description: 'string', unique_id: 'string' }],
  all_installed_versions: 'array',
  is_installed: 'boolean',
  app_type: 'string',
  is_active: 'boolean',
  created_by: 'any',
  modified_by: 'any',
  created_at: 'any',
  modified_at: 'any',
  created_by_data: 'any',
  modified_by_data: 'any',
  package_hash: 'any',
  connector_code: 'any',
  python_class_name: 'any',
  lite_enabled: 'boolean',
  major_agent_version: 'any',
  minor_agent_version: 'any',
  patch_agent_version: 'any',
};

/** §5.2 Instance object (I3 items, I4, I5). */
export const INSTANCE: Shape = {
  app_unique_id: 'string',
  unique_id: 'string',
  title: 'string',
  slug: 'string',
  description: 'string',
  app_title: 'string',
  connector_version: 'string?',
  created_at: 'string',
  modified_at: 'string',
  created_by: 'any',
  modified_by: 'any',
  created_by_data: 'any',
  modified_by_data: 'any',
  is_default: 'boolean',
  expiry_date: 'string?',
  configuration: 'object',
  is_removed: 'boolean',
  uploaded_file_data: 'array',
  expiry_mail_sent: 'boolean',
  tested_by: 'any',
  tested_date: 'string?',
  connectivity_status: 'string',
  connectivity_message: 'any',
  connectivity_detail: 'any',
  status_code: 'any',
  tested_by_data: 'any',
  on_lite: 'boolean',
  csol_lite_id: 'any',
  lite_model: 'any',
};

/** §5.2 I6 test-connectivity answer. */
export const INSTANCE_TEST: Shape = {
  connectivity_message: 'string',
  connectivity_status: 'string',
  connectivity_detail: 'any',
  tested_by: 'any',
  tested_date: 'string',
  title: 'string',
  status_code: 'number',
  is_lite: 'boolean',
  unique_id: 'string',
  tested_by_data: 'any',
};

/** §5.2 Action object (I7 items, I8, App.actions_data). */
export const ACTION: Shape = {
  title: 'string',
  description: 'string',
  action_identifier: 'string',
  app_identifier: 'string',
  unique_id: 'string',
  app_unique_id: 'string',
  app_slug: 'string',
  connector_version: 'string',
  app_title: 'string',
  system_app: 'boolean',
  accepted_params: [
    {
      title: 'string',
      field_key: 'string',
      field_type: 'string',
      description: 'string',
      is_required: 'boolean',
      options: 'array',
      option_type: 'any',
    },
  ],
  return_values: [{ title: 'string', description: 'string', data_source: 'any' }],
  created_by: 'any',
  modified_by: 'any',
  created_at: 'any',
  modified_at: 'any',
  created_by_data: 'any',
  modified_by_data: 'any',
};

/** §5.2 I9 execute answer. */
export const EXECUTE: Shape = {
  result: { result: 'any', status_code: 'number' },
  execution_status: 'string',
};

const TAG_DATA: Shape = { unique_id: 'string', title: 'string', description: 'string', color: 'string' };

/** §5.3 PlaybookSummary (P1, P2; `priority` is P1's only). */
export const PLAYBOOK_SUMMARY: Shape = {
  title: 'string',
  readable_id: 'string',
  unique_id: 'string',
  description: 'any',
  status: 'string',
  playbook_last_run: 'string?',
  sub_playbook: 'number',
  apps_count: 'number',
  app_action: 'object',
  categories: 'array',
  tags: 'array',
  tags_data: [TAG_DATA],
  labels: 'array',
  output_params: 'object',
  schedule_info: 'any',
};

/** §6 one node of an export. */
export const PLAYBOOK_NODE: Shape = {
  type: 'string',
  internal_id: 'string',
  title: 'string',
  description: 'object',
  sub_type: 'string',
  actions: 'array',
  conditions: 'array',
  condition_type: 'object',
  memory_params: 'object',
  io_params_format: 'object',
  io_params_email_details: 'object',
  enable_io_param_email_details: 'boolean',
  enable_app_notification: 'boolean',
  stop_on_error: 'boolean',
  extra_params: { position: 'object' },
};

/** §6 an app-action node's action. */
export const PREDEFINED_ACTION: Shape = {
  action: 'string',
  action_type: 'string',
  parameter_data_source: { loop_keys: 'array' },
  app_instances: 'array',
  action_data: {
    action_identifier: 'string',
    app: 'string',
    app_slug: 'string',
    app_version: 'string',
    app_title: 'string',
    action_title: 'string',
    is_system: 'boolean',
  },
  output_params: 'object',
  save_result: 'boolean',
  save_customized_result: 'boolean',
  run_async: 'boolean',
  action_run_attempt: 'number',
  action_run_buffer_time: 'number',
};

/** §6 the playbook export (P3); nodes are checked one by one with PLAYBOOK_NODE. */
export const PLAYBOOK_EXPORT: Shape = {
  title: 'string',
  start_node: 'string',
  nodes: 'object',
  edges: [{ source_node: 'string', destination_node: 'string', label: 'string' }],
  labels: 'array',
  tags: 'array',
  categories: 'array',
  status: 'string',
  is_runnable: 'boolean',
  description: 'object',
  output_params: 'object',
  cron_expression: 'object',
  schedule_info: { is_scheduled: 'boolean', details: 'object' },
  auto_terminate: 'boolean',
  auto_terminate_interval: 'object',
};

/** §7 RunLogSummary (P5, P6; `playbook_title` is P5's only). */
export const RUN_LOG_SUMMARY: Shape = {
  readable_id: 'string',
  unique_id: 'string',
  created: 'string',
  modified: 'string',
  status: 'string',
  source: 'string',
  run_details: 'string',
  cron_expression: 'object',
  schedule_info: 'object',
  playbook_data: {
    title: 'string',
    readable_id: 'string',
    unique_id: 'string',
    status: 'string',
    playbook_last_run: 'string?',
    sub_playbook: 'number',
    apps_count: 'number',
    app_action: 'object',
    description: 'any',
    categories: 'array',
    tags: 'array',
    tags_data: 'array',
    labels: 'array',
    output_params: 'object',
    schedule_info: 'any',
  },
  event_data: 'object',
  ran_by_data: 'object',
  source_playbook_result_data: 'object',
  playbook_summary: [
    {
      unique_id: 'string',
      title: 'string',
      actions: [{ unique_id: 'string', action_identifier: 'string', title: 'string' }],
    },
  ],
  execution_time: 'number?',
  sub_playbooks: 'number',
};

/** §7 NodeResult (P7 nodes_results items, P8). */
export const NODE_RESULT: Shape = {
  unique_id: 'string',
  created: 'string',
  modified: 'string',
  status: 'string',
  execution_time: 'number?',
  node_data: {
    type: 'string',
    internal_id: 'string',
    title: 'string',
    unique_id: 'string',
    is_removed: 'boolean',
    io_params_format: 'object',
    sub_type: 'string',
  },
  result: 'any',
  initial_params: 'any',
  error: 'any',
  io_params: 'any',
  io_approved_by: 'any',
  io_approved_by_data: 'any',
  splitted_columns: 'array',
};

/** §7 RunLogDetail (P7): the summary's fields and these. */
export const RUN_LOG_DETAIL: Shape = {
  ...RUN_LOG_SUMMARY,
  nodes_results: [NODE_RESULT],
  error: 'object',
  initial_params: 'any',
  auto_terminate_time: 'any',
  splitted_columns: 'array',
};

/** §5.3/§5.8 the export answers (P9, P10, E6). */
export const FILE_URL: Shape = { file_url: 'string' };

/** §5.4/§5.5 list items of T1 and C1. */
export const CATALOGUE_ITEM: Shape = {
  unique_id: 'string',
  title: 'string',
  description: 'string',
  is_removed: 'boolean',
  created: 'string',
  created_by_data: 'object',
};

/** §5.6 a persistent list (S1 items; S2 and S3 add `storage_manager_data`). */
export const PERSISTENT_LIST: Shape = {
  title: 'string',
  unique_id: 'string',
  readable_id: 'string',
  slug: 'string',
  description: 'string',
  created: 'string',
  modified: 'string',
  created_by_data: 'object',
  modified_by_data: { modified_by: 'string', display_name: 'string' },
};

export const PERSISTENT_LIST_DETAIL: Shape = {
  ...PERSISTENT_LIST,
  storage_manager_data: { unique_id: 'string', data: 'object' },
};

/** §5.8 the detailed Event (E1, E4, webhook v1). */
export const EVENT_DETAIL: Shape = {
  app_identifier: 'string',
  action_identifier: 'string',
  data: 'any',
  extra_data: 'any',
  unique_id: 'string',
  created: 'string',
  modified: 'string',
  title: 'string',
  labels: 'array',
  labels_data: [{ title: 'string', unique_id: 'string', color: 'string' }],
  created_by: 'any',
  created_by_data: 'object',
  processed: 'boolean',
  execution_error: 'boolean',
  source: 'string',
  readable_id: 'string',
  splitted_columns: 'array',
};

/** §5.8 the concise Event (E2, webhook v2). */
export const EVENT_CONCISE: Shape = {
  title: 'string',
  readable_id: 'string',
  unique_id: 'string',
  created: 'string',
  source: 'string',
  app_identifier: 'string',
  action_identifier: 'string',
};

/** §5.8 E3 list items. */
export const EVENT_LIST_ITEM: Shape = {
  readable_id: 'string',
  created: 'string',
  unique_id: 'string',
  title: 'string',
  labels: 'array',
  labels_data: 'array',
  app_identifier: 'string',
  action_identifier: 'string',
  processed: 'boolean',
  execution_error: 'boolean',
  source: 'string',
};

/** §5.8 E5 configured trigger. */
export const TRIGGER: Shape = {
  app_identifier: 'string',
  action_identifier: 'string',
  labels: 'array',
  labels_data: [{ title: 'string', unique_id: 'string', color: 'string' }],
  unique_id: 'string',
  created: 'string',
  modified: 'string',
  created_by: 'any',
  modified_by: 'any',
  created_by_data: 'object',
  modified_by_data: 'object',
  is_active: 'boolean',
};

/** §5.9 Tag (G1 items, G2). */
export const TAG: Shape = {
  unique_id: 'string',
  title: 'string',
  description: 'string',
  color: 'string',
  created: 'string',
  modified: 'string',
  created_by_data: 'object',
  modified_by_data: 'object',
  playbook_count: 'number',
};

/** §5.7 N1: the series metrics answer `{data: [...]}`, the two ratios `{data: {...}}`. */
export const METRIC_POINT: Shape = { label: 'string', value: 'number' };
export const METRIC_RATIO: Shape = { label: 'string', total_value: 'number', value: 'number' };
