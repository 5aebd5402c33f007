import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS, type AuditAction } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { OspreyError, invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';
import { decodeImportedSource, setTopLevelFields } from '../domain/workflow/source-edit.js';
import { formatPath, type SourceProblem } from '../domain/workflow/source.js';
import {
  validateDefinition,
  walkSteps,
  type ActionCatalog,
  type WorkflowDefinition,
} from '../domain/workflow/validate.js';
import type { Database, Sql } from '../store/database.js';
import {
  deleteWorkflow,
  insertRevision,
  insertWorkflow,
  markPublished,
  revisionById,
  revisionsOf,
  updateWorkflow,
  workflowById,
  workflowsPage,
  type RevisionRow,
  type WorkflowRow,
} from '../store/workflows.js';
import type { AuditService } from './audit.js';
import type { WebhookService } from './webhooks.js';

export interface WorkflowView {
  id: string;
  /** PLB1001-style, as the Orchestrate API shows playbooks. */
  readable_id: string;
  name: string;
  description: string;
  tags: string[];
  trigger_type: string;
  enabled: boolean;
  current_revision_id: string;
  published_revision_id: string | null;
  has_unpublished_changes: boolean;
  created_at: string;
  updated_at: string;
}

export interface RevisionView {
  id: string;
  workflow_id: string;
  number: number;
  created_at: string;
  created_by: string;
  published: boolean;
  published_at: string | null;
  publish_description: string | null;
  warnings: SourceProblem[];
}

export function toWorkflowView(row: WorkflowRow): WorkflowView {
  return {
    id: row.id,
    readable_id: `PLB${row.readable_number}`,
    name: row.name,
    description: row.description,
    tags: row.tags,
    trigger_type: row.trigger_type,
    enabled: row.enabled,
    current_revision_id: row.current_revision_id,
    published_revision_id: row.published_revision_id,
    has_unpublished_changes:
      row.published_revision_id !== null && row.published_revision_id !== row.current_revision_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function toRevisionView(row: RevisionRow): RevisionView {
  return {
    id: row.id,
    workflow_id: row.workflow_id,
    number: row.number,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    published: row.published_at !== null,
    published_at: row.published_at ? row.published_at.toISOString() : null,
    publish_description: row.publish_description,
    warnings: row.warnings as SourceProblem[],
  };
}

/** 400 with every problem's path, line and column. */
function invalid(problems: SourceProblem[], field: string): OspreyError {
  const errors = problems.filter((p) => p.severity === 'error');
  const first = errors[0];
  const where = first?.line ? ` (line ${first.line}, column ${first.column ?? 1})` : '';
  return new OspreyError(
    'WORKFLOW_INVALID',
    400,
    `the workflow definition has ${errors.length} problem${errors.length === 1 ? '' : 's'}; first: ${first?.path ? `${first.path}: ` : ''}${first?.message ?? 'invalid'}${where}`,
    { details: problems.map((p) => ({ field: p.path ? `${field}:${p.path}` : field, ...p })) },
  );
}

function parse(
  source: string,
  field: string,
  actions: ActionCatalog,
): { definition: WorkflowDefinition; warnings: SourceProblem[] } {
  if (Buffer.byteLength(source) > 1_048_576) throw invalidArgument(field, `${field} must be at most 1 MiB`);
  const result = validateDefinition(source, actions);
  if (!result.definition) throw invalid(result.problems, field);
  return { definition: result.definition, warnings: result.problems };
}

export interface WorkflowServiceDeps {
  db: Database;
  audit: AuditService;
  pageTokens: PageTokenCodec;
  webhooks: WebhookService;
  /** The actions ("app.action") the workspace's installed apps provide. */
  actions(workspaceId: string): Promise<ActionCatalog>;
}

/** Workflows as code: every save is an immutable revision; publishing picks the one triggers run. */
export class WorkflowService {
  constructor(private readonly deps: WorkflowServiceDeps) {}

  async #audit(
    tx: Sql,
    principal: Principal,
    action: AuditAction,
    row: WorkflowRow,
    revisionId: string,
  ): Promise<void> {
    // The seed: extra_data.revision_id, and extra_data.tags only when the workflow has tags.
    await this.deps.audit.record(tx, principal, {
      action,
      resourceId: row.id,
      resourceName: row.name,
      extraData: { revision_id: revisionId, ...(row.tags.length ? { tags: row.tags } : {}) },
    });
  }

  /** Validates `source`, stores it as the workflow's new current revision, and syncs the workflow row. */
  async #newRevision(
    tx: Sql,
    principal: Principal,
    id: string,
    source: string,
    field: string,
  ): Promise<{ revision: RevisionRow; updated: WorkflowRow }> {
    const { definition, warnings } = parse(source, field, await this.deps.actions(principal.workspaceId));
    const revision = await insertRevision(tx, {
      id: newId(),
      workflow_id: id,
      workspace_id: principal.workspaceId,
      source,
      definition: definition as unknown as Record<string, unknown>,
      warnings,
      created_by: principal.actor.email || principal.actor.name,
    });
    const updated = await updateWorkflow(tx, principal.workspaceId, id, {
      name: definition.name,
      description: definition.description ?? '',
      tags: definition.tags ?? [],
      trigger_type: definition.trigger.type,
      current_revision_id: revision.id,
    });
    if (definition.trigger.type === 'webhook' && !updated.webhook_token_hash)
      await this.deps.webhooks.issueToken(tx, id);
    return { revision, updated };
  }

  async #load(tx: Sql, principal: Principal, id: string, lock = false): Promise<WorkflowRow> {
    const row = await workflowById(tx, principal.workspaceId, id, lock);
    if (!row) throw notFound('WORKFLOW_NOT_FOUND', 'workflow', id);
    return row;
  }

  /** Creates a workflow from YAML or JSON text. */
  async create(
    principal: Principal,
    source: string,
    field = 'yaml',
  ): Promise<{ workflow: WorkflowView; revision: RevisionView }> {
    authorize(principal, 'workflows.edit');
    const { definition, warnings } = parse(source, field, await this.deps.actions(principal.workspaceId));
    return this.deps.db.transaction(async (tx) => {
      const id = newId();
      const revisionId = newId();
      const row = await insertWorkflow(tx, {
        id,
        workspace_id: principal.workspaceId,
        name: definition.name,
        description: definition.description ?? '',
        tags: definition.tags ?? [],
        trigger_type: definition.trigger.type,
        current_revision_id: revisionId,
      });
      const revision = await insertRevision(tx, {
        id: revisionId,
        workflow_id: id,
        workspace_id: principal.workspaceId,
        source,
        definition: definition as unknown as Record<string, unknown>,
        warnings,
        created_by: principal.actor.email || principal.actor.name,
      });
      if (definition.trigger.type === 'webhook') await this.deps.webhooks.issueToken(tx, id);
      await this.#audit(tx, principal, AUDIT_ACTIONS.workflowCreated, row, revisionId);
      return { workflow: toWorkflowView(row), revision: toRevisionView(revision) };
    });
  }

  /** POST /v1/workflows/import: `yaml` as base64 or as the (escaped) text itself. */
  async import(
    principal: Principal,
    yaml: string,
  ): Promise<{ workflow_id: string; revision_id: string; workflow: WorkflowView }> {
    const created = await this.create(principal, decodeImportedSource(yaml), 'yaml');
    return { workflow_id: created.workflow.id, revision_id: created.revision.id, workflow: created.workflow };
  }

  async list(
    principal: Principal,
    query: {
      name?: string | undefined;
      tag?: string | undefined;
      page_size?: number | undefined;
      page_token?: string | undefined;
    },
  ): Promise<{ workflows: WorkflowView[]; next_page_token?: string }> {
    authorize(principal, 'workflows.read');
    const size = pageSize(query.page_size, 100, 500);
    let after: { name: string; id: string } | undefined;
    if (query.page_token) {
      const c = this.deps.pageTokens.decode(query.page_token);
      if (
        c.k !== `workflows:${principal.workspaceId}` ||
        typeof c.n !== 'string' ||
        typeof c.i !== 'string'
      ) {
        throw invalidArgument('page_token', 'page_token does not belong to this list', 'INVALID_PAGE_TOKEN');
      }
      after = { name: c.n, id: c.i };
    }
    const rows = await workflowsPage(this.deps.db, {
      workspaceId: principal.workspaceId,
      name: query.name,
      tag: query.tag,
      after,
      limit: size + 1,
    });
    const page = rows.slice(0, size);
    const last = page.at(-1);
    return {
      workflows: page.map(toWorkflowView),
      ...(rows.length > size && last
        ? {
            next_page_token: this.deps.pageTokens.encode({
              k: `workflows:${principal.workspaceId}`,
              n: last.name,
              i: last.id,
            }),
          }
        : {}),
    };
  }

  async get(principal: Principal, id: string): Promise<WorkflowView> {
    authorize(principal, 'workflows.read');
    return toWorkflowView(await this.#load(this.deps.db, principal, id));
  }

  /**
   * A new definition (`yaml`) makes a new revision ("Workflow edited"); name, description or tags
   * alone are written into a new revision of the current source too ("Workflow updated"), so the
   * YAML always says what the workflow is.
   */
  async update(
    principal: Principal,
    id: string,
    patch: {
      yaml?: string | undefined;
      name?: string | undefined;
      description?: string | undefined;
      tags?: string[] | undefined;
    },
  ): Promise<{ workflow: WorkflowView; revision: RevisionView }> {
    authorize(principal, 'workflows.edit');
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#load(tx, principal, id, true);
      let source = patch.yaml;
      if (source === undefined) {
        const current = (await revisionById(tx, principal.workspaceId, id, row.current_revision_id))!;
        source = setTopLevelFields(current.source, {
          name: patch.name,
          description: patch.description,
          tags: patch.tags,
        });
      } else if (patch.name !== undefined || patch.description !== undefined || patch.tags !== undefined) {
        source = setTopLevelFields(source, {
          name: patch.name,
          description: patch.description,
          tags: patch.tags,
        });
      }
      const { revision, updated } = await this.#newRevision(tx, principal, id, source, 'yaml');
      const action = patch.yaml !== undefined ? AUDIT_ACTIONS.workflowEdited : AUDIT_ACTIONS.workflowUpdated;
      await this.#audit(tx, principal, action, updated, revision.id);
      return { workflow: toWorkflowView(updated), revision: toRevisionView(revision) };
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'workflows.edit');
    await this.deps.db.transaction(async (tx) => {
      const row = await this.#load(tx, principal, id, true);
      await deleteWorkflow(tx, principal.workspaceId, id);
      await this.#audit(tx, principal, AUDIT_ACTIONS.workflowDeleted, row, row.current_revision_id);
    });
  }

  async revisions(principal: Principal, id: string): Promise<RevisionView[]> {
    authorize(principal, 'workflows.read');
    await this.#load(this.deps.db, principal, id);
    return (await revisionsOf(this.deps.db, principal.workspaceId, id)).map(toRevisionView);
  }

  /** A revision with its YAML, exactly as saved. */
  async revision(
    principal: Principal,
    id: string,
    revisionId: string,
  ): Promise<RevisionView & { yaml: string }> {
    authorize(principal, 'workflows.read');
    const row = await revisionById(this.deps.db, principal.workspaceId, id, revisionId);
    if (!row) throw notFound('REVISION_NOT_FOUND', 'revision', revisionId);
    return { ...toRevisionView(row), yaml: row.source };
  }

  /** Publishes the current revision (only the current one, as in Torq); warnings block it. */
  async publish(
    principal: Principal,
    id: string,
    input: { revision_id?: string | undefined; description?: string | undefined },
  ): Promise<WorkflowView> {
    authorize(principal, 'workflows.publish');
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#load(tx, principal, id, true);
      const revisionId = input.revision_id ?? row.current_revision_id;
      if (revisionId !== row.current_revision_id) {
        const exists = await revisionById(tx, principal.workspaceId, id, revisionId);
        if (!exists) throw notFound('REVISION_NOT_FOUND', 'revision', revisionId);
        throw new OspreyError(
          'REVISION_NOT_CURRENT',
          409,
          'only the current revision can be published; revert to that revision first',
          {
            details: [
              { field: 'revision_id', message: `the current revision is ${row.current_revision_id}` },
            ],
          },
        );
      }
      const revision = (await revisionById(tx, principal.workspaceId, id, revisionId))!;
      const warnings = revision.warnings as SourceProblem[];
      if (warnings.length) {
        throw new OspreyError(
          'WORKFLOW_NOT_PUBLISHABLE',
          400,
          `the revision has ${warnings.length} warning(s) that must be fixed before publishing; first: ${warnings[0]!.path}: ${warnings[0]!.message}`,
          {
            details: warnings.map((w) => ({ field: `yaml:${w.path}`, ...w })),
          },
        );
      }
      await this.#checkChildrenPublished(tx, principal.workspaceId, revision);
      await markPublished(tx, revisionId, input.description ?? null);
      // A schedule starts counting from the publish, never firing ticks missed before it.
      const updated = await updateWorkflow(tx, principal.workspaceId, id, {
        published_revision_id: revisionId,
        schedule_next_at: null,
      });
      await this.#audit(tx, principal, AUDIT_ACTIONS.workflowPublished, updated, revisionId);
      return toWorkflowView(updated);
    });
  }

  /** A published workflow calls published children, so they must be published first (as in Torq). */
  async #checkChildrenPublished(tx: Sql, workspaceId: string, revision: RevisionRow): Promise<void> {
    const definition = revision.definition as unknown as WorkflowDefinition;
    const problems: { field: string; message: string }[] = [];
    for (const { step, path } of walkSteps(definition.steps)) {
      if (step.kind !== 'call_workflow' || typeof step.workflow !== 'string' || step.workflow.includes('{{'))
        continue;
      const found = await tx.rows<{ id: string; published_revision_id: string | null }>(
        `SELECT id, published_revision_id FROM workflows WHERE workspace_id = $1
            AND (name = $2 OR id::text = lower($2))`,
        [workspaceId, step.workflow],
      );
      const field = `yaml:${formatPath([...path, 'workflow'])}`;
      if (found.length === 0)
        problems.push({ field, message: `no workflow "${step.workflow}" in this workspace` });
      else if (found.length > 1)
        problems.push({ field, message: `several workflows are named "${step.workflow}"; call it by id` });
      // A workflow that calls itself is published by this very publish.
      else if (found[0]!.id !== revision.workflow_id && !found[0]!.published_revision_id)
        problems.push({ field, message: `the workflow "${step.workflow}" must be published first` });
    }
    if (problems.length) {
      throw new OspreyError(
        'WORKFLOW_NOT_PUBLISHABLE',
        400,
        `the workflow calls workflows that cannot run published: ${problems[0]!.message}`,
        { details: problems },
      );
    }
  }

  async unpublish(principal: Principal, id: string): Promise<WorkflowView> {
    authorize(principal, 'workflows.publish');
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#load(tx, principal, id, true);
      if (!row.published_revision_id) throw new OspreyError('CONFLICT', 409, 'the workflow is not published');
      const updated = await updateWorkflow(tx, principal.workspaceId, id, { published_revision_id: null });
      await this.#audit(tx, principal, AUDIT_ACTIONS.workflowUnpublished, updated, row.published_revision_id);
      return toWorkflowView(updated);
    });
  }

  /** Makes a new current revision with the source of an earlier one. */
  async revert(
    principal: Principal,
    id: string,
    revisionId: string,
  ): Promise<{ workflow: WorkflowView; revision: RevisionView }> {
    authorize(principal, 'workflows.edit');
    return this.deps.db.transaction(async (tx) => {
      await this.#load(tx, principal, id, true);
      const old = await revisionById(tx, principal.workspaceId, id, revisionId);
      if (!old) throw notFound('REVISION_NOT_FOUND', 'revision', revisionId);
      const { revision, updated } = await this.#newRevision(tx, principal, id, old.source, 'revision_id');
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.workflowReverted,
        resourceId: id,
        resourceName: updated.name,
        extraData: {
          revision_id: revision.id,
          reverted_to: revisionId,
          ...(updated.tags.length ? { tags: updated.tags } : {}),
        },
      });
      return { workflow: toWorkflowView(updated), revision: toRevisionView(revision) };
    });
  }

  /** Turns the trigger on or off; a disabled workflow can still be run by hand. */
  async setEnabled(principal: Principal, id: string, enabled: boolean): Promise<WorkflowView> {
    authorize(principal, 'workflows.publish');
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#load(tx, principal, id, true);
      if (row.enabled === enabled) return toWorkflowView(row);
      const updated = await updateWorkflow(tx, principal.workspaceId, id, {
        enabled,
        schedule_next_at: null,
      });
      await this.#audit(
        tx,
        principal,
        enabled ? AUDIT_ACTIONS.workflowEnabled : AUDIT_ACTIONS.workflowDisabled,
        updated,
        updated.current_revision_id,
      );
      return toWorkflowView(updated);
    });
  }
}
