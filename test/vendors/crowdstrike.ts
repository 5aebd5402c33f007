// A stand-in for the CrowdStrike Falcon API (https://falcon.crowdstrike.com/documentation/page/a2a7fc0e):
// OAuth2 client credentials at /oauth2/token (the client ID and secret in the form body; 201 with a
// bearer token; 403 for wrong credentials), the Hosts API (FQL queries, device details, contain and
// lift containment) and the Alerts API v2/v3 (queries, details by composite ID, updates). Every answer
// has Falcon's envelope {meta, resources, errors}; a missing, unknown or revoked bearer token answers
// 401 "access denied, invalid bearer token". Tokens can be revoked to act out their expiry.
import { randomBytes, randomUUID } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const FALCON_CLIENT_ID = '6f3c1e0d9b8a47c5a2e4d7f1b3c5a9e8';
export const FALCON_CLIENT_SECRET = 'Qz7Lk2Vn9Rw4Tx8Yb3Hm6Jp1Fs5Dg0CaEuWiOo2';
export const FALCON_CID = '1a2b3c4d5e6f708192a3b4c5d6e7f809';

/** Falcon's envelope around an answer. */
function envelope(
  resources: unknown[],
  errors: { code: number; message: string; id?: string }[] = [],
  meta: Record<string, unknown> = {},
  poweredBy = 'device-api',
): Record<string, unknown> {
  return {
    meta: { query_time: 0.004812, powered_by: poweredBy, trace_id: randomUUID(), ...meta },
    resources,
    errors,
  };
}

/** Falcon's error answer. */
export function falconError(status: number, message: string, headers?: Record<string, string>): Answer {
  return {
    status,
    json: {
      meta: { query_time: 0.000128, powered_by: 'crowdstrike-api-gateway', trace_id: randomUUID() },
      errors: [{ code: status, message }],
    },
    headers,
  };
}

/** The 429 Falcon answers when the client's rate limit is used up. */
export function falconRateLimited(retryAfterSeconds = 1): Answer {
  return falconError(429, 'API rate limit exceeded.', {
    'x-ratelimit-limit': '6000',
    'x-ratelimit-remaining': '0',
    'x-ratelimit-retryafter': String(Math.ceil(Date.now() / 1000) + retryAfterSeconds),
    'retry-after': String(retryAfterSeconds),
  });
}

export interface FalconHost {
  device_id: string;
  cid: string;
  hostname: string;
  local_ip: string;
  external_ip: string;
  mac_address: string;
  platform_name: string;
  os_version: string;
  agent_version: string;
  status: string;
  first_seen: string;
  last_seen: string;
  tags: string[];
  machine_domain: string;
  [field: string]: unknown;
}

export interface FalconAlert {
  composite_id: string;
  status: string;
  severity: number;
  tags: string[];
  assigned_to_name?: string;
  /** The comments appended (kept by the stand-in; Falcon shows them in the alert's history). */
  comments: string[];
  [field: string]: unknown;
}

export interface FalconStandIn extends StandIn {
  hosts: Map<string, FalconHost>;
  alerts: Map<string, FalconAlert>;
  /** The requests to /oauth2/token. */
  tokenRequests: RecordedRequest[];
  /** Every access token issued, valid or revoked. */
  issuedTokens: string[];
  /** Invalidates every token issued so far (as if they had expired). */
  revokeTokens(): void;
  /** While on, every bearer token is refused, even a new one. */
  refuseTokens(on: boolean): void;
  /** The next `times` API requests (not token requests) answer `answer`. */
  failNextApi(answer: Answer, times?: number): void;
}

