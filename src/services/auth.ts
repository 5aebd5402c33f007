import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { OspreyError, unauthenticated } from '../domain/errors.js';
import { newId, randomToken } from '../domain/ids.js';
import { verifyPassword } from '../domain/password.js';
import { isRoleName, roleRank, type RoleName } from '../domain/roles.js';
import type { Database } from '../store/database.js';
import {
  deleteSession,
  insertAccessToken,
  insertSession,
  moveSession,
  principalForSession,
  principalForClientId,
  principalForToken,
  type SessionPrincipalRow,
  type TokenPrincipalRow,
} from '../store/tokens.js';
import { touchApiKey } from '../store/api-keys.js';
import { touchLogin, userByEmail } from '../store/users.js';
import { workspacesOfUser } from '../store/workspaces.js';
import { hashToken, type ApiKeyService } from './api-keys.js';
import type { AuditService } from './audit.js';
import { rowAad, type Keyring } from './keyring.js';

/** What the transport knows about a request, recorded with every audit entry. */
export interface RequestMeta {
  ip: string;
  userAgent: string;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: 'Bearer';
}

export interface AuthServiceDeps {
  db: Database;
  apiKeys: ApiKeyService;
  audit: AuditService;
  now: () => number;
  tokenTtlSeconds: number;
  sessionTtlHours: number;
  /** How long a verified token is trusted without asking the database again. */
  cacheMs?: number;
  /** Opens API key secrets, to check signed (Orchestrate-style) requests. */
  keyring: Keyring;
}

/** How far a signed request's Expires may be in the past (clock skew) and in the future. */
export const SIGNED_REQUEST_SKEW_SECONDS = 30;
export const SIGNED_REQUEST_MAX_TTL_SECONDS = 300;

interface Cached<T> {
  value: T | undefined;
  until: number;
}

/** A small time-bounded cache: disabling a key takes effect within `ttl` ms. */
class TtlCache<T> {
  readonly #map = new Map<string, Cached<T>>();
  constructor(
    private readonly ttl: number,
    private readonly max = 10_000,
  ) {}
  get(key: string, now: number): Cached<T> | undefined {
    const hit = this.#map.get(key);
    if (hit && hit.until > now) return hit;
    if (hit) this.#map.delete(key);
    return undefined;
  }
  set(key: string, value: T | undefined, now: number): void {
    if (this.#map.size >= this.max) this.#map.clear();
    this.#map.set(key, { value, until: now + this.ttl });
  }
  clear(): void {
    this.#map.clear();
  }
}

function tokenPrincipal(row: TokenPrincipalRow, meta: RequestMeta): Principal {
  return {
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    role: effectiveKeyRole(row),
    actor: {
      type: 'api_key',
      email: row.user_email ?? row.created_by_email,
      name: row.key_name,
      ip: meta.ip,
      userAgent: meta.userAgent,
      apiKeyId: row.api_key_id,
      ...(row.user_id ? { userId: row.user_id } : {}),
    },
  };
}

/** A private key acts with the lower of its own role and its user's current role. */
function effectiveKeyRole(row: TokenPrincipalRow): RoleName {
  const keyRole = row.role as RoleName;
  if (!row.user_id) return keyRole;
  if (!row.user_role || !isRoleName(row.user_role)) return 'viewer';
  return roleRank(row.user_role) < roleRank(keyRole) ? row.user_role : keyRole;
}

function sessionPrincipal(row: SessionPrincipalRow, meta: RequestMeta): Principal {
  return {
    workspaceId: row.workspace_id,
    workspaceName: row.workspace_name,
    role: row.role as RoleName,
    sessionId: row.session_id,
    actor: {
      type: 'web_app',
      email: row.email,
      name: row.name || row.email,
      ip: meta.ip,
      userAgent: meta.userAgent,
      userId: row.user_id,
    },
  };
}

/** Bearer tokens for API keys, and console sessions for users. */
export class AuthService {
  readonly #tokens: TtlCache<TokenPrincipalRow>;
  readonly #sessions: TtlCache<SessionPrincipalRow>;

