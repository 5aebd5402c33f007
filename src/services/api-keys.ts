import { createHash, timingSafeEqual } from 'node:crypto';
import { SYSTEM_ACTOR, type Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { OspreyError, forbidden, invalidArgument, notFound } from '../domain/errors.js';
import { newId, randomToken } from '../domain/ids.js';
import { ROLE_IDS, roleRank, type RoleName } from '../domain/roles.js';
import {
  apiKeyByClientId,
  apiKeyById,
  apiKeysOfWorkspace,
  deleteApiKey,
  insertApiKey,
  updateApiKey,
  type ApiKeyWithUser,
} from '../store/api-keys.js';
import type { Database, Sql } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import { revokeGrantsOf } from '../store/tags.js';
import type { AuditScope, AuditService } from './audit.js';
import { rowAad, type Keyring } from './keyring.js';

export const API_KEY_TYPES = ['private', 'service'] as const;
export type ApiKeyType = (typeof API_KEY_TYPES)[number];

export interface ApiKeyView {
  id: string;
  client_id: string;
  name: string;
  type: ApiKeyType;
  role: RoleName;
  role_id: string;
  enabled: boolean;
  expires_at: string | null;
  created_at: string;
  created_by: string;
  last_authenticated_at: string | null;
  user: { id: string; email: string; name: string } | null;
}

export interface NewApiKey {
  key: ApiKeyView;
  client_secret: string;
}

export interface CreateApiKeyInput {
  name: string;
  type: ApiKeyType;
  role: RoleName;
  expires_at?: string | null | undefined;
  /** Automation only: a fixed client id and secret (OSPREY_BOOTSTRAP_API_KEY). */
  fixed?: { clientId: string; clientSecret: string };
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}

export function toApiKeyView(row: ApiKeyWithUser): ApiKeyView {
  return {
    id: row.id,
    client_id: row.client_id,
    name: row.name,
    type: row.type,
    role: row.role as RoleName,
    role_id: ROLE_IDS[row.role as RoleName],
    enabled: row.enabled,
    expires_at: iso(row.expires_at),
    created_at: row.created_at.toISOString(),
    created_by: row.created_by_email,
    last_authenticated_at: iso(row.last_authenticated_at),
    user: row.user_id ? { id: row.user_id, email: row.user_email ?? '', name: row.user_name ?? '' } : null,
  };
}

function parseExpiry(value: string | null | undefined, now: number): Date | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  const at = Date.parse(value);
  if (Number.isNaN(at)) throw invalidArgument('expires_at', 'expires_at must be an RFC 3339 timestamp');
  if (at <= now) throw invalidArgument('expires_at', 'expires_at must be in the future');
  return new Date(at);
}

export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

export interface ApiKeyServiceDeps {
  db: Database;
  keyring: Keyring;
  audit: AuditService;
  now: () => number;
}

/** API keys: a client id and a secret (shown once, stored encrypted), a role, an expiry, an enabled flag. */
export class ApiKeyService {
  constructor(private readonly deps: ApiKeyServiceDeps) {}

  /** Creates a key inside the caller's transaction; used by the API, the CLI and bootstrap. */
  async createInTx(
    tx: Sql,
    scope: AuditScope,
    input: CreateApiKeyInput,
    userId: string | null,
  ): Promise<NewApiKey> {
    const id = newId();
    const clientId = input.fixed?.clientId ?? newId();
    const secret = input.fixed?.clientSecret ?? randomToken(32);
    const sealed = this.deps.keyring.encrypt(secret, rowAad('api_keys', id));
    const expires = parseExpiry(input.expires_at, this.deps.now()) ?? null;
    try {
      await insertApiKey(tx, {
        id,
        workspace_id: scope.workspaceId,
        client_id: clientId,
        secret_encrypted: sealed.data,
        secret_key_version: sealed.version,
        name: input.name,
        type: input.type,
        role: input.role,
        user_id: userId,
        created_by_email: scope.actor.email,
        enabled: true,
        expires_at: expires,
      });
    } catch (error) {
      if (error instanceof UniqueViolation && error.constraint === 'api_keys_workspace_name_key') {
        throw new OspreyError('API_KEY_NAME_TAKEN', 409, `an API key named "${input.name}" already exists`, {
          details: [{ field: 'name', message: 'already taken' }],
        });
      }
      if (error instanceof UniqueViolation)
        throw invalidArgument('client_id', 'this client id is already in use');
      throw error;
    }
    await this.deps.audit.record(tx, scope, {
      action: AUDIT_ACTIONS.apiKeyEnabled,
      resourceId: id,
      resourceName: input.name,
      extraData: { role: input.role, type: input.type, event: 'created' },
    });
    const row = await apiKeyById(tx, scope.workspaceId, id);
    return { key: toApiKeyView(row!), client_secret: secret };
  }

