import { SYSTEM_ACTOR, type Actor, type Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { OspreyError, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Database, Sql } from '../store/database.js';
import { UniqueViolation } from '../store/pg-errors.js';
import { insertMembership, insertUser } from '../store/users.js';
import {
  setWorkspaceAllowedNetworks,
  workspaceAllowedNetworks,
  countWorkspaces,
  insertWorkspace,
  ownerEmails,
  workspaceById,
  workspaceByName,
  workspacesOfUser,
  type WorkspaceRow,
} from '../store/workspaces.js';
import type { ApiKeyService } from './api-keys.js';
import { checkCidrs } from './integrations.js';
import type { AuditService } from './audit.js';

/** The workspace object of `POST /v1alpha/workspaces` (usage counters are 0 until those resources exist). */
export interface WorkspaceView {
  id: string;
  name: string;
  created_at: string;
  owners_emails: string[];
  workflows_usage: number;
  nested_usage: number;
  editors_usage: number;
  cases_operators_usage: number;
  runners_usage: number;
}

export interface CreatedWorkspace {
  workspace: WorkspaceView;
  api_key: { client_id: string; client_secret: string };
}

export interface WorkspaceServiceDeps {
  db: Database;
  audit: AuditService;
  apiKeys: ApiKeyService;
}

export class WorkspaceService {
  constructor(private readonly deps: WorkspaceServiceDeps) {}

  async #view(sql: Sql, row: WorkspaceRow): Promise<WorkspaceView> {
    const owners = await ownerEmails(sql, row.id);
    return {
      id: row.id,
      name: row.name,
      created_at: row.created_at.toISOString(),
      owners_emails: owners.map((o) => o.email),
      workflows_usage: 0,
      nested_usage: 0,
      editors_usage: 0,
      cases_operators_usage: 0,
      runners_usage: 0,
    };
  }

  /**
   * Creates a workspace with an owner service key (returned once). The actor's user, if any,
   * becomes its owner; `ownerEmail` makes that user (bootstrap and the CLI).
   */
  async createInTx(
    tx: Sql,
    actor: Actor,
    name: string,
    ownerEmail?: string,
    fixedKey?: { clientId: string; clientSecret: string },
  ): Promise<CreatedWorkspace> {
    const id = newId();
    let row: WorkspaceRow;
    try {
      row = await insertWorkspace(tx, id, name);
    } catch (error) {
      if (error instanceof UniqueViolation) {
        throw new OspreyError('WORKSPACE_NAME_TAKEN', 409, `a workspace named "${name}" already exists`, {
          details: [{ field: 'name', message: 'already taken' }],
        });
      }
      throw error;
    }
    let ownerId = actor.userId;
    if (ownerEmail) ownerId = (await insertUser(tx, newId(), ownerEmail.toLowerCase(), '')).id;
    if (ownerId) {
      await insertMembership(tx, {
        workspaceId: id,
        userId: ownerId,
        role: 'owner',
        status: 'VERIFIED',
        invitationHash: null,
        expiresAt: null,
      });
    }
    const scope = { workspaceId: id, workspaceName: name, actor };
    await this.deps.audit.record(tx, scope, {
      action: AUDIT_ACTIONS.workspaceCreated,
      resourceId: id,
      resourceName: name,
    });
    // A key made by the system on someone's behalf records that owner as its creator.
    const keyScope =
      ownerEmail && !actor.email ? { ...scope, actor: { ...actor, email: ownerEmail.toLowerCase() } } : scope;
    const created = await this.deps.apiKeys.createInTx(
      tx,
      keyScope,
      {
        name: 'Workspace owner key',
        type: 'service',
        role: 'owner',
        ...(fixedKey ? { fixed: fixedKey } : {}),
      },
      null,
    );
    return {
      workspace: await this.#view(tx, row),
      api_key: { client_id: created.key.client_id, client_secret: created.client_secret },
    };
  }

  async create(principal: Principal, input: { name: string }): Promise<CreatedWorkspace> {
    authorize(principal, 'workspace.create');
    return this.deps.db.transaction(async (tx) => {
      const created = await this.createInTx(
        tx,
        principal.actor,
        input.name,
        principal.actor.userId ? undefined : principal.actor.email || undefined,
      );
      // The workspace the request came from records that it created another.
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.workspaceCreated,
        resourceId: created.workspace.id,
        resourceName: created.workspace.name,
      });
      return created;
    });
  }

  /** Local administration (the CLI): creates a workspace as the system actor. */
  async createAsSystem(name: string, ownerEmail: string): Promise<CreatedWorkspace> {
    return this.deps.db.transaction((tx) =>
      this.createInTx(tx, { ...SYSTEM_ACTOR, name: 'osprey CLI' }, name, ownerEmail),
    );
  }

  /** The caller's own workspace; a console user sees every workspace they belong to. */
  async list(principal: Principal): Promise<WorkspaceView[]> {
    authorize(principal, 'workspace.read');
    const db = this.deps.db;
    if (principal.actor.userId && principal.actor.type === 'web_app') {
      const rows = await workspacesOfUser(db, principal.actor.userId);
      return Promise.all(rows.map((r) => this.#view(db, r)));
    }
    return [await this.get(principal, principal.workspaceId)];
  }

  async get(principal: Principal, id: string): Promise<WorkspaceView> {
    authorize(principal, 'workspace.read');
    const row = id === principal.workspaceId ? await workspaceById(this.deps.db, id) : undefined;
    if (!row) throw notFound('WORKSPACE_NOT_FOUND', 'workspace', id);
    return this.#view(this.deps.db, row);
  }

  /** The networks the workspace's steps may reach despite the SSRF rules. */
  async networkPolicy(principal: Principal, id: string): Promise<{ allowed_networks: string[] }> {
    authorize(principal, 'workspace.read');
    if (id !== principal.workspaceId) throw notFound('WORKSPACE_NOT_FOUND', 'workspace', id);
    return { allowed_networks: await workspaceAllowedNetworks(this.deps.db, id) };
  }

  async setNetworkPolicy(
    principal: Principal,
    id: string,
    allowed: string[],
  ): Promise<{ allowed_networks: string[] }> {
    authorize(principal, 'workspace.manage');
    if (id !== principal.workspaceId) throw notFound('WORKSPACE_NOT_FOUND', 'workspace', id);
    checkCidrs('allowed_networks', allowed);
    const networks = [...new Set(allowed)];
    await this.deps.db.transaction(async (tx) => {
      await setWorkspaceAllowedNetworks(tx, id, networks);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.workspaceNetworkPolicyUpdated,
        resourceId: id,
        resourceName: principal.workspaceName,
        extraData: { allowed_networks: networks },
      });
    });
    return { allowed_networks: networks };
  }

  byName(name: string): Promise<WorkspaceRow | undefined> {
    return workspaceByName(this.deps.db, name);
  }

  byId(id: string): Promise<WorkspaceRow | undefined> {
    return workspaceById(this.deps.db, id);
  }

  count(): Promise<number> {
    return countWorkspaces(this.deps.db);
  }
}