  constructor(private readonly deps: AuthServiceDeps) {
    this.#tokens = new TtlCache(deps.cacheMs ?? 2000);
    this.#sessions = new TtlCache(deps.cacheMs ?? 2000);
  }

  /** OAuth2 client credentials: exchanges a key pair for a one-hour opaque bearer token. */
  async issueToken(clientId: string, clientSecret: string): Promise<TokenResponse> {
    const key = await this.deps.apiKeys.verifyCredentials(clientId, clientSecret);
    if (!key)
      throw new OspreyError(
        'INVALID_CLIENT',
        401,
        'the client id or client secret is wrong, or the key is disabled or expired',
        { headers: { 'www-authenticate': 'Basic realm="osprey"' } },
      );
    const token = randomToken(32);
    const expiresAt = new Date(this.deps.now() + this.deps.tokenTtlSeconds * 1000);
    await insertAccessToken(this.deps.db, hashToken(token), key.id, expiresAt);
    await touchApiKey(this.deps.db, key.id);
    return { access_token: token, expires_in: this.deps.tokenTtlSeconds, token_type: 'Bearer' };
  }

  async authenticateBearer(token: string, meta: RequestMeta): Promise<Principal> {
    const hash = hashToken(token);
    const cacheKey = hash.toString('base64');
    const now = this.deps.now();
    let hit = this.#tokens.get(cacheKey, now);
    if (!hit) {
      const row = await principalForToken(this.deps.db, hash);
      this.#tokens.set(cacheKey, row, now);
      hit = { value: row, until: 0 };
    }
    if (!hit.value) throw unauthenticated();
    return tokenPrincipal(hit.value, meta);
  }

  /**
   * A signed request (Cyware Orchestrate's Open API scheme): AccessID is the key's client id,
   * Signature = Base64(HMAC-SHA1(client secret, AccessID + "\n" + Expires)), and Expires (epoch
   * seconds) must not have passed by more than the skew nor lie more than five minutes ahead.
   */
  async authenticateSigned(
    accessId: string,
    expires: string,
    signature: string,
    meta: RequestMeta,
  ): Promise<Principal> {
    const when = Number(expires);
    const now = this.deps.now() / 1000;
    if (!/^\d{1,12}$/.test(expires)) throw unauthenticated('Expires must be a Unix time in seconds');
    if (when < now - SIGNED_REQUEST_SKEW_SECONDS)
      throw unauthenticated('the signature has expired; sign the request again');
    if (when > now + SIGNED_REQUEST_MAX_TTL_SECONDS)
      throw unauthenticated(`Expires may be at most ${SIGNED_REQUEST_MAX_TTL_SECONDS} s ahead`);
    const row = await principalForClientId(this.deps.db, accessId);
    if (!row) throw unauthenticated('the signature is not valid for this AccessID');
    const secret = await this.deps.keyring.decrypt(
      row.secret_encrypted,
      row.secret_key_version,
      rowAad('api_keys', row.api_key_id),
    );
    const expected = createHmac('sha1', secret).update(`${accessId}\n${expires}`).digest();
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw unauthenticated('the signature is not valid for this AccessID');
    return tokenPrincipal(row, meta);
  }

  async authenticateSession(cookie: string, meta: RequestMeta): Promise<Principal> {
    const hash = hashToken(cookie);
    const cacheKey = hash.toString('base64');
    const now = this.deps.now();
    let hit = this.#sessions.get(cacheKey, now);
    if (!hit) {
      const row = await principalForSession(this.deps.db, hash);
      this.#sessions.set(cacheKey, row, now);
      hit = { value: row, until: 0 };
    }
    if (!hit.value) throw unauthenticated('your session has ended; sign in again');
    return sessionPrincipal(hit.value, meta);
  }

