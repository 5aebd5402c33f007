// Stand-ins for Splunk: the HTTP Event Collector (port 8088 on a real server) and the REST API
// (port 8089), as two servers. HEC checks "Authorization: Splunk <token>" and answers
// {"text", "code"} as Splunk does (https://docs.splunk.com/Documentation/Splunk/latest/Data/TroubleshootHTTPEventCollector);
// the REST API runs oneshot searches over a small fixed data set and answers errors as
// {"messages": [{"type", "text"}]}.
import { standIn, type Answer, type RecordedRequest, type StandIn } from './stand-in.js';

export const HEC_TOKEN = '6e1a4f3c-2b7d-4c8e-9f0a-1d2c3b4a5e6f';
export const SPLUNK_API_TOKEN =
  'eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIiLCJ2ZXIiOiJ2MiIsInR0eXAiOiJzdGF0aWMifQ.eyJpc3MiOiJhZG1pbiIsInN1YiI6Im9zcHJleSJ9.c3BsdW5rLXRva2VuLXNpZ25hdHVyZQ';

/** The indexes the HEC token may write to (an index outside them answers "Incorrect index"). */
export const ALLOWED_INDEXES = ['main', 'security'];

/** HEC's answer: {"text", "code"} with Splunk's content type. */
export function hecAnswer(
  status: number,
  text: string,
  code: number,
  extra: Record<string, unknown> = {},
): Answer {
  return {
    status,
    json: { text, code, ...extra },
    headers: { 'content-type': 'application/json; charset=UTF-8' },
  };
}

/** The REST API's error body. */
export function restError(
  status: number,
  text: string,
  type = 'ERROR',
  headers?: Record<string, string>,
): Answer {
  return { status, json: { messages: [{ type, text }] }, headers };
}

/** An event HEC accepted, as it would index it. */
export interface IndexedEvent {
  event: unknown;
  time?: number | string;
  host?: string;
  source?: string;
  sourcetype?: string;
  index: string;
  fields?: Record<string, unknown>;
}

/**
 * Splits a HEC body into its JSON objects: HEC takes them one after the other, optionally separated
 * by whitespace. Returns the index of the first invalid one instead when the body is malformed.
 */
export function splitConcatenatedJson(body: string): { objects: unknown[] } | { invalidAt: number } {
  const objects: unknown[] = [];
  let i = 0;
  while (i < body.length) {
    while (i < body.length && /\s/.test(body[i]!)) i++;
    if (i >= body.length) break;
    if (body[i] !== '{') return { invalidAt: objects.length };
    let depth = 0;
    let inString = false;
    let end = -1;
    for (let j = i; j < body.length; j++) {
      const c = body[j];
      if (inString) {
        if (c === '\\') j++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) {
        end = j + 1;
        break;
      }
    }
    if (end < 0) return { invalidAt: objects.length };
    try {
      objects.push(JSON.parse(body.slice(i, end)));
    } catch {
      return { invalidAt: objects.length };
    }
    i = end;
  }
  return { objects };
}

export interface HecStandIn extends StandIn {
  /** Every event indexed so far. */
  events: IndexedEvent[];
}

/** Starts an HTTP Event Collector stand-in; its `url` is the hec_url. */
export async function hecStandIn(token = HEC_TOKEN): Promise<HecStandIn> {
  const events: IndexedEvent[] = [];
  const collect = (req: RecordedRequest): Answer => {
    const auth = req.headers.authorization;
    if (auth === undefined) return hecAnswer(401, 'Token is required', 2);
    const m = /^Splunk (\S+)$/.exec(auth);
    if (!m) return hecAnswer(401, 'Invalid authorization', 3);
    if (m[1] !== token) return hecAnswer(403, 'Invalid token', 4);
    if (req.body.trim() === '') return hecAnswer(400, 'No data', 5);
    const split = splitConcatenatedJson(req.body);
    if ('invalidAt' in split)
      return hecAnswer(400, 'Invalid data format', 6, { 'invalid-event-number': split.invalidAt });
    const batch: IndexedEvent[] = [];
    for (const [n, o] of split.objects.entries()) {
      const e = o as Record<string, unknown>;
      if (!('event' in e))
        return hecAnswer(400, 'Event field is required', 12, { 'invalid-event-number': n });
      if (e.event === '' || e.event === null)
        return hecAnswer(400, 'Event field cannot be blank', 13, { 'invalid-event-number': n });
      const index = (e.index as string | undefined) ?? 'main';
      if (!ALLOWED_INDEXES.includes(index))
        return hecAnswer(400, 'Incorrect index', 7, { 'invalid-event-number': n });
      batch.push({ ...(e as Omit<IndexedEvent, 'index'>), index });
    }
    events.push(...batch);
    return hecAnswer(200, 'Success', 0);
  };
  const server = (await standIn({
    'POST /services/collector/event': collect,
    'POST /services/collector/event/1.0': collect,
    'POST /services/collector': collect,
    'GET /services/collector/health': () => hecAnswer(200, 'HEC is healthy', 17),
    'POST /*': () => ({ status: 404, text: '', headers: { 'content-type': 'text/plain' } }),
  })) as HecStandIn;
  server.events = events;
  return server;
}

