// A stand-in for the Okta Management API (https://developer.okta.com/docs/api/): "Authorization: SSWS
// <token>" (401 E0000011 "Invalid token provided" otherwise), users found by id, login or login
// shortname ("me" is the token's owner), the lifecycle operations with Okta's status rules (suspend only
// an ACTIVE user, unsuspend only a SUSPENDED one), sessions and OAuth tokens per user, and groups with
// their members. Every answer carries Okta's X-Rate-Limit-* headers and X-Okta-Request-Id; a 429 carries
// X-Rate-Limit-Reset (UTC epoch seconds) and no Retry-After, as Okta's do. Errors are Okta's
// {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}.
import { randomBytes } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const OKTA_API_TOKEN = '00Qx7sVb2LkQm7RzP4wN8sYd1HjE6tUa5KoXnC3gW0';
export const OKTA_ADMIN_LOGIN = 'soc-automation@acme.example';

/** The X-Rate-Limit-* headers Okta sends with every answer. */
function rateHeaders(remaining: number, resetInSeconds = 60): Record<string, string> {
  return {
    'x-rate-limit-limit': '600',
    'x-rate-limit-remaining': String(remaining),
    'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    'x-okta-request-id': `reqX${randomBytes(9).toString('base64url')}`,
  };
}

/** An Okta error answer. */
export function oktaError(
  status: number,
  errorCode: string,
  errorSummary: string,
  causes: string[] = [],
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    json: {
      errorCode,
      errorSummary,
      errorLink: errorCode,
      errorId: `oae${randomBytes(16).toString('base64url')}`,
      errorCauses: causes.map((c) => ({ errorSummary: c })),
    },
    headers: { 'content-type': 'application/json', ...rateHeaders(599), ...headers },
  };
}

/** An Okta 5xx: with the X-Rate-Limit-* headers Okta sends on every answer, and no Retry-After. */
export function oktaServerError(status = 500, resetInSeconds = 45): Answer {
  return status === 503
    ? oktaError(503, 'E0000010', 'Service is in read only mode', [], rateHeaders(599, resetInSeconds))
    : oktaError(status, 'E0000009', 'Internal Server Error', [], rateHeaders(599, resetInSeconds));
}

/** Okta's 429: E0000047, X-Rate-Limit-Remaining 0 and X-Rate-Limit-Reset; no Retry-After. */
export function oktaRateLimited(resetInSeconds = 1): Answer {
  return oktaError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.', [], {
    ...rateHeaders(0, resetInSeconds),
  });
}

export type OktaStatus =
  | 'STAGED'
  | 'PROVISIONED'
  | 'ACTIVE'
  | 'RECOVERY'
  | 'PASSWORD_EXPIRED'
  | 'LOCKED_OUT'
  | 'SUSPENDED'
  | 'DEPROVISIONED';

export interface OktaUser {
  id: string;
  status: OktaStatus;
  login: string;
  firstName: string;
  lastName: string;
  statusChanged: string | null;
  /** Open sessions and OAuth tokens issued to the user. */
  sessions: number;
  oauthTokens: number;
}

export interface OktaGroup {
  id: string;
  type: 'OKTA_GROUP' | 'APP_GROUP' | 'BUILT_IN';
  name: string;
  description: string | null;
  members: Set<string>;
}

export interface OktaStandIn extends StandIn {
  users: Map<string, OktaUser>;
  groups: Map<string, OktaGroup>;
  /** Adds a user (as if created in the Admin Console), a member of Everyone. */
  seedUser(login: string, status?: OktaStatus, sessions?: number): OktaUser;
  /** A group by name. */
  group(name: string): OktaGroup;
  /** The next request with this method gets `answer` (failNext() answers the very next request). */
  failNextOn(method: string, answer: Answer): void;
}

const TIMESTAMP = '2024-11-12T10:00:00.000Z';

