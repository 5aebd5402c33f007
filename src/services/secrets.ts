import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { conflict, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import type { Database } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import {
  deleteSecret,
  insertSecret,
  secretById,
  secretByName,
  secretsPage,
  updateSecret,
  type SecretRow,
} from '../store/secrets.js';
import type { AuditService } from './audit.js';
import { rowAad, type Keyring } from './keyring.js';
import { pageByName } from './name-paging.js';

/** A secret's metadata. The value is write-only: no API ever returns it. */
export interface SecretView {
  id: string;
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
}

function toView(row: SecretRow): SecretView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function nameTaken(error: unknown, name: string | undefined): unknown {
  if (error instanceof UniqueViolation)
    return conflict('SECRET_NAME_TAKEN', `a secret named "${name}" already exists`, 'name');
  return error;
}

export interface SecretServiceDeps {
  db: Database;
  keyring: Keyring;
  audit: AuditService;
  pageTokens: PageTokenCodec;
}

export class SecretService {
  constructor(private readonly deps: SecretServiceDeps) {}

  async create(
    principal: Principal,
    input: { name: string; value: string; description?: string | undefined },
  ): Promise<SecretView> {
    authorize(principal, 'secrets.manage');
    const id = newId();
    const sealed = this.deps.keyring.encrypt(input.value, rowAad('secrets', id));
    return this.deps.db.transaction(async (tx) => {
      const row = await insertSecret(tx, {
        id,
        workspace_id: principal.workspaceId,
        name: input.name,
        description: input.description ?? '',
        value_encrypted: sealed.data,
        key_version: sealed.version,
      }).catch((e: unknown) => {
        throw nameTaken(e, input.name);
      });
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.secretCreated,
        resourceId: id,
        resourceName: input.name,
      });
      return toView(row);
    });
  }

  async list(
    principal: Principal,
    query: { page_size?: number | undefined; page_token?: string | undefined },
  ): Promise<{ secrets: SecretView[]; next_page_token?: string }> {
    authorize(principal, 'secrets.read');
    const { rows, ...rest } = await pageByName(
      this.deps.pageTokens,
      `secrets:${principal.workspaceId}`,
      query,
      (after, limit) => secretsPage(this.deps.db, principal.workspaceId, after, limit),
    );
    return { secrets: rows.map(toView), ...rest };
  }

  async get(principal: Principal, id: string): Promise<SecretView> {
    authorize(principal, 'secrets.read');
    const row = await secretById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('SECRET_NOT_FOUND', 'secret', id);
    return toView(row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: { name?: string | undefined; value?: string | undefined; description?: string | undefined },
  ): Promise<SecretView> {
    authorize(principal, 'secrets.manage');
    return this.deps.db.transaction(async (tx) => {
      const before = await secretById(tx, principal.workspaceId, id, true);
      if (!before) throw notFound('SECRET_NOT_FOUND', 'secret', id);
      const row = await updateSecret(tx, principal.workspaceId, id, {
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...(patch.value !== undefined && {
          value: this.deps.keyring.encrypt(patch.value, rowAad('secrets', id)),
        }),
      }).catch((e: unknown) => {
        throw nameTaken(e, patch.name);
      });
      const changed = Object.keys(patch).filter((k) => patch[k as keyof typeof patch] !== undefined);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.secretUpdated,
        resourceId: id,
        resourceName: row.name,
        extraData: { changed_fields: changed },
      });
      return toView(row);
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'secrets.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await secretById(tx, principal.workspaceId, id, true);
      if (!row) throw notFound('SECRET_NOT_FOUND', 'secret', id);
      await deleteSecret(tx, principal.workspaceId, id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.secretDeleted,
        resourceId: id,
        resourceName: row.name,
      });
    });
  }

  /** The plaintext, for the engine only (steps that use `$secrets`); never exposed by the API. */
  async reveal(workspaceId: string, name: string): Promise<string | undefined> {
    const row = await secretByName(this.deps.db, workspaceId, name);
    return row
      ? this.deps.keyring.decrypt(row.value_encrypted, row.key_version, rowAad('secrets', row.id))
      : undefined;
  }
}
