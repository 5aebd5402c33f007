import { SYSTEM_ACTOR, type Principal } from '../domain/actor.js';
import { workspacesOfUser } from '../store/workspaces.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import { OspreyError, conflict, forbidden, invalidArgument, notFound } from '../domain/errors.js';
import { newId, randomToken } from '../domain/ids.js';
import { hashPassword, verifyPassword } from '../domain/password.js';
import { ROLE_IDS, roleRank, type RoleName } from '../domain/roles.js';
import type { Database } from '../store/database.js';
import {
  acceptMembership,
  deleteMembership,
  insertMembership,
  insertUser,
  lockOwners,
  member,
  membershipByInvitation,
  members,
  setPassword,
  userByEmail,
  updateRole as updateMemberRole,
  type MemberRow,
} from '../store/users.js';
import { hashToken } from './api-keys.js';
import { revokeGrantsOf } from '../store/tags.js';
import type { AuditService } from './audit.js';
import type { RequestMeta } from './auth.js';

/** A user as the Torq surface shows it, plus the native fields (name, role). */
export interface UserView {
  id: string;
  email: string;
  name: string;
  role: RoleName;
  role_id: string;
  status: 'INVITATION_SENT' | 'VERIFIED';
  sso_provision: boolean;
  created_time: string;
  last_login_time: string | null;
}

export interface Invitation {
  user: UserView;
  /** Single-use; the invitee sends it to POST /v1/auth/accept-invitation with a password. */
  invitation_token: string;
  invitation_expires_at: string;
}

const INVITATION_TTL_MS = 7 * 86_400_000;
export const MIN_PASSWORD_LENGTH = 12;

function toView(row: MemberRow): UserView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role as RoleName,
    role_id: ROLE_IDS[row.role as RoleName],
    status: row.status,
    sso_provision: false,
    created_time: row.created_at.toISOString(),
    last_login_time: row.last_login_at ? row.last_login_at.toISOString() : null,
  };
}

export interface UserServiceDeps {
  db: Database;
  audit: AuditService;
  now: () => number;
}

export class UserService {
  constructor(private readonly deps: UserServiceDeps) {}

  async list(principal: Principal): Promise<UserView[]> {
    authorize(principal, 'users.read');
    return (await members(this.deps.db, principal.workspaceId)).map(toView);
  }

  async get(principal: Principal, id: string): Promise<UserView> {
    authorize(principal, 'users.read');
    const row = await member(this.deps.db, principal.workspaceId, id);
    if (!row) throw notFound('USER_NOT_FOUND', 'user', id);
    return toView(row);
  }

