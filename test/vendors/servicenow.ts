// A stand-in for the ServiceNow Table API (https://www.servicenow.com/docs/, "Table API"): basic
// authentication (401 "User Not Authenticated" otherwise), tables of records whose fields are all
// strings, reference fields answered as {link, value} (or their display value with
// sysparm_display_value), choice fields with their labels, encoded queries (=, !=, LIKE, STARTSWITH, IN,
// ^OR, ORDERBY/ORDERBYDESC, dot-walking) with sysparm_limit/offset/fields, and incidents with numbers
// (INC0010001…), priority from urgency and impact, work notes kept in the journal (the field itself
// reads back empty), and the out-of-the-box data policy that makes the resolution code and notes
// mandatory on a resolved or closed incident (403 "Data Policy Exception"). The integration user is
// under a rate limit rule, so every answer carries X-RateLimit-Limit, X-RateLimit-Reset (the end of the
// hour's window) and X-RateLimit-Rule; a 429 adds Retry-After. Errors are ServiceNow's
// {"error": {"message", "detail"}, "status": "failure"}.
import { randomBytes } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

export const SNOW_USERNAME = 'svc_osprey';
export const SNOW_PASSWORD = 'Xq7!pLm2#Rt9vWz4sNk8';

const JSON_TYPE = 'application/json;charset=UTF-8';
const RULE = '5f7d2c3a1b0e4d6f8a9b0c1d2e3f4a5b';

/**
 * The headers of every answer to a user a rate limit rule applies to (integration users usually have
 * one): the hourly limit, when the hour's window resets (UNIX time) and the rule's sys_id.
 */
function ruleHeaders(resetInSeconds = 1800): Record<string, string> {
  return {
    'x-ratelimit-limit': '1000',
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + resetInSeconds),
    'x-ratelimit-rule': RULE,
  };
}

/** A ServiceNow error answer. */
export function snowError(
  status: number,
  message: string,
  detail: string | null,
  headers: Record<string, string> = {},
): Answer {
  return {
    status,
    json: { error: { message, detail }, status: 'failure' },
    headers: { 'content-type': JSON_TYPE, ...ruleHeaders(), ...headers },
  };
}

/** ServiceNow's 429 when a rate limit rule is exceeded: with Retry-After and the X-RateLimit-* headers. */
export function snowRateLimited(retryAfterSeconds = 1): Answer {
  return snowError(
    429,
    'Too Many Requests',
    'The rate limit of 1000 requests per hour for the rule "Integration users" has been exceeded.',
    { 'retry-after': String(retryAfterSeconds), ...ruleHeaders(retryAfterSeconds) },
  );
}

export type SnowRecord = Record<string, string>;

export interface JournalEntry {
  element_id: string;
  element: 'work_notes' | 'comments';
  value: string;
  sys_created_by: string;
}

export interface ServiceNowStandIn extends StandIn {
  tables: Map<string, Map<string, SnowRecord>>;
  journal: JournalEntry[];
  /** An incident by number or sys_id. */
  incident(ref: string): SnowRecord | undefined;
  /** Adds an incident directly (as if opened in the instance). */
  seedIncident(fields: SnowRecord): SnowRecord;
  /** A record's sys_id by a field's value. */
  sysId(table: string, field: string, value: string): string;
}

/** Reference fields: the table they point to. */
const REFERENCES: Record<string, Record<string, string>> = {
  incident: {
    caller_id: 'sys_user',
    assignment_group: 'sys_user_group',
    assigned_to: 'sys_user',
    opened_by: 'sys_user',
    resolved_by: 'sys_user',
    cmdb_ci: 'cmdb_ci_computer',
  },
  sys_user: { manager: 'sys_user' },
  sys_user_group: { manager: 'sys_user' },
  cmdb_ci_computer: { assigned_to: 'sys_user' },
};
/** The field a reference shows as its display value. */
const DISPLAY: Record<string, string> = {
  incident: 'number',
  sys_user: 'name',
  sys_user_group: 'name',
  cmdb_ci_computer: 'name',
};
const LEVELS = { '1': '1 - High', '2': '2 - Medium', '3': '3 - Low' };
const CHOICES: Record<string, Record<string, Record<string, string>>> = {
  incident: {
    state: {
      '1': 'New',
      '2': 'In Progress',
      '3': 'On Hold',
      '6': 'Resolved',
      '7': 'Closed',
      '8': 'Canceled',
    },
    urgency: LEVELS,
    impact: LEVELS,
    priority: {
      '1': '1 - Critical',
      '2': '2 - High',
      '3': '3 - Moderate',
      '4': '4 - Low',
      '5': '5 - Planning',
    },
  },
};
/** The columns of an incident a client may write (others are ignored, as ServiceNow does). */
const INCIDENT_COLUMNS = [
  'short_description',
  'description',
  'urgency',
  'impact',
  'state',
  'category',
  'subcategory',
  'contact_type',
  'caller_id',
  'assignment_group',
  'assigned_to',
  'cmdb_ci',
  'close_code',
  'close_notes',
  'u_alert_id',
];