  /** Email and password sign-in; answers a session cookie value. */
  async login(
    input: { email: string; password: string; workspace_id?: string | undefined },
    meta: RequestMeta,
  ): Promise<{ session: string; expires_at: string; principal: Principal }> {
    const user = await userByEmail(this.deps.db, input.email.toLowerCase());
    const ok = await verifyPassword(input.password, user?.password_hash ?? null);
    const workspaces = user ? await workspacesOfUser(this.deps.db, user.id) : [];
    const target = input.workspace_id ? workspaces.find((w) => w.id === input.workspace_id) : workspaces[0];
    if (!user || !ok || !target) {
      const failedIn = target ?? workspaces[0];
      if (user && failedIn) {
        await this.deps.db.transaction((tx) =>
          this.deps.audit.record(
            tx,
            {
              workspaceId: failedIn.id,
              workspaceName: failedIn.name,
              actor: {
                type: 'web_app',
                email: user.email,
                name: user.name || user.email,
                ...metaFields(meta),
              },
            },
            { action: AUDIT_ACTIONS.userLoginFailed, resourceId: user.id, resourceName: user.email },
          ),
        );
      }
      throw new OspreyError('INVALID_CREDENTIALS', 401, 'the email or password is wrong');
    }
    const session = randomToken(32);
    const expiresAt = new Date(this.deps.now() + this.deps.sessionTtlHours * 3_600_000);
    const principal: Principal = {
      workspaceId: target.id,
      workspaceName: target.name,
      role: target.role as RoleName,
      actor: {
        type: 'web_app',
        email: user.email,
        name: user.name || user.email,
        userId: user.id,
        ...metaFields(meta),
      },
    };
    const sessionId = newId();
    await this.deps.db.transaction(async (tx) => {
      await insertSession(tx, {
        id: sessionId,
        hash: hashToken(session),
        userId: user.id,
        workspaceId: target.id,
        expiresAt,
      });
      await touchLogin(tx, user.id);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.userLoggedIn,
        resourceId: user.id,
        resourceName: user.email,
        extraData: { role: target.role },
      });
    });
    return { session, expires_at: expiresAt.toISOString(), principal: { ...principal, sessionId } };
  }

  async logout(principal: Principal): Promise<void> {
    if (!principal.sessionId || !principal.actor.userId) {
      throw new OspreyError(
        'INVALID_ARGUMENT',
        400,
        'only a console session can log out; API tokens simply expire',
      );
    }
    const sessionId = principal.sessionId;
    const userId = principal.actor.userId;
    await this.deps.db.transaction(async (tx) => {
      await deleteSession(tx, sessionId);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.userLoggedOut,
        resourceId: userId,
        resourceName: principal.actor.email,
      });
    });
    this.#sessions.clear();
  }

  /** Moves the session to another workspace the user belongs to. */
  async switchWorkspace(principal: Principal, workspaceId: string): Promise<void> {
    const userId = principal.actor.userId;
    if (!principal.sessionId || !userId) {
      throw new OspreyError('INVALID_ARGUMENT', 400, 'only a console session can switch workspaces');
    }
    const sessionId = principal.sessionId;
    const target = (await workspacesOfUser(this.deps.db, userId)).find((w) => w.id === workspaceId);
    if (!target) throw new OspreyError('WORKSPACE_NOT_FOUND', 404, `workspace ${workspaceId} was not found`);
    await this.deps.db.transaction(async (tx) => {
      await moveSession(tx, sessionId, workspaceId);
      await this.deps.audit.record(
        tx,
        { workspaceId: target.id, workspaceName: target.name, actor: principal.actor },
        {
          action: AUDIT_ACTIONS.userSwitchedAccounts,
          resourceId: userId,
          resourceName: principal.actor.email,
          extraData: { role: target.role, from_account_id: principal.workspaceId },
        },
      );
    });
    this.#sessions.clear();
  }
}

function metaFields(meta: RequestMeta): { ip: string; userAgent: string } {
  return { ip: meta.ip, userAgent: meta.userAgent };
}
