import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import type { Database } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import {
  deleteVariable,
  insertVariable,
  updateVariable,
  variableById,
  variablesByName,
  variablesPage,
  type VariableRow,
} from '../store/variables.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

export interface VariableView {
  id: string;
  name: string;
  description: string;
  value: unknown;
  created_at: string;
  updated_at: string;
}

function toView(row: VariableRow): VariableView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    value: row.value,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function nameTaken(error: unknown, name: string | undefined): unknown {
  if (error instanceof UniqueViolation)
    return conflict('VARIABLE_NAME_TAKEN', `a variable named "${name}" already exists`, 'name');
  return error;
}

export interface VariableServiceDeps {
  db: Database;
  audit: AuditService;
  pageTokens: PageTokenCodec;
}

/** Workspace variables: named JSON values that workflows read as `$vars.<name>`. */
export class VariableService {
  constructor(private readonly deps: VariableServiceDeps) {}

  async create(
    principal: Principal,
    input: { name: string; value: unknown; description?: string | undefined },
  ): Promise<VariableView> {
    authorize(principal, 'variables.manage');
    const id = newId();
    return this.deps.db.transaction(async (tx) => {
      const row = await insertVariable(tx, {
        id,
        workspace_id: principal.workspaceId,
        name: input.name,
        description: input.description ?? '',
        value: input.value,
      }).catch((e: unknown) => {
        throw nameTaken(e, input.name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.variableCreated,
        resourceId: id,
        resourceName: input.name,
      });
      return toView(row);
    });
  }

  /** Values by name, for the engine (`$vars.<name>`). */
  async valuesByName(workspaceId: string, names: string[]): Promise<Record<string, unknown>> {
    if (names.length === 0) return {};
    const rows = await variablesByName(this.deps.db, workspaceId, names);
    return Object.fromEntries(rows.map((r) => [r.name, r.value]));
  }

  async list(
    principal: Principal,
    query: { page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ variables: VariableView[]; next_page_token?: string }> {
    authorize(principal, 'variables.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `variables:${principal.workspaceId}`,
      query,
      (after, limit) => variablesPage(this.deps.db, principal.workspaceId, after, limit),
    );
    return { variables: rows.map(toView), ...rest };
  }

  async get(principal: Principal, id: string): Promise<VariableView> {
    authorize(principal, 'variables.read');
    const row = await variableById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('VARIABLE_NOT_FOUND', 'variable', id);
    return toView(row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: { name?: string | undefined; value?: unknown; description?: string | undefined },
  ): Promise<VariableView> {
    authorize(principal, 'variables.manage');
    return this.deps.db.transaction(async (tx) => {
      const before = await variableById(tx, principal.workspaceId, id, true);
      if (!before) throw notFound('VARIABLE_NOT_FOUND', 'variable', id);
      const row = await updateVariable(tx, principal.workspaceId, id, {
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...('value' in patch && patch.value !== undefined && { value: patch.value }),
      }).catch((e: unknown) => {
        throw nameTaken(e, patch.name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.variableUpdated,
        resourceId: id,
        resourceName: row.name,
      });
      return toView(row);
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'variables.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await variableById(tx, principal.workspaceId, id, true);
      if (!row) throw notFound('VARIABLE_NOT_FOUND', 'variable', id);
      await deleteVariable(tx, principal.workspaceId, id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.variableDeleted,
        resourceId: id,
        resourceName: row.name,
      });
    });
  }
}
