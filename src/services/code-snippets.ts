import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { isSlug, slugify } from '../domain/slug.js';
import type { Database, Sql } from '../store/database.js';
import { workflowDefinitions } from '../store/persistent-lists.js';
import { walkSteps, type WorkflowDefinition } from '../domain/workflow/validate.js';
import { UniqueViolation } from '../store/pg-errors.js';
import {
  deleteRow,
  insertRow,
  rowByRef,
  rowsPage,
  updateRow,
  type RowTable,
} from '../store/workspace-rows.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

export const SNIPPET_LANGUAGES = ['javascript', 'python'] as const;
export type SnippetLanguage = (typeof SNIPPET_LANGUAGES)[number];

interface SnippetRow {
  id: string;
  workspace_id: string;
  name: string;
  title: string;
  description: string;
  language: SnippetLanguage;
  code: string;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

const SNIPPETS: RowTable = {
  table: 'code_snippets',
  fields: ['name', 'title', 'description', 'language', 'code'],
  refs: ['name'],
  search: ['name', 'title'],
  order: 'name',
  touch: 'updated_at = now()',
};

export interface CodeSnippetView {
  id: string;
  name: string;
  title: string;
  description: string;
  language: SnippetLanguage;
  /** Whether code steps can use it: JavaScript runs; Python kept from Orchestrate must be ported. */
  runnable: boolean;
  code?: string;
  created_at: string;
  created_by: string;
  updated_at: string;
}

export interface CodeSnippetInput {
  name?: string | undefined;
  title?: string | undefined;
  description?: string | undefined;
  language?: SnippetLanguage | undefined;
  code?: string | undefined;
}

function toView(row: SnippetRow, withCode: boolean): CodeSnippetView {
  return {
    id: row.id,
    name: row.name,
    title: row.title,
    description: row.description,
    language: row.language,
    runnable: row.language === 'javascript',
    ...(withCode && { code: row.code }),
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    updated_at: row.updated_at.toISOString(),
  };
}

const NAME_RULE = 'the name must be 1-100 lower-case letters, digits, "-" or "_"';

/**
 * Code snippets: JavaScript that code steps reuse (`snippets: [name]` runs it before the step's
 * own source). Steps read a snippet when they run, like a shared library: an edit reaches every
 * workflow using it, and one in use cannot be deleted or renamed. Python snippets imported from
 * Orchestrate are stored so they can be ported, not run.
 */
export class CodeSnippetService {
  constructor(private readonly deps: { db: Database; audit: AuditService; pageTokens: PageTokenCodec }) {}