export const HOSTS: FalconHost[] = [
  {
    device_id: '4e1f3b2a9c8d47e6b5a4f3e2d1c0b9a8',
    cid: FALCON_CID,
    hostname: 'WS-FIN-0042',
    local_ip: '10.20.30.42',
    external_ip: '198.51.100.23',
    mac_address: '00-15-5d-3a-7c-42',
    platform_name: 'Windows',
    os_version: 'Windows 11',
    os_product_name: 'Windows 11 Enterprise',
    agent_version: '7.18.18406.0',
    product_type_desc: 'Workstation',
    system_manufacturer: 'Dell Inc.',
    serial_number: '7XK2QH3',
    status: 'normal',
    first_seen: '2024-03-04T09:12:44Z',
    last_seen: '2024-11-12T09:58:02Z',
    tags: ['FalconGroupingTags/Finance'],
    machine_domain: 'corp.acme.example',
    policies: [{ policy_type: 'prevention', policy_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', applied: true }],
  },
  {
    device_id: '9d8c7b6a5f4e43d2c1b0a9f8e7d6c5b4',
    cid: FALCON_CID,
    hostname: 'srv-web-01',
    local_ip: '10.10.1.15',
    external_ip: '203.0.113.80',
    mac_address: '0a-58-a9-fe-01-0f',
    platform_name: 'Linux',
    os_version: 'Ubuntu 22.04',
    os_product_name: 'Ubuntu',
    agent_version: '7.17.17206.0',
    product_type_desc: 'Server',
    system_manufacturer: 'Amazon EC2',
    serial_number: 'ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8',
    status: 'normal',
    first_seen: '2023-09-18T14:03:10Z',
    last_seen: '2024-11-12T09:59:41Z',
    tags: ['FalconGroupingTags/DMZ'],
    machine_domain: '',
    policies: [{ policy_type: 'prevention', policy_id: 'b2c3d4e5f60718293a4b5c6d7e8f90a1', applied: true }],
  },
  {
    device_id: 'c0ffee00c0ffee00c0ffee00c0ffee00',
    cid: FALCON_CID,
    hostname: 'MBP-JDOE',
    local_ip: '192.168.1.34',
    external_ip: '198.51.100.77',
    mac_address: 'a4-83-e7-12-34-56',
    platform_name: 'Mac',
    os_version: 'Sonoma (14)',
    os_product_name: 'macOS',
    agent_version: '7.18.18302.0',
    product_type_desc: 'Workstation',
    system_manufacturer: 'Apple Inc.',
    serial_number: 'C02FK1ABMD6M',
    status: 'contained',
    first_seen: '2024-01-22T08:40:00Z',
    last_seen: '2024-11-12T08:15:30Z',
    tags: [],
    machine_domain: '',
    policies: [],
  },
];

function alertFor(
  host: FalconHost,
  n: number,
  fields: { severity: number; status: string; name: string; tactic: string; technique: string },
): FalconAlert {
  const detect = `${String(n).padStart(12, '0')}-${10_000 + n}`;
  const composite = `${FALCON_CID}:ind:${host.device_id}:${detect}`;
  const names: Record<number, string> = { 30: 'Low', 50: 'Medium', 70: 'High', 90: 'Critical' };
  return {
    composite_id: composite,
    id: `ind:${host.device_id}:${detect}`,
    aggregate_id: `aggind:${host.device_id}:${1_000_000 + n}`,
    cid: FALCON_CID,
    agent_id: host.device_id,
    product: 'epp',
    type: 'ldt',
    platform: host.platform_name,
    status: fields.status,
    severity: fields.severity,
    severity_name: names[fields.severity] ?? 'Informational',
    confidence: 80,
    name: fields.name,
    display_name: fields.name.replace(/([a-z])([A-Z])/g, '$1 $2'),
    description: `A process on ${host.hostname} behaved like ${fields.technique}.`,
    tactic: fields.tactic,
    technique: fields.technique,
    device: {
      device_id: host.device_id,
      hostname: host.hostname,
      local_ip: host.local_ip,
      external_ip: host.external_ip,
      platform_name: host.platform_name,
      os_version: host.os_version,
      machine_domain: host.machine_domain,
    },
    filename: 'rundll32.exe',
    filepath: '\\Device\\HarddiskVolume3\\Windows\\System32\\rundll32.exe',
    cmdline: 'rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 624 C:\\temp\\l.dmp full',
    user_name: 'jdoe',
    tags: [],
    comments: [],
    show_in_ui: true,
    created_timestamp: `2024-11-12T0${n}:00:00.000Z`,
    updated_timestamp: `2024-11-12T0${n}:00:00.000Z`,
    timestamp: `2024-11-12T0${n}:00:00.000Z`,
    falcon_host_link: `https://falcon.crowdstrike.com/activity-v2/detections/${FALCON_CID}:ind:${host.device_id}:${detect}`,
  };
}

function alertView(alert: FalconAlert): Record<string, unknown> {
  return structuredClone(Object.fromEntries(Object.entries(alert).filter(([k]) => k !== 'comments')));
}

/** Reads a dotted field of an object (device.hostname). */
function field(o: Record<string, unknown>, name: string): unknown {
  let v: unknown = o;
  for (const part of name.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
  return v;
}

/**
 * A small Falcon Query Language: terms joined by "+" (and), each field:'value' (case-insensitive,
 * a list field matches when it holds the value), field:!'value', or field:>=number (> < <= too).
 * Answers a predicate, or the error message Falcon gives for a filter it cannot parse.
 */
function fql(filter: string | null): ((o: Record<string, unknown>) => boolean) | string {
  if (filter === null) return () => true;
  const tests: ((o: Record<string, unknown>) => boolean)[] = [];
  for (const term of filter.split('+')) {
    const text = /^([a-z_.]+):(!?)'([^']*)'$/.exec(term.trim());
    if (text) {
      const [, name, not, value] = text as unknown as [string, string, string, string];
      tests.push((o) => {
        const v = field(o, name);
        const hit = Array.isArray(v)
          ? v.some((x) => String(x).toLowerCase() === value.toLowerCase())
          : (typeof v === 'string' || typeof v === 'number' ? String(v) : '').toLowerCase() ===
            value.toLowerCase();
        return not ? !hit : hit;
      });
      continue;
    }
    const number = /^([a-z_.]+):(>=|<=|>|<)?(-?\d+(?:\.\d+)?)$/.exec(term.trim());
    if (number) {
      const [, name, op, value] = number as unknown as [string, string, string | undefined, string];
      const n = Number(value);
      tests.push((o) => {
        const v = Number(field(o, name));
        return op === '>='
          ? v >= n
          : op === '<='
            ? v <= n
            : op === '>'
              ? v > n
              : op === '<'
                ? v < n
                : v === n;
      });
      continue;
    }
    return `Invalid filter: unable to parse "${term}"`;
  }
  return (o) => tests.every((t) => t(o));
}

/** Sorts by "field.asc", "field.desc", "field|asc" or "field|desc". */
function sorted<T extends Record<string, unknown>>(items: T[], sort: string | null): T[] {
  if (!sort) return items;
  const m = /^([a-z_.]+?)(?:[.|](asc|desc))?$/.exec(sort);
  if (!m) return items;
  const [, name, dir] = m as unknown as [string, string, string | undefined];
  const sign = dir === 'desc' ? -1 : 1;
  return [...items].sort((a, b) => {
    const x = field(a, name);
    const y = field(b, name);
    return (
      (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))) * sign
    );
  });
}

