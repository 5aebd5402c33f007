import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, invalidArgument, notFound, OspreyError } from '../domain/errors.js';
import { newId, isUuid } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { can } from '../domain/roles.js';
import { apiKeyById } from '../store/api-keys.js';
import type { Database, Sql } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import {
  TAGS,
  grantedTitles,
  grantsOf,
  setGrants,
  workflowCounts,
  type Grantee,
  type TagRow,
} from '../store/tags.js';
import { member, userByEmail } from '../store/users.js';
import { deleteRow, insertRow, rowByRef, rowsPage, updateRow } from '../store/workspace-rows.js';
import type { AuditService } from './audit.js';
import { pageByName } from './name-paging.js';

export interface TagView {
  id: string;
  title: string;
  description: string;
  color: string;
  workflow_count: number;
  /** Who may run workflows carrying this tag though their role cannot edit workflows. */
  granted_to?: { users: string[]; api_keys: string[] };
  created_at: string;
  created_by: string;
  updated_at: string;
  updated_by: string;
}

export interface TagInput {
  title?: string | undefined;
  description?: string | undefined;
  color?: string | undefined;
  /** Users (email or id) and API keys (id) the tag is granted to; replaces the grants. */
  granted_to?: { users?: string[] | undefined; api_keys?: string[] | undefined } | undefined;
}

const COLOR = /^#[0-9a-fA-F]{6}$/;
/** Workflow YAML allows tags of at most 64 characters. */
const TITLE_MAX = 64;

/**
 * Tags: titled labels for workflows (a workflow's YAML `tags` hold their titles) that also gate runs. A
 * caller whose role cannot edit workflows (an operator) runs only workflows carrying a tag granted
 * to them, or to the API key they call with.
 */
export class TagService {
  constructor(private readonly deps: { db: Database; audit: AuditService; pageTokens: PageTokenCodec }) {}