  async create(principal: Principal, input: CodeSnippetInput): Promise<CodeSnippetView> {
    authorize(principal, 'workflows.edit');
    if (!input.title?.trim()) throw invalidArgument('title', 'title is required');
    if (input.code === undefined) throw invalidArgument('code', 'code is required');
    const name = input.name ?? slugify(input.title, 100);
    if (!isSlug(name, 100)) throw invalidArgument(input.name ? 'name' : 'title', NAME_RULE);
    return this.deps.db.transaction(async (tx) => {
      const row = await insertRow<SnippetRow>(tx, SNIPPETS, {
        id: newId(),
        workspace_id: principal.workspaceId,
        created_by: principal.actor.email || principal.actor.name,
        name,
        title: input.title!.trim(),
        description: input.description ?? '',
        language: input.language ?? 'javascript',
        code: input.code!,
      }).catch((e: unknown) => {
        throw taken(e, name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.codeSnippetCreated,
        resourceId: row.id,
        resourceName: row.title,
        extraData: { name: row.name, language: row.language },
      });
      return toView(row, true);
    });
  }

  async list(
    principal: Principal,
    query: { q?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ snippets: CodeSnippetView[]; next_page_token?: string }> {
    authorize(principal, 'workflows.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `snippets:${principal.workspaceId}:${query.q ?? ''}`,
      query,
      (after, limit) =>
        rowsPage<SnippetRow>(this.deps.db, SNIPPETS, principal.workspaceId, query.q, after, limit),
    );
    return { snippets: rows.map((r) => toView(r, false)), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<CodeSnippetView> {
    authorize(principal, 'workflows.read');
    const row = await rowByRef<SnippetRow>(this.deps.db, SNIPPETS, principal.workspaceId, ref);
    if (!row) throw notFound('CODE_SNIPPET_NOT_FOUND', 'code snippet', ref);
    return toView(row, true);
  }

  async update(principal: Principal, ref: string, patch: CodeSnippetInput): Promise<CodeSnippetView> {
    authorize(principal, 'workflows.edit');
    if (patch.name !== undefined && !isSlug(patch.name, 100)) throw invalidArgument('name', NAME_RULE);
    if (patch.title !== undefined && !patch.title.trim()) throw invalidArgument('title', 'title is empty');
    return this.deps.db.transaction(async (tx) => {
      const before = await rowByRef<SnippetRow>(tx, SNIPPETS, principal.workspaceId, ref, true);
      if (!before) throw notFound('CODE_SNIPPET_NOT_FOUND', 'code snippet', ref);
      if (patch.name !== undefined && patch.name !== before.name)
        await refuseInUse(tx, principal.workspaceId, before.name, 'renamed');
      const row = await updateRow<SnippetRow>(tx, SNIPPETS, before.id, {
        name: patch.name ?? before.name,
        title: patch.title?.trim() ?? before.title,
        description: patch.description ?? before.description,
        language: patch.language ?? before.language,
        code: patch.code ?? before.code,
      }).catch((e: unknown) => {
        throw taken(e, patch.name ?? before.name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.codeSnippetUpdated,
        resourceId: row.id,
        resourceName: row.title,
        extraData: {
          changed_fields: Object.keys(patch).filter((k) => patch[k as keyof CodeSnippetInput] !== undefined),
        },
      });
      return toView(row, true);
    });
  }

  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'workflows.edit');
    await this.deps.db.transaction(async (tx) => {
      const row = await rowByRef<SnippetRow>(tx, SNIPPETS, principal.workspaceId, ref, true);
      if (!row) throw notFound('CODE_SNIPPET_NOT_FOUND', 'code snippet', ref);
      await refuseInUse(tx, principal.workspaceId, row.name, 'deleted');
      await deleteRow(tx, SNIPPETS, row.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.codeSnippetDeleted,
        resourceId: row.id,
        resourceName: row.title,
      });
    });
  }

  /**
   * For code steps: the named snippets' code, in order, joined. Throws a message naming the first
   * snippet that is missing or not JavaScript (the step fails with CODE_SNIPPET_NOT_RUNNABLE).
   */
  async source(workspaceId: string, names: readonly string[]): Promise<string> {
    const parts: string[] = [];
    for (const name of names) {
      const row = await rowByRef<SnippetRow>(this.deps.db, SNIPPETS, workspaceId, name);
      if (!row) throw new SnippetUnavailable(`no code snippet "${name}" in this workspace`);
      if (row.language !== 'javascript')
        throw new SnippetUnavailable(
          `code snippet "${name}" is ${row.language}; port it to JavaScript to use it in a code step`,
        );
      parts.push(`// snippet ${row.name}\n${row.code}`);
    }
    return parts.join('\n');
  }
}

export class SnippetUnavailable extends Error {
  readonly code = 'CODE_SNIPPET_NOT_RUNNABLE';
}

/** 409 while a workflow's draft or published definition has a code step using the snippet. */
async function refuseInUse(sql: Sql, workspaceId: string, name: string, verb: string): Promise<void> {
  const users = (await workflowDefinitions(sql, workspaceId)).filter((w) =>
    w.definitions.some((d) =>
      walkSteps((d as WorkflowDefinition).steps ?? []).some(
        ({ step }) => step.kind === 'code' && Array.isArray(step.snippets) && step.snippets.includes(name),
      ),
    ),
  );
  if (users.length > 0)
    throw conflict(
      'CODE_SNIPPET_IN_USE',
      `the code snippet "${name}" cannot be ${verb}: ${users.map((w) => `"${w.name}"`).join(', ')} use it`,
      'name',
    );
}

function taken(error: unknown, name: string): unknown {
  if (error instanceof UniqueViolation)
    return conflict('CODE_SNIPPET_NAME_TAKEN', `a code snippet named "${name}" already exists`, 'name');
  return error;
}
