import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound, OspreyError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { isSlug, slugify } from '../domain/slug.js';
import { ActionError } from '../integrations/action-error.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { walkSteps, type WorkflowDefinition } from '../domain/workflow/validate.js';
import type { Database, Sql } from '../store/database.js';
import {
  appendItems,
  deleteItem,
  deleteList,
  insertList,
  itemValue,
  listByRef,
  listData,
  listsPage,
  putItem,
  replaceItems,
  touchList,
  updateList,
  workflowDefinitions,
  type PersistentListRow,
} from '../store/persistent-lists.js';
import { UniqueViolation } from '../store/pg-errors.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

const MAX_VALUE_BYTES = 1024 * 1024;

/** One write to a key of a list. */
export type ListWrite =
  | { operation: 'put'; value: unknown }
  | { operation: 'delete' }
  | { operation: 'append'; values: unknown[]; unique: boolean };

export interface PersistentListView {
  id: string;
  readable_id: string;
  title: string;
  slug: string;
  description: string;
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
  data?: Record<string, unknown>;
}

function toView(row: PersistentListRow, data?: Record<string, unknown>): PersistentListView {
  return {
    id: row.id,
    readable_id: `PL${row.seq}`,
    title: row.title,
    slug: row.slug,
    description: row.description,
    created_at: row.created_at.toISOString(),
    created_by: row.created_by,
    updated_at: row.updated_at.toISOString(),
    updated_by: row.updated_by,
    ...(data && { data }),
  };
}

function checkValue(field: string, value: unknown): void {
  if (value === undefined) throw invalidArgument(field, `${field} is required`);
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_VALUE_BYTES)
    throw invalidArgument(field, `${field} must be at most ${MAX_VALUE_BYTES} bytes as JSON`);
}

export interface PersistentListServiceDeps {
  db: Database;
  audit: AuditService;
  pageTokens: PageTokenCodec;
}

/**
 * Persistent lists: named key-value collections that survive restarts. Each key is its own row, so
 * writes are atomic per key; appends never lose an element however many runs append at once.
 */
export class PersistentListService {
  constructor(private readonly deps: PersistentListServiceDeps) {}

