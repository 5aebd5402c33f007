// A stand-in for Microsoft Entra ID through Microsoft Graph v1.0 (https://learn.microsoft.com/graph/):
// the identity platform's token endpoint /{tenant}/oauth2/v2.0/token (client credentials in the form
// body, the .default scope; AADSTS errors as {"error", "error_description", "error_codes"}), and
// Graph's users (by object ID or user principal name, $select, PATCH accountEnabled → 204,
// revokeSignInSessions) and groups (members, members/$ref to add and remove). Graph errors are
// {"error": {"code", "message", "innerError"}}; a missing, unknown or revoked token answers 401
// InvalidAuthenticationToken. Tokens can be revoked to act out their expiry. Graph is served under
// /v1.0, the token endpoint at the root: graph_url is `${url}/v1.0`, login_url is `url`.
import { randomBytes, randomUUID } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const ENTRA_TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const ENTRA_TENANT_DOMAIN = 'contoso.onmicrosoft.com';
export const ENTRA_CLIENT_ID = '3f9a2c1e-7b4d-4e8a-9c6f-1d2e3f4a5b6c';
export const ENTRA_CLIENT_SECRET = 'Xq48Q~c7Vt2yLm9Pz.Rk3Wn6Hb1Js5Dg8Fa0EuTo';
export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

const GRAPH_CONTENT_TYPE =
  'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

/** Graph's error answer. */
export function graphError(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    json: {
      error: {
        code,
        message,
        innerError: {
          date: '2024-11-12T10:00:00',
          'request-id': randomUUID(),
          'client-request-id': randomUUID(),
        },
      },
    },
    headers: { 'content-type': GRAPH_CONTENT_TYPE, ...headers },
  };
}

/** The 429 Graph answers when the application is throttled. */
export function graphThrottled(retryAfterSeconds = 1): Answer {
  return graphError(429, 'TooManyRequests', 'Too many requests. Please retry after some time.', {
    'retry-after': String(retryAfterSeconds),
  });
}