/** Parses limit and offset as Falcon does: an answer for a bad value. */
function paging(req: RecordedRequest, max: number): { limit: number; offset: number } | Answer {
  const limit = Number(req.query.get('limit') ?? '100');
  const offset = Number(req.query.get('offset') ?? '0');
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    return falconError(400, `Invalid limit: must be between 1 and ${max}`);
  if (!Number.isInteger(offset) || offset < 0) return falconError(400, 'Invalid offset');
  return { limit, offset };
}

const ALERT_STATUSES = ['new', 'in_progress', 'closed', 'reopened'];

/** Starts a Falcon stand-in; its `url` is the API URL (base_url). */
export async function falconStandIn(
  clientId = FALCON_CLIENT_ID,
  clientSecret = FALCON_CLIENT_SECRET,
): Promise<FalconStandIn> {
  const hosts = new Map(HOSTS.map((h) => [h.device_id, structuredClone(h)]));
  const seeded = [
    alertFor(hosts.get(HOSTS[0]!.device_id)!, 1, {
      severity: 90,
      status: 'new',
      name: 'CredentialDumping',
      tactic: 'Credential Access',
      technique: 'OS Credential Dumping',
    }),
    alertFor(hosts.get(HOSTS[0]!.device_id)!, 2, {
      severity: 50,
      status: 'in_progress',
      name: 'SuspiciousPowerShell',
      tactic: 'Execution',
      technique: 'PowerShell',
    }),
    alertFor(hosts.get(HOSTS[1]!.device_id)!, 3, {
      severity: 70,
      status: 'new',
      name: 'WebShell',
      tactic: 'Persistence',
      technique: 'Server Software Component',
    }),
  ];
  const alerts = new Map(seeded.map((a) => [a.composite_id, a]));
  const valid = new Set<string>();
  const issuedTokens: string[] = [];
  const tokenRequests: RecordedRequest[] = [];
  const apiOverrides: Answer[] = [];
  let refuse = false;

  const rateHeaders = { 'x-ratelimit-limit': '6000', 'x-ratelimit-remaining': '5999' };
  const withRate = (answer: Answer): Answer => ({
    ...answer,
    headers: { ...rateHeaders, ...answer.headers },
  });

  const authenticated =
    (route: Route): Route =>
    async (req: RecordedRequest) => {
      const override = apiOverrides.shift();
      if (override) return override;
      const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
      if (!m || !valid.has(m[1]!) || refuse) return falconError(401, 'access denied, invalid bearer token');
      return withRate(await route(req));
    };

  const hostRoute = authenticated((req) => {
    const ids = req.query.getAll('ids');
    if (ids.length === 0) return falconError(400, 'ids: at least one ID is required');
    if (ids.length > 100) return falconError(400, 'ids: at most 100 IDs per request');
    const found = ids.map((id) => hosts.get(id)).filter((h): h is FalconHost => h !== undefined);
    const errors = ids
      .filter((id) => !hosts.has(id))
      .map((id) => ({ code: 404, message: `Device not found: ${id}`, id }));
    return {
      status: found.length === 0 ? 404 : 200,
      json: envelope(structuredClone(found), errors),
    };
  });

  const server = (await standIn({
    'POST /oauth2/token': (req) => {
      tokenRequests.push(req);
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? ''))
        return falconError(400, 'Content-Type must be application/x-www-form-urlencoded');
      const form = new URLSearchParams(req.body);
      const id = form.get('client_id');
      const secret = form.get('client_secret');
      if (!id || !secret) return falconError(400, 'client_id and client_secret are required');
      if (id !== clientId || secret !== clientSecret)
        return falconError(403, 'Failed to issue access token - Client authentication failed');
      const token = `eyJhbGciOiJSUzI1NiIsImtpZCI6InB1YmxpYzo${randomBytes(48).toString('base64url')}`;
      valid.add(token);
      issuedTokens.push(token);
      return {
        status: 201,
        json: { access_token: token, token_type: 'bearer', expires_in: 1799 },
      };
    },
    'GET /devices/queries/devices/v1': authenticated((req) => {
      const page = paging(req, 5000);
      if (!('limit' in page)) return page;
      const match = fql(req.query.get('filter'));
      if (typeof match === 'string') return falconError(400, match);
      const all = sorted([...hosts.values()].filter(match), req.query.get('sort'));
      return {
        json: envelope(
          all.slice(page.offset, page.offset + page.limit).map((h) => h.device_id),
          [],
          { pagination: { offset: page.offset, limit: page.limit, total: all.length } },
        ),
      };
    }),
    'GET /devices/entities/devices/v2': hostRoute,
    'POST /devices/entities/devices-actions/v2': authenticated((req) => {
      const action = req.query.get('action_name');
      const states: Record<string, string> = {
        contain: 'containment_pending',
        lift_containment: 'lift_containment_pending',
      };
      if (!action || !['contain', 'lift_containment', 'hide_host', 'unhide_host'].includes(action))
        return falconError(400, `Invalid action_name: ${action ?? '(none)'}`);
      const body = req.json as { ids?: unknown } | undefined;
      if (!Array.isArray(body?.ids) || body.ids.length === 0 || body.ids.length > 100)
        return falconError(400, 'ids: between 1 and 100 host IDs are required');
      const ids = body.ids as string[];
      const unknown = ids.filter((id) => !hosts.has(id));
      if (unknown.length) return falconError(400, `Could not find the host(s) ${unknown.join(', ')}`);
      for (const id of ids) if (states[action]) hosts.get(id)!.status = states[action];
      return {
        status: 202,
        json: envelope(
          ids.map((id) => ({ id, path: '/devices/entities/devices-actions/v2' })),
          [],
        ),
      };
    }),
    'GET /alerts/queries/alerts/v2': authenticated((req) => {
      const page = paging(req, 10000);
      if (!('limit' in page)) return page;
      const match = fql(req.query.get('filter'));
      if (typeof match === 'string') return falconError(400, match);
      const all = sorted([...alerts.values()].filter(match), req.query.get('sort'));
      return {
        json: envelope(
          all.slice(page.offset, page.offset + page.limit).map((a) => a.composite_id),
          [],
          { pagination: { offset: page.offset, limit: page.limit, total: all.length } },
          'detectsapi',
        ),
      };
    }),
    'POST /alerts/entities/alerts/v2': authenticated((req) => {
      const body = req.json as { composite_ids?: unknown } | undefined;
      if (!Array.isArray(body?.composite_ids) || body.composite_ids.length === 0)
        return falconError(400, 'composite_ids: at least one ID is required');
      const ids = body.composite_ids as string[];
      const found = ids.map((id) => alerts.get(id)).filter((a): a is FalconAlert => a !== undefined);
      const errors = ids
        .filter((id) => !alerts.has(id))
        .map((id) => ({ code: 404, message: `Alert not found: ${id}`, id }));
      return {
        status: found.length === 0 ? 404 : 200,
        json: envelope(found.map(alertView), errors, {}, 'detectsapi'),
      };
    }),
    'PATCH /alerts/entities/alerts/v3': authenticated((req) => {
      const body = req.json as
        { composite_ids?: unknown; action_parameters?: { name?: unknown; value?: unknown }[] } | undefined;
      if (!Array.isArray(body?.composite_ids) || body.composite_ids.length === 0)
        return falconError(400, 'composite_ids: at least one ID is required');
      const params = body.action_parameters;
      if (!Array.isArray(params) || params.length === 0)
        return falconError(400, 'action_parameters: at least one action is required');
      const ids = body.composite_ids as string[];
      const unknown = ids.filter((id) => !alerts.has(id));
      if (unknown.length) return falconError(404, `Alert not found: ${unknown.join(', ')}`);
      for (const p of params) {
        const value = typeof p.value === 'string' ? p.value : '';
        if (p.name === 'update_status' && !ALERT_STATUSES.includes(value))
          return falconError(400, `invalid status: ${value}`);
        if (
          ![
            'update_status',
            'append_comment',
            'add_tag',
            'remove_tag',
            'assign_to_name',
            'assign_to_uuid',
            'unassign',
            'show_in_ui',
          ].includes(String(p.name))
        )
          return falconError(400, `invalid action parameter name: ${String(p.name)}`);
      }
      for (const id of ids) {
        const alert = alerts.get(id)!;
        for (const p of params) {
          const value = typeof p.value === 'string' ? p.value : '';
          if (p.name === 'update_status') alert.status = value;
          if (p.name === 'append_comment') alert.comments.push(value);
          if (p.name === 'remove_tag') alert.tags = alert.tags.filter((t) => t !== value);
          if (p.name === 'add_tag' && !alert.tags.includes(value)) alert.tags.push(value);
          if (p.name === 'assign_to_name') alert.assigned_to_name = value;
          if (p.name === 'unassign') delete alert.assigned_to_name;
        }
        alert.updated_timestamp = '2024-11-12T10:30:00.000Z';
      }
      return {
        json: envelope([], [], { writes: { resources_affected: ids.length } }, 'detectsapi'),
      };
    }),
  })) as FalconStandIn;
  server.hosts = hosts;
  server.alerts = alerts;
  server.tokenRequests = tokenRequests;
  server.issuedTokens = issuedTokens;
  server.refuseTokens = (on) => {
    refuse = on;
  };
  server.revokeTokens = () => valid.clear();
  server.failNextApi = (answer, times = 1) => {
    for (let i = 0; i < times; i++) apiOverrides.push(answer);
  };
  return server;
}