  async create(
    principal: Principal,
    input: {
      title: string;
      slug?: string | undefined;
      description?: string | undefined;
      data?: Record<string, unknown> | undefined;
    },
  ): Promise<PersistentListView> {
    authorize(principal, 'lists.manage');
    const slug = input.slug ?? slugify(input.title, 100);
    if (!isSlug(slug, 100))
      throw invalidArgument(
        input.slug === undefined ? 'title' : 'slug',
        'the slug must be 1-100 lower-case letters, digits, "-" or "_" (made from the title when not given)',
      );
    for (const [k, v] of Object.entries(input.data ?? {})) checkValue(`data.${k}`, v);
    return this.deps.db.transaction(async (tx) => {
      const row = await insertList(tx, {
        id: newId(),
        workspace_id: principal.workspaceId,
        title: input.title,
        slug,
        description: input.description ?? '',
        created_by: principal.actor.email || principal.actor.name,
      }).catch((e: unknown) => {
        if (e instanceof UniqueViolation)
          throw conflict(
            'LIST_SLUG_TAKEN',
            `a persistent list with the slug "${slug}" already exists`,
            'slug',
          );
        throw e;
      });
      await replaceItems(tx, row.id, input.data ?? {});
      await this.#audit(tx, principal, AUDIT_ACTIONS.persistentListCreated, row, {
        keys: Object.keys(input.data ?? {}).length,
      });
      return toView(row, await listData(tx, row.id));
    });
  }

  async list(
    principal: Principal,
    query: { q?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ lists: PersistentListView[]; next_page_token?: string }> {
    authorize(principal, 'lists.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `lists:${principal.workspaceId}:${query.q ?? ''}`,
      query,
      async (after, limit) =>
        (await listsPage(this.deps.db, principal.workspaceId, query.q, after, limit)).map((r) => ({
          ...r,
          name: r.slug,
        })),
    );
    return { lists: rows.map((r) => toView(r)), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<PersistentListView> {
    authorize(principal, 'lists.read');
    const row = await this.#row(this.deps.db, principal, ref);
    return toView(row, await listData(this.deps.db, row.id));
  }

  async update(
    principal: Principal,
    ref: string,
    patch: {
      title?: string | undefined;
      description?: string | undefined;
      data?: Record<string, unknown> | undefined;
    },
  ): Promise<PersistentListView> {
    authorize(principal, 'lists.manage');
    for (const [k, v] of Object.entries(patch.data ?? {})) checkValue(`data.${k}`, v);
    return this.deps.db.transaction(async (tx) => {
      const before = await this.#row(tx, principal, ref, true);
      const row = await updateList(tx, before.id, {
        ...patch,
        updated_by: principal.actor.email || principal.actor.name,
      });
      if (patch.data) await replaceItems(tx, row.id, patch.data);
      await this.#audit(tx, principal, AUDIT_ACTIONS.persistentListUpdated, row, {
        changed_fields: Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined),
      });
      return toView(row, await listData(tx, row.id));
    });
  }

  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'lists.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await this.#row(tx, principal, ref, true);
      const users = await this.#usedBy(tx, principal.workspaceId, row);
      if (users.length)
        throw new OspreyError('LIST_IN_USE', 400, 'This persistent list has associated playbooks', {
          details: users.map((w) => ({ field: 'workflows', message: `${w.name} (${w.id})` })),
        });
      await deleteList(tx, row.id);
      await this.#audit(tx, principal, AUDIT_ACTIONS.persistentListDeleted, row, {});
    });
  }

  /** The workflows whose current or published definition reads or writes the list. */
  async workflows(
    principal: Principal,
    ref: string,
  ): Promise<{ id: string; name: string; description: string; readable_id: string }[]> {
    authorize(principal, 'lists.read');
    const row = await this.#row(this.deps.db, principal, ref);
    return this.#usedBy(this.deps.db, principal.workspaceId, row);
  }

  async getItem(principal: Principal, ref: string, key: string): Promise<unknown> {
    authorize(principal, 'lists.read');
    const row = await this.#row(this.deps.db, principal, ref);
    const item = await itemValue(this.deps.db, row.id, key);
    if (!item) throw notFound('LIST_ITEM_NOT_FOUND', 'key', key);
    return item.value;
  }

  /** Writes one key through the API (audited); workflow steps use `apply`. */
  async writeItem(
    principal: Principal,
    ref: string,
    key: string,
    op: ListWrite,
  ): Promise<{ key: string; value?: unknown; length?: number; deleted?: boolean }> {
    authorize(principal, 'lists.manage');
    if (op.operation === 'put') checkValue('value', op.value);
    if (op.operation === 'append') checkValue('values', op.values);
    return this.deps.db.transaction(async (tx) => {
      const row = await this.#row(tx, principal, ref);
      const result = await this.#write(tx, row.id, key, op);
      if (op.operation === 'delete' && !result.deleted) throw notFound('LIST_ITEM_NOT_FOUND', 'key', key);
      await touchList(tx, row.id, principal.actor.email || principal.actor.name);
      await this.#audit(tx, principal, AUDIT_ACTIONS.persistentListUpdated, row, {
        operation: op.operation,
        key,
      });
      return result;
    });
  }

  /**
   * What the `lists` app's actions do inside a workflow run (not audited: the run's step records
   * keep what it wrote). `list` is an id, slug or readable id.
   */
  async apply(workspaceId: string, action: string, params: Record<string, unknown>): Promise<unknown> {
    const ref = String(params.list);
    const row = await listByRef(this.deps.db, workspaceId, ref);
    if (!row) throw new ActionError('LIST_NOT_FOUND', `no persistent list "${ref}" in this workspace`);
    const key = typeof params.key === 'string' ? params.key : '';
    switch (action) {
      case 'get_all':
        return { list: row.slug, data: await listData(this.deps.db, row.id) };
      case 'get': {
        const item = await itemValue(this.deps.db, row.id, key);
        return { key, found: item !== undefined, value: item?.value ?? params.default ?? null };
      }
      case 'contains': {
        const item = await itemValue(this.deps.db, row.id, key);
        const value = item?.value;
        const contains =
          params.value === undefined
            ? item !== undefined
            : Array.isArray(value)
              ? value.some((v) => JSON.stringify(v) === JSON.stringify(params.value))
              : JSON.stringify(value) === JSON.stringify(params.value);
        return { key, contains };
      }
      case 'put':
        return this.#write(this.deps.db, row.id, key, { operation: 'put', value: params.value });
      case 'delete':
        return this.#write(this.deps.db, row.id, key, { operation: 'delete' });
      case 'append': {
        const values = Array.isArray(params.values) ? params.values : [params.value];
        return this.#write(this.deps.db, row.id, key, {
          operation: 'append',
          values,
          unique: params.unique === true,
        });
      }
      default:
        throw new ActionError('ACTION_UNAVAILABLE', `unknown list action ${action}`);
    }
  }

  async #write(
    sql: Sql,
    listId: string,
    key: string,
    op: ListWrite,
  ): Promise<{ key: string; value?: unknown; length?: number; deleted?: boolean }> {
    if (op.operation === 'put') {
      await putItem(sql, listId, key, op.value);
      return { key, value: op.value };
    }
    if (op.operation === 'delete') return { key, deleted: await deleteItem(sql, listId, key) };
    return { key, length: await appendItems(sql, listId, key, op.values, op.unique) };
  }

  async #usedBy(
    sql: Sql,
    workspaceId: string,
    row: PersistentListRow,
  ): Promise<{ id: string; name: string; description: string; readable_id: string }[]> {
    const names = new Set([row.id, row.slug, `PL${row.seq}`]);
    const out: { id: string; name: string; description: string; readable_id: string }[] = [];
    for (const w of await workflowDefinitions(sql, workspaceId)) {
      const uses = w.definitions.some((d) =>
        walkSteps((d as WorkflowDefinition).steps ?? []).some(
          ({ step }) =>
            step.kind === 'action' &&
            typeof step.action === 'string' &&
            step.action.startsWith('lists.') &&
            names.has(String((step.with as { list?: unknown } | undefined)?.list)),
        ),
      );
      if (uses)
        out.push({
          id: w.id,
          name: w.name,
          description: w.description,
          readable_id: `PLB${w.readable_number}`,
        });
    }
    return out;
  }

  async #row(sql: Sql, principal: Principal, ref: string, lock = false): Promise<PersistentListRow> {
    const row = await listByRef(sql, principal.workspaceId, ref, lock);
    if (!row) throw notFound('LIST_NOT_FOUND', 'persistent list', ref);
    return row;
  }

  async #audit(
    tx: Sql,
    principal: Principal,
    action: (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS],
    row: PersistentListRow,
    extra: Record<string, unknown>,
  ): Promise<void> {
    await this.deps.audit.record(tx, principal, {
      action,
      resourceId: row.id,
      resourceName: row.title,
      extraData: { slug: row.slug, readable_id: `PL${row.seq}`, ...extra },
    });
  }
}