  async invite(
    principal: Principal,
    input: { email: string; role: RoleName; name?: string | undefined },
  ): Promise<Invitation> {
    authorize(principal, 'users.manage');
    if (roleRank(input.role) > roleRank(principal.role))
      throw forbidden(`a ${principal.role} cannot grant the ${input.role} role`);
    const token = randomToken(32);
    const expiresAt = new Date(this.deps.now() + INVITATION_TTL_MS);
    return this.deps.db.transaction(async (tx) => {
      const user = await insertUser(tx, newId(), input.email.toLowerCase(), input.name ?? '');
      const added = await insertMembership(tx, {
        workspaceId: principal.workspaceId,
        userId: user.id,
        role: input.role,
        status: 'INVITATION_SENT',
        invitationHash: hashToken(token),
        expiresAt,
        now: new Date(this.deps.now()),
      });
      if (!added)
        throw conflict(
          'USER_ALREADY_MEMBER',
          `${input.email} is already a member of this workspace`,
          'email',
        );
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.userInvited,
        resourceId: user.id,
        resourceName: user.email,
        extraData: { role: input.role },
      });
      const row = (await member(tx, principal.workspaceId, user.id))!;
      return { user: toView(row), invitation_token: token, invitation_expires_at: expiresAt.toISOString() };
    });
  }

  /**
   * Accepts an invitation. A new user sets a password here; an existing user proves it is them with
   * their current password (so an invitation can never reset someone's password).
   */
  async acceptInvitation(
    input: { token: string; password: string; name?: string | undefined },
    meta: RequestMeta,
  ): Promise<UserView> {
    return this.deps.db.transaction(async (tx) => {
      const row = await membershipByInvitation(tx, hashToken(input.token));
      if (!row || !row.invitation_expires_at || row.invitation_expires_at.getTime() < this.deps.now()) {
        throw new OspreyError('INVITATION_NOT_FOUND', 404, 'the invitation is unknown, used or expired');
      }
      if (row.password_hash) {
        if (!(await verifyPassword(input.password, row.password_hash))) {
          throw new OspreyError(
            'INVALID_CREDENTIALS',
            401,
            'this account already has a password; give that password to accept',
          );
        }
      } else {
        if (input.password.length < MIN_PASSWORD_LENGTH) {
          throw invalidArgument('password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
        }
        await setPassword(tx, row.id, await hashPassword(input.password), input.name);
      }
      await acceptMembership(tx, row.workspace_id, row.id);
      await this.deps.audit.record(
        tx,
        {
          workspaceId: row.workspace_id,
          workspaceName: row.workspace_name,
          actor: {
            type: 'web_app',
            email: row.email,
            name: input.name ?? (row.name || row.email),
            userId: row.id,
            ...meta,
          },
        },
        {
          action: AUDIT_ACTIONS.userAcceptedInvitation,
          resourceId: row.id,
          resourceName: row.email,
          extraData: { role: row.role },
        },
      );
      return toView((await member(tx, row.workspace_id, row.id))!);
    });
  }

  /**
   * Local administration (the CLI): sets a user's console password, e.g. for the first owner, who
   * has none. Recorded in each workspace the user belongs to.
   */
  async setPasswordAsSystem(email: string, password: string): Promise<void> {
    if (password.length < MIN_PASSWORD_LENGTH) {
      throw invalidArgument('password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    const hash = await hashPassword(password);
    await this.deps.db.transaction(async (tx) => {
      const user = await userByEmail(tx, email.toLowerCase());
      if (!user) throw notFound('USER_NOT_FOUND', 'user', email);
      await setPassword(tx, user.id, hash, undefined);
      for (const ws of await workspacesOfUser(tx, user.id)) {
        await this.deps.audit.record(
          tx,
          { workspaceId: ws.id, workspaceName: ws.name, actor: { ...SYSTEM_ACTOR, name: 'osprey CLI' } },
          { action: AUDIT_ACTIONS.userPasswordSet, resourceId: user.id, resourceName: user.email },
        );
      }
    });
  }

  async updateRole(principal: Principal, userId: string, role: RoleName): Promise<UserView> {
    authorize(principal, 'users.manage');
    if (roleRank(role) > roleRank(principal.role))
      throw forbidden(`a ${principal.role} cannot grant the ${role} role`);
    return this.deps.db.transaction(async (tx) => {
      const owners = await lockOwners(tx, principal.workspaceId);
      const row = await member(tx, principal.workspaceId, userId);
      if (!row) throw notFound('USER_NOT_FOUND', 'user', userId);
      if (row.role === 'owner' && role !== 'owner' && row.status === 'VERIFIED' && owners <= 1) {
        throw new OspreyError(
          'LAST_OWNER',
          409,
          'a workspace needs at least one owner; make someone else owner first',
          {
            details: [{ field: 'role', message: 'would remove the last owner' }],
          },
        );
      }
      await updateMemberRole(tx, principal.workspaceId, userId, role);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.userRoleUpdated,
        resourceId: userId,
        resourceName: row.email,
        extraData: { role, previous_role: row.role },
      });
      return toView((await member(tx, principal.workspaceId, userId))!);
    });
  }

  async remove(principal: Principal, userId: string): Promise<void> {
    authorize(principal, 'users.manage');
    await this.deps.db.transaction(async (tx) => {
      const owners = await lockOwners(tx, principal.workspaceId);
      const row = await member(tx, principal.workspaceId, userId);
      if (!row) throw notFound('USER_NOT_FOUND', 'user', userId);
      if (row.role === 'owner' && row.status === 'VERIFIED' && owners <= 1) {
        throw new OspreyError(
          'LAST_OWNER',
          409,
          'a workspace needs at least one owner; make someone else owner first',
        );
      }
      await deleteMembership(tx, principal.workspaceId, userId);
      // A grant ends with the membership: someone invited again starts without run rights.
      await revokeGrantsOf(tx, principal.workspaceId, userId);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.userDeleted,
        resourceId: userId,
        resourceName: row.email,
        extraData: { role: row.role },
      });
    });
  }
}