/** The data the REST stand-in searches: firewall events. */
export const FIREWALL_EVENTS = [
  {
    _time: '2024-11-12T10:00:01.000+00:00',
    src: '203.0.113.7',
    dest: '10.0.0.5',
    dest_port: '22',
    action: 'blocked',
  },
  {
    _time: '2024-11-12T10:00:02.000+00:00',
    src: '203.0.113.7',
    dest: '10.0.0.5',
    dest_port: '22',
    action: 'blocked',
  },
  {
    _time: '2024-11-12T10:00:03.000+00:00',
    src: '198.51.100.23',
    dest: '10.0.0.8',
    dest_port: '443',
    action: 'allowed',
  },
  {
    _time: '2024-11-12T10:00:04.000+00:00',
    src: '203.0.113.7',
    dest: '10.0.0.9',
    dest_port: '3389',
    action: 'blocked',
  },
];

/**
 * A tiny SPL: "search index=main sourcetype=firewall [field=value ...]" filters FIREWALL_EVENTS;
 * "| stats count by src" counts them. Anything else starting with "search" finds nothing; a search
 * that does not start with a command fails as Splunk's parser does.
 */
function runSearch(spl: string): { fields: string[]; results: Record<string, string>[] } | Answer {
  const trimmed = spl.trim();
  if (trimmed.startsWith('|')) {
    if (/^\|\s*makeresults/.test(trimmed))
      return { fields: ['_time'], results: [{ _time: '2024-11-12T10:00:00.000+00:00' }] };
    const command = /^\|\s*(\w+)/.exec(trimmed)?.[1] ?? '';
    return restError(400, `Unknown search command '${command}'.`, 'FATAL');
  }
  const m = /^search\s+(.*)$/s.exec(trimmed);
  if (!m) {
    const command = /^(\S+?)(=|\s|$)/.exec(trimmed)?.[1] ?? trimmed;
    return restError(400, `Unknown search command '${command}'.`, 'FATAL');
  }
  const [filter, ...pipes] = m[1]!.split('|').map((s) => s.trim());
  const terms = Object.fromEntries([...filter!.matchAll(/(\w+)="?([^"\s]+)"?/g)].map((t) => [t[1]!, t[2]!]));
  const { index, sourcetype, ...rest } = terms;
  let rows: Record<string, string>[] =
    (index === undefined || index === 'main') && sourcetype === 'firewall'
      ? FIREWALL_EVENTS.filter((e) =>
          Object.entries(rest).every(([k, v]) => (e as Record<string, string>)[k] === v),
        ).map((e) => ({ ...e, index: 'main', sourcetype: 'firewall', host: 'fw01' }))
      : [];
  let fields = ['_time', 'action', 'dest', 'dest_port', 'host', 'index', 'sourcetype', 'src'];
  for (const pipe of pipes) {
    const stats = /^stats\s+count\s+by\s+(\w+)$/.exec(pipe);
    if (!stats)
      return restError(400, `Error in '${pipe.split(/\s/)[0]}' command: The arguments are invalid.`, 'FATAL');
    const by = stats[1]!;
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r[by] ?? '', (counts.get(r[by] ?? '') ?? 0) + 1);
    rows = [...counts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, n]) => ({ [by]: k, count: String(n) }));
    fields = [by, 'count'];
  }
  return { fields, results: rows };
}

/** Starts a Splunk REST API stand-in; its `url` is the api_url. */
export function splunkRestStandIn(token = SPLUNK_API_TOKEN): Promise<StandIn> {
  return standIn({
    'POST /services/search/jobs': (req) => {
      const form = new URLSearchParams(req.body);
      const auth = req.headers.authorization;
      if (auth !== `Bearer ${token}`)
        return restError(401, 'call not properly authenticated', 'WARN', {
          'www-authenticate': 'Basic realm="/splunk"',
        });
      const spl = form.get('search');
      if (!spl) return restError(400, 'Missing search.', 'FATAL');
      const found = runSearch(spl);
      if (!('results' in found)) return found;
      if (form.get('output_mode') !== 'json')
        return {
          text: '<?xml version="1.0" encoding="UTF-8"?>\n<results preview="0">\n</results>\n',
          headers: { 'content-type': 'text/xml; charset=UTF-8' },
        };
      if (form.get('exec_mode') !== 'oneshot')
        return { status: 201, json: { sid: `${Math.floor(Date.now() / 1000)}.4711` } };
      const count = Number(form.get('count') ?? '100');
      const results = count === 0 ? found.results : found.results.slice(0, count);
      return {
        json: {
          preview: false,
          init_offset: 0,
          messages: [],
          fields: found.fields.map((name) => ({ name })),
          results,
          highlighted: {},
        },
      };
    },
    'GET /*': () => restError(404, 'Not Found'),
    'POST /*': () => restError(404, 'Not Found'),
  });
}
