import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { OspreyError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { WorkflowDefinition } from '../domain/workflow/validate.js';
import type { Sql } from '../store/database.js';
import { insertExecution, type ExecutionRow } from '../store/executions.js';

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats.default(ajv);

const CACHE_LIMIT = 1000;

export interface QueueRequest {
  workspaceId: string;
  workflowId: string;
  revisionId: string;
  trigger: Record<string, unknown>;
  input: unknown;
  parent?: { executionId: string; stepKey: string } | undefined;
}

/**
 * Puts runs on the queue (the executions table): checks the inputs against the revision's `inputs`
 * schema and copies the revision's concurrency cap and retention onto the row. Revisions are
 * immutable, so their definitions and compiled input schemas are cached by id.
 */
export class RunQueue {
  readonly #definitions = new Map<string, WorkflowDefinition>();
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(private readonly options: { defaultRetentionDays: number }) {}

  /** A revision's definition, read once per process. */
  async definition(sql: Sql, revisionId: string): Promise<WorkflowDefinition> {
    let definition = this.#definitions.get(revisionId);
    if (!definition) {
      const row = await sql.one<{ definition: WorkflowDefinition }>(
        'SELECT definition FROM workflow_revisions WHERE id = $1',
        [revisionId],
      );
      if (!row) throw new OspreyError('REVISION_NOT_FOUND', 404, `revision ${revisionId} was not found`);
      definition = row.definition;
      if (this.#definitions.size >= CACHE_LIMIT) this.#definitions.clear();
      this.#definitions.set(revisionId, definition);
    }
    return definition;
  }

  /** 400 INPUTS_INVALID naming each field when `inputs` do not match the trigger's schema. */
  checkInputs(revisionId: string, definition: WorkflowDefinition, inputs: unknown): void {
    const schema = definition.trigger.inputs;
    if (!schema || typeof schema !== 'object') return;
    let validate = this.#validators.get(revisionId);
    if (!validate) {
      if (this.#validators.size >= CACHE_LIMIT) this.#validators.clear();
      validate = ajv.compile(schema);
      this.#validators.set(revisionId, validate);
    }
    if (validate(inputs)) return;
    const details = (validate.errors ?? []).map((e) => {
      const field = [
        'inputs',
        ...e.instancePath.split('/').filter(Boolean),
        ...(e.keyword === 'required' ? [String(e.params.missingProperty)] : []),
      ].join('.');
      return {
        field,
        message: `${field} ${e.keyword === 'required' ? 'is required' : (e.message ?? 'is invalid')}`,
      };
    });
    throw new OspreyError('INPUTS_INVALID', 400, details.map((d) => d.message).join('; '), { details });
  }

  /** Validates the inputs and queues the run in `sql`'s transaction; workers are woken on commit. */
  async enqueue(sql: Sql, request: QueueRequest): Promise<ExecutionRow> {
    const definition = await this.definition(sql, request.revisionId);
    const input = request.input ?? {};
    this.checkInputs(request.revisionId, definition, input);
    return insertExecution(sql, {
      id: newId(),
      workspace_id: request.workspaceId,
      workflow_id: request.workflowId,
      revision_id: request.revisionId,
      trigger: request.trigger,
      input,
      concurrency_cap: typeof definition.concurrency === 'number' ? definition.concurrency : null,
      retention_days:
        typeof definition.retention_days === 'number'
          ? definition.retention_days
          : this.options.defaultRetentionDays,
      parent_execution_id: request.parent?.executionId ?? null,
      parent_step_key: request.parent?.stepKey ?? null,
    });
  }
}