/** Starts an Okta stand-in; its `url` is the org URL. */
export async function oktaStandIn(token = OKTA_API_TOKEN): Promise<OktaStandIn> {
  const users = new Map<string, OktaUser>();
  const groups = new Map<string, OktaGroup>();
  let nextUser = 1;
  let nextGroup = 1;
  let remaining = 600;
  const failures: { method: string; answer: Answer }[] = [];
  let base = '';

  const id = (prefix: string, n: number): string =>
    `${prefix}${String(n).padStart(4, '0')}b0oNGTSWTBKOLG`.slice(0, 20);

  function addGroup(name: string, type: OktaGroup['type'], description: string | null): OktaGroup {
    const group: OktaGroup = { id: id('00g', nextGroup++), type, name, description, members: new Set() };
    groups.set(group.id, group);
    return group;
  }
  const everyone = addGroup('Everyone', 'BUILT_IN', 'All users in your organization');

  function seedUser(login: string, status: OktaStatus = 'ACTIVE', sessions = 0): OktaUser {
    const [first = 'X', last = 'User'] = login.split('@')[0]!.split(/[.-]/);
    const user: OktaUser = {
      id: id('00u', nextUser++),
      status,
      login,
      firstName: first.charAt(0).toUpperCase() + first.slice(1),
      lastName: last.charAt(0).toUpperCase() + last.slice(1),
      statusChanged: status === 'ACTIVE' ? null : TIMESTAMP,
      sessions,
      oauthTokens: sessions,
    };
    users.set(user.id, user);
    everyone.members.add(user.id);
    return user;
  }
  const admin = seedUser(OKTA_ADMIN_LOGIN);

  const ok = (json: unknown, status = 200): Answer => ({
    status,
    json,
    headers: { 'content-type': 'application/json', ...rateHeaders(remaining) },
  });
  const noContent = (): Answer => ({ status: 204, text: '', headers: rateHeaders(remaining) });
  const userNotFound = (ref: string): Answer =>
    oktaError(404, 'E0000007', `Not found: Resource not found: ${ref} (User)`);
  const groupNotFound = (ref: string): Answer =>
    oktaError(404, 'E0000007', `Not found: Resource not found: ${ref} (UserGroup)`);

  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      const failure = failures.findIndex((f) => f.method === req.method);
      if (failure >= 0) return failures.splice(failure, 1)[0]!.answer;
      if (req.headers.authorization !== `SSWS ${token}`)
        return oktaError(401, 'E0000011', 'Invalid token provided');
      remaining = Math.max(0, remaining - 1);
      return route(req);
    };

  /** The user a path segment names: id, login, login shortname, or "me". */
  function find(ref: string): OktaUser | undefined {
    if (ref === 'me') return admin;
    const lower = ref.toLowerCase();
    return (
      users.get(ref) ??
      [...users.values()].find((u) => u.login.toLowerCase() === lower) ??
      [...users.values()].find((u) => u.login.toLowerCase().split('@')[0] === lower)
    );
  }
  /** The lifecycle, session and membership operations take the user's id only. */
  const byId = (ref: string): OktaUser | undefined => users.get(ref);
  const segment = (req: RecordedRequest, i: number): string =>
    decodeURIComponent(req.path.split('/')[i] ?? '');

  function userView(u: OktaUser): Record<string, unknown> {
    const active = !['STAGED', 'PROVISIONED'].includes(u.status);
    return {
      id: u.id,
      status: u.status,
      created: '2023-02-01T08:30:00.000Z',
      activated: active ? '2023-02-01T08:31:00.000Z' : null,
      statusChanged: u.statusChanged,
      lastLogin: active ? '2024-11-12T07:58:12.000Z' : null,
      lastUpdated: u.statusChanged ?? '2024-10-01T09:00:00.000Z',
      passwordChanged: active ? '2024-09-30T16:20:00.000Z' : null,
      type: { id: 'oty1a2b3c4d5e6f7g8h9' },
      profile: {
        firstName: u.firstName,
        lastName: u.lastName,
        mobilePhone: null,
        secondEmail: null,
        login: u.login,
        email: u.login,
      },
      credentials: {
        password: {},
        emails: [{ value: u.login, status: 'VERIFIED', type: 'PRIMARY' }],
        provider: { type: 'OKTA', name: 'OKTA' },
      },
      _links: { self: { href: `${base}/api/v1/users/${u.id}` } },
    };
  }

  function groupView(g: OktaGroup): Record<string, unknown> {
    return {
      id: g.id,
      created: '2023-01-15T12:00:00.000Z',
      lastUpdated: '2023-01-15T12:00:00.000Z',
      lastMembershipUpdated: TIMESTAMP,
      objectClass: [g.type === 'APP_GROUP' ? 'okta:windows_security_principal' : 'okta:user_group'],
      type: g.type,
      profile: { name: g.name, description: g.description },
      _links: {
        logo: [
          {
            name: 'medium',
            href: 'https://ok12static.oktacdn.com/assets/img/logos/groups/okta-medium.png',
            type: 'image/png',
          },
        ],
        users: { href: `${base}/api/v1/groups/${g.id}/users` },
        apps: { href: `${base}/api/v1/groups/${g.id}/apps` },
      },
    };
  }

  /** A lifecycle operation: allowed from `from`, leads to `to`. */
  function lifecycle(op: string, from: (s: OktaStatus) => boolean, to: OktaStatus, cause: string): Route {
    return authenticated((req) => {
      const user = byId(segment(req, 4));
      if (!user) return userNotFound(segment(req, 4));
      if (!from(user.status)) return oktaError(400, 'E0000001', `Api validation failed: ${op}`, [cause]);
      user.status = to;
      user.statusChanged = new Date().toISOString();
      if (to !== 'ACTIVE') user.sessions = 0;
      return ok({});
    });
  }

  function membership(change: (g: OktaGroup, u: OktaUser) => void): Route {
    return authenticated((req) => {
      const group = groups.get(segment(req, 4));
      if (!group) return groupNotFound(segment(req, 4));
      const user = byId(segment(req, 6));
      if (!user) return userNotFound(segment(req, 6));
      if (group.type !== 'OKTA_GROUP')
        return oktaError(400, 'E0000001', 'Api validation failed: group', [
          `Group memberships of ${group.type} groups cannot be changed.`,
        ]);
      change(group, user);
      return noContent();
    });
  }

  const server = (await standIn({
    'GET /api/v1/users/:id': authenticated((req) => {
      const ref = segment(req, 4);
      const user = find(ref);
      return user ? ok(userView(user)) : userNotFound(ref);
    }),
    'POST /api/v1/users/:id/lifecycle/suspend': lifecycle(
      'suspendUser',
      (s) => s === 'ACTIVE',
      'SUSPENDED',
      'Cannot suspend a user that is not active.',
    ),
    'POST /api/v1/users/:id/lifecycle/unsuspend': lifecycle(
      'unsuspendUser',
      (s) => s === 'SUSPENDED',
      'ACTIVE',
      'Cannot unsuspend a user that is not suspended.',
    ),
    'POST /api/v1/users/:id/lifecycle/deactivate': lifecycle(
      'deactivateUser',
      (s) => s !== 'DEPROVISIONED',
      'DEPROVISIONED',
      'The user is already deactivated.',
    ),
    'DELETE /api/v1/users/:id/sessions': authenticated((req) => {
      const user = byId(segment(req, 4));
      if (!user) return userNotFound(segment(req, 4));
      user.sessions = 0;
      if (req.query.get('oauthTokens') === 'true') user.oauthTokens = 0;
      return noContent();
    }),
    'GET /api/v1/users/:id/groups': authenticated((req) => {
      const user = byId(segment(req, 4));
      if (!user) return userNotFound(segment(req, 4));
      return ok([...groups.values()].filter((g) => g.members.has(user.id)).map(groupView));
    }),
    'PUT /api/v1/groups/:gid/users/:uid': membership((g, u) => g.members.add(u.id)),
    'DELETE /api/v1/groups/:gid/users/:uid': membership((g, u) => g.members.delete(u.id)),
  })) as OktaStandIn;
  base = server.url;
  server.users = users;
  server.groups = groups;
  server.seedUser = seedUser;
  server.failNextOn = (method, answer) => void failures.push({ method, answer });
  server.group = (name) => [...groups.values()].find((g) => g.name === name)!;
  addGroup('Engineering', 'OKTA_GROUP', 'Engineering staff');
  addGroup('Quarantine', 'OKTA_GROUP', 'Restricted sign-on: accounts under investigation');
  addGroup('Domain Users', 'APP_GROUP', 'Imported from Active Directory (acme.local)');
  return server;
}