  async create(principal: Principal, input: CreateApiKeyInput): Promise<NewApiKey> {
    authorize(principal, 'api_keys.manage');
    if (roleRank(input.role) > roleRank(principal.role)) {
      throw forbidden(`a ${principal.role} cannot create a key with the ${input.role} role`);
    }
    const userId = input.type === 'private' ? (principal.actor.userId ?? null) : null;
    if (input.type === 'private' && !userId) {
      throw invalidArgument(
        'type',
        'a private key belongs to a user: create it while signed in, or create a service key',
      );
    }
    return this.deps.db.transaction((tx) => this.createInTx(tx, principal, input, userId));
  }

  /** Local administration (the CLI): creates a key as the system actor, no principal needed. */
  async createAsSystem(
    workspace: { id: string; name: string },
    input: CreateApiKeyInput,
  ): Promise<NewApiKey> {
    const scope = {
      workspaceId: workspace.id,
      workspaceName: workspace.name,
      actor: { ...SYSTEM_ACTOR, name: 'osprey CLI' },
    };
    return this.deps.db.transaction((tx) => this.createInTx(tx, scope, input, null));
  }

  async list(principal: Principal): Promise<ApiKeyView[]> {
    authorize(principal, 'api_keys.read');
    return (await apiKeysOfWorkspace(this.deps.db, principal.workspaceId)).map(toApiKeyView);
  }

  async get(principal: Principal, id: string): Promise<ApiKeyView> {
    authorize(principal, 'api_keys.read');
    const row = await apiKeyById(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('API_KEY_NOT_FOUND', 'API key', id);
    return toApiKeyView(row);
  }

  async update(
    principal: Principal,
    id: string,
    patch: {
      name?: string | undefined;
      enabled?: boolean | undefined;
      expires_at?: string | null | undefined;
    },
  ): Promise<ApiKeyView> {
    authorize(principal, 'api_keys.manage');
    const expires = parseExpiry(patch.expires_at, this.deps.now());
    return this.deps.db.transaction(async (tx) => {
      const before = await apiKeyById(tx, principal.workspaceId, id);
      if (!before) throw notFound('API_KEY_NOT_FOUND', 'API key', id);
      try {
        await updateApiKey(tx, principal.workspaceId, id, {
          ...(patch.name !== undefined && { name: patch.name }),
          ...(patch.enabled !== undefined && { enabled: patch.enabled }),
          ...(expires !== undefined && { expires_at: expires }),
        });
      } catch (error) {
        if (error instanceof UniqueViolation) {
          throw new OspreyError(
            'API_KEY_NAME_TAKEN',
            409,
            `an API key named "${patch.name}" already exists`,
            {
              details: [{ field: 'name', message: 'already taken' }],
            },
          );
        }
        throw error;
      }
      const after = (await apiKeyById(tx, principal.workspaceId, id))!;
      const action =
        before.enabled !== after.enabled
          ? after.enabled
            ? AUDIT_ACTIONS.apiKeyEnabled
            : AUDIT_ACTIONS.apiKeyDisabled
          : AUDIT_ACTIONS.apiKeyUpdated;
      await this.deps.audit.record(tx, principal, {
        action,
        resourceId: id,
        resourceName: after.name,
        extraData: { role: after.role, type: after.type },
      });
      return toApiKeyView(after);
    });
  }

  async delete(principal: Principal, id: string): Promise<void> {
    authorize(principal, 'api_keys.manage');
    await this.deps.db.transaction(async (tx) => {
      const row = await apiKeyById(tx, principal.workspaceId, id);
      if (!row) throw notFound('API_KEY_NOT_FOUND', 'API key', id);
      await deleteApiKey(tx, principal.workspaceId, id);
      await revokeGrantsOf(tx, principal.workspaceId, id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.apiKeyDeleted,
        resourceId: id,
        resourceName: row.name,
        extraData: { role: row.role, type: row.type },
      });
    });
  }

  /** Checks a client id and secret; returns the key row when they match a usable key. */
  async verifyCredentials(clientId: string, clientSecret: string): Promise<{ id: string } | undefined> {
    const row = await apiKeyByClientId(this.deps.db, clientId);
    if (!row || !row.enabled || (row.expires_at && row.expires_at.getTime() <= this.deps.now()))
      return undefined;
    const stored = Buffer.from(
      await this.deps.keyring.decrypt(
        row.secret_encrypted,
        row.secret_key_version,
        rowAad('api_keys', row.id),
      ),
    );
    const given = Buffer.from(clientSecret);
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    return { id: row.id };
  }
}