function now(): string {
  return new Date().toISOString().slice(0, 19).replace('T', ' ');
}

/** Starts a ServiceNow stand-in; its `url` is the instance URL. */
export async function serviceNowStandIn(
  username = SNOW_USERNAME,
  password = SNOW_PASSWORD,
): Promise<ServiceNowStandIn> {
  const tables = new Map<string, Map<string, SnowRecord>>();
  const journal: JournalEntry[] = [];
  let nextNumber = 10_001;
  let base = '';

  function insert(table: string, fields: SnowRecord): SnowRecord {
    const at = now();
    const rec: SnowRecord = {
      sys_id: randomBytes(16).toString('hex'),
      sys_created_on: at,
      sys_updated_on: at,
      sys_created_by: 'admin',
      sys_updated_by: 'admin',
      sys_mod_count: '0',
      ...fields,
    };
    if (!tables.has(table)) tables.set(table, new Map());
    tables.get(table)!.set(rec.sys_id!, rec);
    return rec;
  }
  const bob = insert('sys_user', {
    user_name: 'bob.manager',
    name: 'Bob Manager',
    email: 'bob@acme.example',
    active: 'true',
    department: 'Finance',
    manager: '',
  });
  insert('sys_user', {
    user_name: 'alice.analyst',
    name: 'Alice Analyst',
    email: 'alice@acme.example',
    active: 'true',
    department: 'Finance',
    manager: bob.sys_id!,
  });
  const integration = insert('sys_user', {
    user_name: username,
    name: 'Osprey Integration',
    email: 'osprey@acme.example',
    active: 'true',
    department: '',
    manager: '',
  });
  insert('sys_user_group', { name: 'Security Operations', description: 'SOC analysts', manager: '' });
  insert('sys_user_group', { name: 'Service Desk', description: 'First-line support', manager: '' });
  insert('cmdb_ci_computer', {
    name: 'fs-02',
    ip_address: '10.20.1.15',
    os: 'Windows Server 2019',
    assigned_to: '',
  });
  insert('cmdb_ci_computer', {
    name: 'vpn-01',
    ip_address: '10.20.0.4',
    os: 'Linux Red Hat',
    assigned_to: '',
  });
  tables.set('incident', new Map());

  const ok = (json: unknown, status = 200, headers: Record<string, string> = {}): Answer => ({
    status,
    json,
    headers: { 'content-type': JSON_TYPE, ...ruleHeaders(), ...headers },
  });
  const noRecord = (): Answer =>
    snowError(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");

  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      const m = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
      if (decoded !== `${username}:${password}`)
        return snowError(401, 'User Not Authenticated', 'Required to provide Auth information', {
          'www-authenticate': 'BASIC realm="Service-now"',
        });
      return route(req);
    };

  /** A reference value given as a sys_id or as the display value. */
  function resolveReference(table: string, value: string): string {
    const records = tables.get(table)!;
    if (value === '' || records.has(value)) return value;
    const shown = DISPLAY[table]!;
    const found = [...records.values()].find((r) => r[shown] === value || r.user_name === value);
    return found ? found.sys_id! : '';
  }

  /** A field's value, dot-walking through references (caller_id.email). */
  function fieldValue(table: string, rec: SnowRecord, path: string): string | undefined {
    const [head, ...rest] = path.split('.');
    const value = rec[head!];
    if (rest.length === 0 || value === undefined) return value;
    const target = REFERENCES[table]?.[head!];
    const next = target ? tables.get(target)?.get(value) : undefined;
    return next ? fieldValue(target!, next, rest.join('.')) : '';
  }

  function view(table: string, rec: SnowRecord, displayValue: string, only?: string[]): SnowRecord | object {
    const out: Record<string, unknown> = {};
    const keys = only ?? Object.keys(rec);
    for (const key of keys) {
      const value = fieldValue(table, rec, key);
      if (value === undefined) continue;
      const target = key.includes('.') ? undefined : REFERENCES[table]?.[key];
      const choices = CHOICES[table]?.[key];
      if (target) {
        const ref = tables.get(target)?.get(value);
        const link = `${base}/api/now/table/${target}/${value}`;
        const shown = ref ? ref[DISPLAY[target]!]! : '';
        if (displayValue === 'true') out[key] = shown;
        else if (displayValue === 'all')
          out[key] = value ? { display_value: shown, link, value } : { display_value: '', value: '' };
        else out[key] = value ? { link, value } : '';
      } else if (choices) {
        const label = choices[value] ?? value;
        out[key] =
          displayValue === 'true' ? label : displayValue === 'all' ? { display_value: label, value } : value;
      } else out[key] = displayValue === 'all' ? { display_value: value, value } : value;
    }
    return out;
  }

  /** Records matching an encoded query, sorted as it asks. */
  function select(table: string, query: string): SnowRecord[] {
    const records = [...tables.get(table)!.values()];
    const known = (field: string): boolean =>
      records.some((r) => fieldValue(table, r, field) !== undefined) || field.includes('.');
    // Conjunctions of disjunctions: a^b^ORc is a AND (b OR c).
    const groups: ((r: SnowRecord) => boolean)[][] = [];
    const order: { field: string; desc: boolean }[] = [];
    for (const raw of query ? query.split('^') : []) {
      const or = raw.startsWith('OR') && !raw.startsWith('ORDERBY');
      const term = or ? raw.slice(2) : raw;
      if (term.startsWith('ORDERBYDESC')) {
        order.push({ field: term.slice(11), desc: true });
        continue;
      }
      if (term.startsWith('ORDERBY')) {
        order.push({ field: term.slice(7), desc: false });
        continue;
      }
      const m = /^([A-Za-z0-9_.]+?)(!=|=|LIKE|STARTSWITH|IN)(.*)$/.exec(term);
      // ServiceNow ignores a condition on a field the table does not have (and answers every record).
      if (!m || !known(m[1]!)) continue;
      const [, field, op, value] = m as unknown as [string, string, string, string];
      const test = (r: SnowRecord): boolean => {
        const v = fieldValue(table, r, field) ?? '';
        if (op === '=') return v === value;
        if (op === '!=') return v !== value;
        if (op === 'LIKE') return v.toLowerCase().includes(value.toLowerCase());
        if (op === 'STARTSWITH') return v.toLowerCase().startsWith(value.toLowerCase());
        return value.split(',').includes(v);
      };
      if (or && groups.length) groups.at(-1)!.push(test);
      else groups.push([test]);
    }
    const matched = records.filter((r) => groups.every((g) => g.some((t) => t(r))));
    for (const { field, desc } of order.reverse())
      matched.sort((a, b) => (a[field] ?? '').localeCompare(b[field] ?? '') * (desc ? -1 : 1));
    return matched;
  }

  function priority(urgency: string, impact: string): string {
    return String(Math.min(5, Math.max(1, Number(urgency) + Number(impact) - 1)));
  }

  /**
   * Writes the body's fields to an incident (new or existing): unknown fields are ignored, references
   * resolved, work notes and comments go to the journal. Answers a 403 the data policy raises.
   */
  function writeIncident(rec: SnowRecord, body: Record<string, unknown>): Answer | undefined {
    const next = { ...rec };
    for (const [k, v] of Object.entries(body)) {
      if (!INCIDENT_COLUMNS.includes(k)) continue;
      // Numbers and booleans are stored as their text; objects as JSON.
      const text =
        v === null || v === undefined
          ? ''
          : typeof v === 'object'
            ? JSON.stringify(v)
            : String(v as string | number | boolean);
      const target = REFERENCES.incident![k];
      next[k] = target ? resolveReference(target, text) : text;
    }
    next.priority = priority(next.urgency!, next.impact!);
    if (['6', '7'].includes(next.state!)) {
      const missing = [!next.close_code && 'Resolution code', !next.close_notes && 'Resolution notes'].filter(
        Boolean,
      );
      if (missing.length)
        return snowError(
          403,
          'Operation Failed',
          `Data Policy Exception: \n\tThe following fields are mandatory: ${missing.join(', ')}\n`,
        );
      if (rec.state !== next.state && next.state === '6') {
        next.resolved_at = now();
        next.resolved_by = integration.sys_id!;
      }
    }
    next.incident_state = next.state!;
    next.active = ['7', '8'].includes(next.state!) ? 'false' : 'true';
    next.sys_updated_on = now();
    next.sys_updated_by = username;
    next.sys_mod_count = String(Number(rec.sys_mod_count ?? '-1') + 1);
    Object.assign(rec, next);
    for (const element of ['work_notes', 'comments'] as const)
      if (typeof body[element] === 'string' && body[element] !== '')
        journal.push({ element_id: rec.sys_id!, element, value: body[element], sys_created_by: username });
    return undefined;
  }

  function newIncident(): SnowRecord {
    return {
      sys_id: randomBytes(16).toString('hex'),
      number: `INC${String(nextNumber++).padStart(7, '0')}`,
      short_description: '',
      description: '',
      state: '1',
      incident_state: '1',
      urgency: '3',
      impact: '3',
      priority: '5',
      category: 'inquiry',
      subcategory: '',
      contact_type: '',
      caller_id: '',
      assignment_group: '',
      assigned_to: '',
      cmdb_ci: '',
      opened_by: integration.sys_id!,
      opened_at: now(),
      active: 'true',
      close_code: '',
      close_notes: '',
      resolved_at: '',
      resolved_by: '',
      work_notes: '',
      comments: '',
      sys_created_by: username,
      sys_created_on: now(),
      sys_updated_by: username,
      sys_updated_on: now(),
      sys_mod_count: '0',
    };
  }

  const table = (req: RecordedRequest): string => req.path.split('/')[4] ?? '';
  const recordId = (req: RecordedRequest): string => req.path.split('/')[5] ?? '';
  const unknownTable = (name: string): Answer => snowError(400, `Invalid table ${name}`, null);
  const readOnly = (operation: string): Answer =>
    snowError(403, 'Operation Failed', `ACL Exception ${operation} Failed due to security constraints`);
  const displayValue = (req: RecordedRequest): string => req.query.get('sysparm_display_value') ?? 'false';

  const server = (await standIn({
    'GET /api/now/table/:table': authenticated((req) => {
      const name = table(req);
      if (!tables.has(name)) return unknownTable(name);
      const matched = select(name, req.query.get('sysparm_query') ?? '');
      const offset = Number(req.query.get('sysparm_offset') ?? '0');
      const limit = Number(req.query.get('sysparm_limit') ?? '10000');
      const fields = req.query.get('sysparm_fields')?.split(',');
      return ok(
        {
          result: matched.slice(offset, offset + limit).map((r) => view(name, r, displayValue(req), fields)),
        },
        200,
        { 'x-total-count': String(matched.length) },
      );
    }),
    'GET /api/now/table/:table/:sys_id': authenticated((req) => {
      const name = table(req);
      if (!tables.has(name)) return unknownTable(name);
      const rec = tables.get(name)!.get(recordId(req));
      return rec ? ok({ result: view(name, rec, displayValue(req)) }) : noRecord();
    }),
    'POST /api/now/table/:table': authenticated((req) => {
      const name = table(req);
      if (!tables.has(name)) return unknownTable(name);
      if (name !== 'incident') return readOnly('Insert');
      const body = req.json;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        return snowError(400, 'Exception while reading request', 'The payload is not valid JSON.');
      const rec = newIncident();
      const refused = writeIncident(rec, body as Record<string, unknown>);
      if (refused) return refused;
      tables.get('incident')!.set(rec.sys_id!, rec);
      return ok({ result: view('incident', rec, 'false') }, 201, {
        location: `${base}/api/now/table/incident/${rec.sys_id}`,
      });
    }),
    'PATCH /api/now/table/:table/:sys_id': authenticated((req) => {
      const name = table(req);
      if (!tables.has(name)) return unknownTable(name);
      if (name !== 'incident') return readOnly('Update');
      const rec = tables.get(name)!.get(recordId(req));
      if (!rec) return noRecord();
      const body = req.json;
      if (!body || typeof body !== 'object' || Array.isArray(body))
        return snowError(400, 'Exception while reading request', 'The payload is not valid JSON.');
      const refused = writeIncident(rec, body as Record<string, unknown>);
      return refused ?? ok({ result: view('incident', rec, 'false') });
    }),
    'GET /*': () => snowError(400, 'Requested URI does not represent any resource', null),
  })) as ServiceNowStandIn;
  base = server.url;
  server.tables = tables;
  server.journal = journal;
  server.incident = (ref) =>
    [...tables.get('incident')!.values()].find((r) => r.number === ref || r.sys_id === ref);
  server.seedIncident = (fields) => {
    const rec = { ...newIncident(), ...fields };
    rec.priority = priority(rec.urgency!, rec.impact!);
    tables.get('incident')!.set(rec.sys_id!, rec);
    return rec;
  };
  server.sysId = (t, field, value) => [...tables.get(t)!.values()].find((r) => r[field] === value)!.sys_id!;
  return server;
}