/** The identity platform's error answer (AADSTS codes). */
function aadError(status: number, error: string, code: number, description: string): Answer {
  const trace = randomUUID();
  const correlation = randomUUID();
  return {
    status,
    json: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${trace} Correlation ID: ${correlation} Timestamp: 2024-11-12 10:00:00Z`,
      error_codes: [code],
      timestamp: '2024-11-12 10:00:00Z',
      trace_id: trace,
      correlation_id: correlation,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

export interface EntraUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  mail: string | null;
  accountEnabled: boolean;
  userType: 'Member' | 'Guest';
  jobTitle: string | null;
  department: string | null;
  officeLocation: string | null;
  mobilePhone: string | null;
  businessPhones: string[];
  preferredLanguage: string | null;
  createdDateTime: string;
  lastPasswordChangeDateTime: string | null;
  signInSessionsValidFromDateTime: string | null;
  onPremisesSyncEnabled: boolean | null;
  /** An administrator the application's permissions do not cover (changing it answers 403). */
  privileged?: boolean;
}

export interface EntraGroup {
  id: string;
  displayName: string;
  /** Object IDs of the members (users, or the device below). */
  members: string[];
}

export interface EntraStandIn extends StandIn {
  users: Map<string, EntraUser>;
  groups: Map<string, EntraGroup>;
  /** The requests to the token endpoint. */
  tokenRequests: RecordedRequest[];
  /** Every access token issued, valid or revoked. */
  issuedTokens: string[];
  /** Invalidates every token issued so far (as if they had expired). */
  revokeTokens(): void;
  /** The next `times` Graph requests (not token requests) answer `answer`. */
  failNextApi(answer: Answer, times?: number): void;
  /** Graph's base URL (graph_url). */
  graphUrl: string;
}

const USER_DEFAULTS = {
  givenName: null,
  surname: null,
  jobTitle: null,
  department: null,
  officeLocation: null,
  mobilePhone: null,
  businessPhones: [],
  preferredLanguage: 'en-US',
  lastPasswordChangeDateTime: '2024-06-01T08:00:00Z',
  signInSessionsValidFromDateTime: '2024-06-01T08:00:00Z',
  onPremisesSyncEnabled: null,
};

export const USERS: EntraUser[] = [
  {
    ...USER_DEFAULTS,
    id: '8a6b1c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d',
    userPrincipalName: 'alice.nguyen@contoso.com',
    displayName: 'Alice Nguyen',
    givenName: 'Alice',
    surname: 'Nguyen',
    mail: 'alice.nguyen@contoso.com',
    accountEnabled: true,
    userType: 'Member',
    jobTitle: 'Financial Analyst',
    department: 'Finance',
    officeLocation: 'Berlin 4.12',
    mobilePhone: '+49 151 2345678',
    businessPhones: ['+49 30 1234567'],
    createdDateTime: '2021-02-15T09:30:00Z',
  },
  {
    ...USER_DEFAULTS,
    id: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9',
    userPrincipalName: 'bob.martin@contoso.com',
    displayName: 'Bob Martin',
    givenName: 'Bob',
    surname: 'Martin',
    mail: 'bob.martin@contoso.com',
    accountEnabled: true,
    userType: 'Member',
    department: 'IT',
    createdDateTime: '2019-11-04T12:00:00Z',
    onPremisesSyncEnabled: true,
  },
  {
    ...USER_DEFAULTS,
    id: 'e5d4c3b2-a190-4f8e-8d7c-6b5a49382716',
    userPrincipalName: 'partner_fabrikam.com#EXT#@contoso.onmicrosoft.com',
    displayName: 'Pat Partner (Fabrikam)',
    mail: 'partner@fabrikam.com',
    accountEnabled: true,
    userType: 'Guest',
    createdDateTime: '2023-05-20T15:45:00Z',
    lastPasswordChangeDateTime: null,
  },
  {
    ...USER_DEFAULTS,
    id: '0a0b0c0d-1e1f-4a2b-8c3d-4e5f6a7b8c9d',
    userPrincipalName: 'admin@contoso.onmicrosoft.com',
    displayName: 'Tenant Administrator',
    mail: null,
    accountEnabled: true,
    userType: 'Member',
    createdDateTime: '2018-01-01T00:00:00Z',
    privileged: true,
  },
];

export const QUARANTINE_GROUP = '5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f';
export const FINANCE_GROUP = 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e';
const DEVICE = {
  '@odata.type': '#microsoft.graph.device',
  id: 'd3e4f5a6-b7c8-4d9e-8f0a-1b2c3d4e5f6a',
  displayName: 'WS-FIN-0042',
  accountEnabled: true,
  deviceId: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d',
  operatingSystem: 'Windows',
};

/** The properties Graph returns for a user without $select. */
const DEFAULT_USER_PROPERTIES = [
  'businessPhones',
  'displayName',
  'givenName',
  'jobTitle',
  'mail',
  'mobilePhone',
  'officeLocation',
  'preferredLanguage',
  'surname',
  'userPrincipalName',
  'id',
];
const USER_PROPERTIES = new Set([
  ...DEFAULT_USER_PROPERTIES,
  'accountEnabled',
  'userType',
  'department',
  'createdDateTime',
  'lastPasswordChangeDateTime',
  'signInSessionsValidFromDateTime',
  'onPremisesSyncEnabled',
]);

/** Starts an Entra ID stand-in; `url` is the login URL, `graphUrl` Graph's. */
export async function entraStandIn(
  clientId = ENTRA_CLIENT_ID,
  clientSecret = ENTRA_CLIENT_SECRET,
): Promise<EntraStandIn> {
  const users = new Map(USERS.map((u) => [u.id, structuredClone(u)]));
  const groups = new Map<string, EntraGroup>([
    [QUARANTINE_GROUP, { id: QUARANTINE_GROUP, displayName: 'SOC Quarantine', members: [] }],
    [
      FINANCE_GROUP,
      { id: FINANCE_GROUP, displayName: 'Finance', members: [USERS[0]!.id, DEVICE.id, USERS[1]!.id] },
    ],
  ]);
  const valid = new Set<string>();
  const issuedTokens: string[] = [];
  const tokenRequests: RecordedRequest[] = [];
  const apiOverrides: Answer[] = [];
  let graph = '';

  const ok = (json: unknown, status = 200): Answer => ({
    status,
    json,
    headers: { 'content-type': GRAPH_CONTENT_TYPE },
  });
  const noContent = (): Answer => ({ status: 204, text: '' });
  const missing = (ref: string): Answer =>
    graphError(
      404,
      'Request_ResourceNotFound',
      `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`,
    );
  const denied = (): Answer =>
    graphError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');

  const authenticated =
    (route: Route): Route =>
    async (req: RecordedRequest) => {
      const override = apiOverrides.shift();
      if (override) return override;
      const challenge = {
        'www-authenticate':
          'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
      };
      const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
      if (!m) return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty.', challenge);
      if (!valid.has(m[1]!))
        return graphError(
          401,
          'InvalidAuthenticationToken',
          'Lifetime validation failed, the token is expired.',
          challenge,
        );
      return route(req);
    };

  /** A path segment as Graph reads it (percent-decoded). */
  const segment = (req: RecordedRequest, i: number): string =>
    decodeURIComponent(req.path.split('/')[i] ?? '');
  const findUser = (ref: string): EntraUser | undefined =>
    users.get(ref.toLowerCase()) ??
    [...users.values()].find((u) => u.userPrincipalName.toLowerCase() === ref.toLowerCase());

  /** Applies $select to an object; answers an error for a property the type does not have. */
  function select(
    object: Record<string, unknown>,
    req: RecordedRequest,
    known: Set<string>,
    type: string,
    fallback: string[],
  ): Record<string, unknown> | Answer {
    const wanted = req.query.get('$select')?.split(',') ?? fallback;
    for (const p of wanted)
      if (!known.has(p))
        return graphError(
          400,
          'BadRequest',
          `Could not find a property named '${p}' on type 'microsoft.graph.${type}'.`,
        );
    return Object.fromEntries(wanted.filter((p) => p in object).map((p) => [p, object[p]]));
  }
  const isAnswer = (v: unknown): v is Answer =>
    typeof v === 'object' && v !== null && 'status' in v && typeof (v as Answer).status === 'number';

  function userObject(u: EntraUser): Record<string, unknown> {
    return Object.fromEntries(Object.entries(u).filter(([k]) => k !== 'privileged'));
  }

  const server = (await standIn({
    'POST /:tenant/oauth2/v2.0/token': (req) => {
      tokenRequests.push(req);
      const tenant = segment(req, 1);
      if (tenant !== ENTRA_TENANT_ID && tenant !== ENTRA_TENANT_DOMAIN)
        return aadError(
          400,
          'invalid_request',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      const form = new URLSearchParams(req.body);
      if (form.get('grant_type') !== 'client_credentials')
        return aadError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      if (form.get('scope') !== GRAPH_SCOPE)
        return aadError(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${form.get('scope') ?? ''} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
        );
      if (form.get('client_id') !== clientId)
        return aadError(
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${form.get('client_id') ?? ''}' was not found in the directory 'Contoso'.`,
        );
      if (form.get('client_secret') !== clientSecret)
        return aadError(
          401,
          'invalid_client',
          7000215,
          `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
        );
      const token = `eyJ0eXAiOiJKV1QiLCJub25jZSI6I${randomBytes(60).toString('base64url')}`;
      valid.add(token);
      issuedTokens.push(token);
      return { json: { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token } };
    },
    'GET /v1.0/users': authenticated((req) => {
      const top = Number(req.query.get('$top') ?? '100');
      const list: Record<string, unknown>[] = [];
      for (const u of [...users.values()].slice(0, top)) {
        const view = select(userObject(u), req, USER_PROPERTIES, 'user', DEFAULT_USER_PROPERTIES);
        if (isAnswer(view)) return view;
        list.push(view);
      }
      return ok({ '@odata.context': `${graph}/$metadata#users`, value: list });
    }),
    'GET /v1.0/users/:id': authenticated((req) => {
      const ref = segment(req, 3);
      const user = findUser(ref);
      if (!user) return missing(ref);
      const view = select(userObject(user), req, USER_PROPERTIES, 'user', DEFAULT_USER_PROPERTIES);
      if (isAnswer(view)) return view;
      return ok({ '@odata.context': `${graph}/$metadata#users/$entity`, ...view });
    }),
    'PATCH /v1.0/users/:id': authenticated((req) => {
      const ref = segment(req, 3);
      const user = findUser(ref);
      if (!user) return missing(ref);
      const body = req.json as Record<string, unknown> | undefined;
      if (!body || typeof body !== 'object')
        return graphError(400, 'BadRequest', 'Empty Payload. JSON content expected.');
      for (const [k, v] of Object.entries(body)) {
        if (k !== 'accountEnabled')
          return graphError(400, 'Request_BadRequest', `Property '${k}' is read-only and cannot be set.`);
        if (typeof v !== 'boolean')
          return graphError(
            400,
            'Request_BadRequest',
            "Invalid value specified for property 'accountEnabled' of resource 'User'.",
          );
      }
      if (user.privileged) return denied();
      user.accountEnabled = body.accountEnabled as boolean;
      return noContent();
    }),
    'POST /v1.0/users/:id/revokeSignInSessions': authenticated((req) => {
      const ref = segment(req, 3);
      const user = findUser(ref);
      if (!user) return missing(ref);
      if (user.privileged) return denied();
      user.signInSessionsValidFromDateTime = '2024-11-12T10:15:00Z';
      return ok({ '@odata.context': `${graph}/$metadata#Edm.Boolean`, value: true });
    }),
    'GET /v1.0/groups/:id/members': authenticated((req) => membersOf(req, false)),
    'GET /v1.0/groups/:id/members/:cast': authenticated((req) => {
      if (segment(req, 5) !== 'microsoft.graph.user')
        return graphError(400, 'BadRequest', `Resource not found for the segment '${segment(req, 5)}'.`);
      return membersOf(req, true);
    }),
    'POST /v1.0/groups/:id/members/:ref': authenticated((req) => {
      if (segment(req, 5) !== '$ref')
        return graphError(400, 'BadRequest', `Resource not found for the segment '${segment(req, 5)}'.`);
      const group = groups.get(segment(req, 3).toLowerCase());
      if (!group) return missing(segment(req, 3));
      const ref = (req.json as Record<string, unknown> | undefined)?.['@odata.id'];
      const prefix = `${graph}/directoryObjects/`;
      if (typeof ref !== 'string' || !ref.startsWith(prefix))
        return graphError(400, 'Request_BadRequest', "Invalid object identifier '" + String(ref) + "'.");
      const id = ref.slice(prefix.length);
      if (!users.has(id)) return missing(id);
      if (group.members.includes(id))
        return graphError(
          400,
          'Request_BadRequest',
          "One or more added object references already exist for the following modified properties: 'members'.",
        );
      group.members.push(id);
      return noContent();
    }),
    'DELETE /v1.0/groups/:id/members/:member/:ref': authenticated((req) => {
      if (segment(req, 6) !== '$ref')
        return graphError(400, 'BadRequest', `Resource not found for the segment '${segment(req, 6)}'.`);
      const group = groups.get(segment(req, 3).toLowerCase());
      if (!group) return missing(segment(req, 3));
      const id = segment(req, 5);
      if (!group.members.includes(id)) return missing(id);
      group.members = group.members.filter((m) => m !== id);
      return noContent();
    }),
  })) as EntraStandIn;

  function membersOf(req: RecordedRequest, usersOnly: boolean): Answer {
    const group = groups.get(segment(req, 3).toLowerCase());
    if (!group) return missing(segment(req, 3));
    const top = Number(req.query.get('$top') ?? '100');
    const list: Record<string, unknown>[] = [];
    for (const id of group.members) {
      const user = users.get(id);
      if (!user && usersOnly) continue;
      const object = user ? { '@odata.type': '#microsoft.graph.user', ...userObject(user) } : DEVICE;
      const known = new Set([...USER_PROPERTIES, ...Object.keys(DEVICE)]);
      const view = select(object, req, known, 'directoryObject', ['id', 'displayName']);
      if (isAnswer(view)) return view;
      list.push({ '@odata.type': object['@odata.type'], ...view });
    }
    return ok({
      '@odata.context': `${graph}/$metadata#directoryObjects`,
      value: list.slice(0, top),
      ...(list.length > top && {
        '@odata.nextLink': `${graph}/groups/${group.id}/members?$top=${top}&$skiptoken=RFNwdAIAAQAAAA`,
      }),
    });
  }

  graph = `${server.url}/v1.0`;
  server.graphUrl = graph;
  server.users = users;
  server.groups = groups;
  server.tokenRequests = tokenRequests;
  server.issuedTokens = issuedTokens;
  server.revokeTokens = () => valid.clear();
  server.failNextApi = (answer, times = 1) => {
    for (let i = 0; i < times; i++) apiOverrides.push(answer);
  };
  return server;
}