  async create(principal: Principal, input: TagInput): Promise<TagView> {
    authorize(principal, 'tags.manage');
    if (!input.title?.trim()) throw invalidArgument('title', 'title is required');
    if (input.title.trim().length > TITLE_MAX)
      throw invalidArgument('title', `a tag title is at most ${TITLE_MAX} characters (as workflow tags)`);
    checkColor(input.color);
    return this.deps.db.transaction(async (tx) => {
      const row = await insertRow<TagRow>(tx, TAGS, {
        id: newId(),
        workspace_id: principal.workspaceId,
        created_by: by(principal),
        title: input.title!.trim(),
        description: input.description ?? '',
        color: input.color ?? '#6B7280',
        updated_by: by(principal),
      }).catch((e: unknown) => {
        throw taken(e, input.title!);
      });
      if (input.granted_to) await this.#grant(tx, principal, row.id, input.granted_to);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.tagCreated,
        resourceId: row.id,
        resourceName: row.title,
        ...(input.granted_to && { extraData: { granted_to: input.granted_to } }),
      });
      return (await this.#views(tx, principal, [row]))[0]!;
    });
  }

  async list(
    principal: Principal,
    query: { q?: string | undefined; page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ tags: TagView[]; next_page_token?: string }> {
    authorize(principal, 'workflows.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `tags:${principal.workspaceId}:${query.q ?? ''}`,
      query,
      (after, limit) => rowsPage<TagRow>(this.deps.db, TAGS, principal.workspaceId, query.q, after, limit),
      (row) => row.title,
    );
    return { tags: await this.#views(this.deps.db, principal, rows), ...rest };
  }

  async get(principal: Principal, ref: string): Promise<TagView> {
    authorize(principal, 'workflows.read');
    const row = await rowByRef<TagRow>(this.deps.db, TAGS, principal.workspaceId, ref);
    if (!row) throw notFound('TAG_NOT_FOUND', 'tag', ref);
    return (await this.#views(this.deps.db, principal, [row]))[0]!;
  }

  async update(principal: Principal, ref: string, patch: TagInput): Promise<TagView> {
    authorize(principal, 'tags.manage');
    checkColor(patch.color);
    if (patch.title !== undefined && (!patch.title.trim() || patch.title.trim().length > TITLE_MAX))
      throw invalidArgument('title', `a tag title is 1-${TITLE_MAX} characters (as workflow tags)`);
    return this.deps.db.transaction(async (tx) => {
      const before = await rowByRef<TagRow>(tx, TAGS, principal.workspaceId, ref, true);
      if (!before) throw notFound('TAG_NOT_FOUND', 'tag', ref);
      const title = patch.title?.trim() ?? before.title;
      // Workflows carry tag titles in their YAML: renaming a tag in use would silently untag them.
      const carriers = (await workflowCounts(tx, principal.workspaceId)).get(before.title) ?? 0;
      if (title !== before.title && carriers > 0)
        throw conflict(
          'CONFLICT',
          `${carriers} workflow(s) carry the tag "${before.title}"; retag them before renaming it`,
          'title',
        );
      const row = await updateRow<TagRow>(tx, TAGS, before.id, {
        title,
        description: patch.description ?? before.description,
        color: patch.color ?? before.color,
        updated_by: by(principal),
      }).catch((e: unknown) => {
        throw taken(e, title);
      });
      if (patch.granted_to) await this.#grant(tx, principal, row.id, patch.granted_to);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.tagUpdated,
        resourceId: row.id,
        resourceName: row.title,
        extraData: {
          changed_fields: Object.keys(patch).filter((k) => patch[k as keyof TagInput] !== undefined),
          ...(title !== before.title && { previous_title: before.title }),
          ...(patch.granted_to && { granted_to: patch.granted_to }),
        },
      });
      return (await this.#views(tx, principal, [row]))[0]!;
    });
  }

  async delete(principal: Principal, ref: string): Promise<void> {
    authorize(principal, 'tags.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await rowByRef<TagRow>(tx, TAGS, principal.workspaceId, ref, true);
      if (!row) throw notFound('TAG_NOT_FOUND', 'tag', ref);
      await deleteRow(tx, TAGS, row.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.tagDeleted,
        resourceId: row.id,
        resourceName: row.title,
      });
    });
  }

  /**
   * Throws 403 WORKFLOW_NOT_GRANTED unless the caller may run a workflow with these tags: any role
   * that edits workflows may; below that, one of the tags must be granted to the caller.
   */
  async assertMayRun(
    sql: Sql,
    principal: Principal,
    workflow: { name: string; tags: string[] },
  ): Promise<void> {
    if (can(principal.role, 'workflows.edit')) return;
    const ids = [principal.actor.apiKeyId, principal.actor.userId].filter((v): v is string => !!v);
    const granted = ids.length ? await grantedTitles(sql, principal.workspaceId, ids) : [];
    if (workflow.tags.some((t) => granted.includes(t))) return;
    throw new OspreyError(
      'WORKFLOW_NOT_GRANTED',
      403,
      `your role runs only workflows carrying a tag granted to you; "${workflow.name}" carries ` +
        (workflow.tags.length ? workflow.tags.map((t) => `"${t}"`).join(', ') : 'no tag') +
        ' (an owner grants tags under /v1/tags)',
    );
  }

  async #grant(
    tx: Sql,
    principal: Principal,
    tagId: string,
    to: NonNullable<TagInput['granted_to']>,
  ): Promise<void> {
    // Granting run rights is access control: only who manages users may.
    authorize(principal, 'users.manage');
    const grantees: Grantee[] = [];
    for (const [i, ref] of (to.users ?? []).entries()) {
      const user = isUuid(ref) ? { id: ref } : await userByEmail(tx, ref.toLowerCase());
      if (!user || !(await member(tx, principal.workspaceId, user.id)))
        throw invalidArgument(`granted_to.users[${i}]`, `${ref} is not a member of this workspace`);
      grantees.push({ type: 'user', id: user.id });
    }
    for (const [i, id] of (to.api_keys ?? []).entries()) {
      if (!isUuid(id) || !(await apiKeyById(tx, principal.workspaceId, id)))
        throw invalidArgument(`granted_to.api_keys[${i}]`, `no API key ${id} in this workspace`);
      grantees.push({ type: 'api_key', id });
    }
    await setGrants(tx, tagId, grantees);
  }

  async #views(sql: Sql, principal: Principal, rows: TagRow[]): Promise<TagView[]> {
    const counts = await workflowCounts(sql, principal.workspaceId);
    const showGrants = can(principal.role, 'tags.manage');
    const grants =
      showGrants && rows.length
        ? await grantsOf(
            sql,
            rows.map((r) => r.id),
          )
        : [];
    return rows.map((row) => ({
      id: row.id,
      title: row.title,
      description: row.description,
      color: row.color,
      workflow_count: counts.get(row.title) ?? 0,
      ...(showGrants && {
        granted_to: {
          users: grants.filter((g) => g.tag_id === row.id && g.type === 'user').map((g) => g.id),
          api_keys: grants.filter((g) => g.tag_id === row.id && g.type === 'api_key').map((g) => g.id),
        },
      }),
      created_at: row.created_at.toISOString(),
      created_by: row.created_by,
      updated_at: row.updated_at.toISOString(),
      updated_by: row.updated_by,
    }));
  }
}

function by(principal: Principal): string {
  return principal.actor.email || principal.actor.name;
}

function checkColor(color: string | undefined): void {
  if (color !== undefined && !COLOR.test(color))
    throw invalidArgument('color', 'color must be a hex colour like #1E88E5');
}

function taken(error: unknown, title: string): unknown {
  if (error instanceof UniqueViolation)
    return conflict('TAG_TITLE_TAKEN', `a tag titled "${title}" already exists`, 'title');
  return error;
}
