// A stand-in for Elasticsearch 8 (https://www.elastic.co/docs/api/doc/elasticsearch/): API-key or
// basic authentication, documents kept in memory with dynamic mapping (a value that does not fit a
// field's mapped type is refused as Elasticsearch refuses it), the _doc, _bulk and _search APIs for a
// useful subset of the query DSL, and Elasticsearch's error bodies
// ({"error": {"root_cause", "type", "reason", ...}, "status"}).
import { standIn, type Answer, type RecordedRequest, type Route, type StandIn } from './stand-in.js';

/** An API key as Elasticsearch hands it out: base64 of "<id>:<api_key>". */
export const ES_API_KEY = Buffer.from('VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw').toString('base64');
export const ES_USER = { username: 'osprey_writer', password: 'Wr1ter-pass-7f3e' };

const HEADERS = { 'x-elastic-product': 'Elasticsearch' };

interface Cause {
  type: string;
  reason: string;
  [key: string]: unknown;
}

/** Elasticsearch's error body. */
export function esError(status: number, cause: Cause, headers: Record<string, string> = {}): Answer {
  const { caused_by, ...root } = cause;
  void caused_by;
  return {
    status,
    headers: { ...HEADERS, ...headers },
    json: { error: { root_cause: [root], ...cause }, status },
  };
}

/** The 429 a node answers when its write queue is full. */
export function esRejected(headers: Record<string, string> = {}): Answer {
  return esError(
    429,
    {
      type: 'es_rejected_execution_exception',
      reason:
        'rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=107374182]',
    },
    headers,
  );
}

type FieldType = 'long' | 'float' | 'boolean' | 'text' | 'object';

interface Index {
  docs: Map<string, { source: Record<string, unknown>; version: number; seqNo: number }>;
  mapping: Map<string, FieldType>;
  seqNo: number;
}

const INDEX_NAME = /^[^A-Z\\/*?"<>| ,#:_.+-][^A-Z\\/*?"<>| ,#:]*$/;

function typeOf(value: unknown): FieldType | undefined {
  if (value === null) return undefined;
  if (typeof value === 'number') return Number.isInteger(value) ? 'long' : 'float';
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'object' && !Array.isArray(value)) return 'object';
  return 'text';
}

/** Checks a document against the index's mapping (top-level fields), extending it; the failure otherwise. */
function mapDocument(index: Index, source: Record<string, unknown>, id: string): Cause | undefined {
  const added = new Map<string, FieldType>();
  for (const [field, raw] of Object.entries(source)) {
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      const type = typeOf(value);
      if (type === undefined) continue;
      const mapped = index.mapping.get(field) ?? added.get(field);
      if (mapped === undefined) {
        added.set(field, type);
        continue;
      }
      const preview = typeof value === 'string' ? value : JSON.stringify(value);
      if (mapped === 'object' && type !== 'object')
        return {
          type: 'document_parsing_exception',
          reason: `[1:2] object mapping for [${field}] tried to parse field [${field}] as object, but found a concrete value`,
        };
      if (
        (mapped === 'long' || mapped === 'float') &&
        !(type === 'long' || type === 'float' || (type === 'text' && /^-?\d+(\.\d+)?$/.test(String(value))))
      )
        return {
          type: 'document_parsing_exception',
          reason: `[1:2] failed to parse field [${field}] of type [${mapped}] in document with id '${id}'. Preview of field's value: '${preview}'`,
          caused_by: { type: 'illegal_argument_exception', reason: `For input string: "${preview}"` },
        };
      if (mapped === 'boolean' && !(type === 'boolean' || value === 'true' || value === 'false'))
        return {
          type: 'document_parsing_exception',
          reason: `[1:2] failed to parse field [${field}] of type [boolean] in document with id '${id}'. Preview of field's value: '${preview}'`,
          caused_by: {
            type: 'illegal_argument_exception',
            reason: `Failed to parse value [${preview}] as only [true] or [false] are allowed.`,
          },
        };
    }
  }
  for (const [f, t] of added) index.mapping.set(f, t);
  return undefined;
}

function get(source: Record<string, unknown>, path: string): unknown {
  if (path in source) return source[path];
  let value: unknown = source;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function shards(): Record<string, number> {
  return { total: 2, successful: 1, failed: 0 };
}

/** What a request's body line or query failed on, as a 400 parsing_exception. */
function parsingError(reason: string): Answer {
  return esError(400, { type: 'parsing_exception', reason, line: 1, col: 1 });
}

export interface ElasticsearchStandIn extends StandIn {
  indices: Map<string, Index>;
  /** The documents of an index, by id. */
  documents(index: string): Record<string, Record<string, unknown>>;
}

export interface ElasticsearchAuth {
  apiKey?: string;
  username?: string;
  password?: string;
}

/** Starts an Elasticsearch stand-in; its `url` is the base URL. Known ingest pipeline: "add-ingested". */
export async function elasticsearchStandIn(
  auth: ElasticsearchAuth = { apiKey: ES_API_KEY, ...ES_USER },
): Promise<ElasticsearchStandIn> {
  const indices = new Map<string, Index>();
  let generated = 0;

  const authenticated =
    (route: Route): Route =>
    (req: RecordedRequest) => {
      const header = req.headers.authorization;
      const schemes = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'];
      const challenge = { 'www-authenticate': schemes.join(', ') };
      if (header === undefined)
        return esError(
          401,
          {
            type: 'security_exception',
            reason: `missing authentication credentials for REST request [${req.url}]`,
            header: { 'WWW-Authenticate': schemes },
          },
          challenge,
        );
      let ok = false;
      const [scheme, value = ''] = header.split(' ', 2);
      if (scheme === 'ApiKey') ok = auth.apiKey !== undefined && value === auth.apiKey;
      if (scheme === 'Basic') {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        ok = auth.username !== undefined && decoded === `${auth.username}:${auth.password ?? ''}`;
      }
      if (!ok)
        return esError(
          401,
          {
            type: 'security_exception',
            reason:
              'unable to authenticate with provided credentials and anonymous access is not allowed for this request',
            additional_unsuccessful_credentials:
              scheme === 'ApiKey'
                ? 'API key: unable to find apikey with id VuaCfGcBCdbkQm-e5aOx'
                : `native: unable to authenticate user [${auth.username ?? ''}]`,
            header: { 'WWW-Authenticate': schemes },
          },
          challenge,
        );
      return route(req);
    };

  const ok = (status: number, json: unknown): Answer => ({ status, json, headers: HEADERS });

  const indexName = (req: RecordedRequest): string => decodeURIComponent(req.path.split('/')[1] ?? '');

  function invalidIndex(name: string): Answer | undefined {
    if (INDEX_NAME.test(name) && name.length <= 255) return undefined;
    return esError(400, {
      type: 'invalid_index_name_exception',
      reason: `Invalid index name [${name}], must be lowercase`,
      index_uuid: '_na_',
      index: name,
    });
  }

  function pipelineError(req: RecordedRequest): Answer | undefined {
    const pipeline = req.query.get('pipeline');
    if (pipeline === null || pipeline === 'add-ingested') return undefined;
    return esError(400, {
      type: 'illegal_argument_exception',
      reason: `pipeline with id [${pipeline}] does not exist`,
    });
  }

  /** Indexes one document; the item as _doc and _bulk report it, with its status. */
  function put(
    name: string,
    id: string | undefined,
    source: Record<string, unknown>,
    pipeline: string | null,
  ): { status: number; item: Record<string, unknown> } {
    let index = indices.get(name);
    const created = !index;
    index ??= { docs: new Map(), mapping: new Map(), seqNo: 0 };
    const docId = id ?? `osp${(++generated).toString(36).padStart(17, '0')}`;
    const doc =
      pipeline === 'add-ingested' ? { ...source, event_ingested: '2024-11-12T10:00:00.000Z' } : source;
    const failure = mapDocument(index, doc, docId);
    if (failure) return { status: 400, item: { _index: name, _id: docId, status: 400, error: failure } };
    if (created) indices.set(name, index);
    const previous = index.docs.get(docId);
    const version = (previous?.version ?? 0) + 1;
    const seqNo = index.seqNo++;
    index.docs.set(docId, { source: doc, version, seqNo });
    const status = previous ? 200 : 201;
    return {
      status,
      item: {
        _index: name,
        _id: docId,
        _version: version,
        result: previous ? 'updated' : 'created',
        _shards: shards(),
        _seq_no: seqNo,
        _primary_term: 1,
      },
    };
  }

  const indexDoc: Route = (req) => {
    const name = indexName(req);
    const bad = invalidIndex(name) ?? pipelineError(req);
    if (bad) return bad;
    const parts = req.path.split('/');
    const id = parts[3] !== undefined ? decodeURIComponent(parts[3]) : undefined;
    if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
      return {
        status: 406,
        headers: HEADERS,
        json: {
          error: `Content-Type header [${req.headers['content-type'] ?? ''}] is not supported`,
          status: 406,
        },
      };
    if (req.json === null || typeof req.json !== 'object' || Array.isArray(req.json))
      return esError(400, {
        type: 'document_parsing_exception',
        reason: '[1:1] failed to parse: the document must be a JSON object',
      });
    const { status, item } = put(name, id, req.json as Record<string, unknown>, req.query.get('pipeline'));
    if (status === 400) return esError(400, item.error as Cause);
    return ok(status, item);
  };

  const bulk: Route = (req) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/(x-ndjson|json)/.test(type))
      return {
        status: 406,
        headers: HEADERS,
        json: { error: `Content-Type header [${type}] is not supported`, status: 406 },
      };
    const bad = pipelineError(req);
    if (bad) return bad;
    if (!req.body.endsWith('\n'))
      return esError(400, {
        type: 'illegal_argument_exception',
        reason: 'The bulk request must be terminated by a newline [\\n]',
      });
    const lines = req.body.split('\n').slice(0, -1);
    const items: Record<string, unknown>[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      let action: Record<string, { _index?: string; _id?: string }>;
      let source: unknown;
      try {
        action = JSON.parse(lines[i]!) as typeof action;
        source = lines[i + 1] === undefined ? undefined : (JSON.parse(lines[i + 1]!) as unknown);
      } catch {
        return esError(400, {
          type: 'x_content_parse_exception',
          reason: `[1:1] Malformed action/metadata line [${i + 1}], expected START_OBJECT`,
        });
      }
      const [op] = Object.keys(action);
      if (op !== 'index' && op !== 'create')
        return esError(400, {
          type: 'illegal_argument_exception',
          reason: `Malformed action/metadata line [${i + 1}], expected field [create], [delete], [index] or [update] but found [${op}]`,
        });
      const meta = action[op]!;
      const name = meta._index ?? '';
      const invalid = invalidIndex(name);
      if (invalid) {
        items.push({
          [op]: {
            _index: name,
            _id: meta._id ?? null,
            status: 400,
            error: (invalid.json as { error: Cause }).error,
          },
        });
        continue;
      }
      if (source === null || typeof source !== 'object' || Array.isArray(source))
        return esError(400, {
          type: 'illegal_argument_exception',
          reason: 'The bulk request has a document line that is not an object',
        });
      if (op === 'create' && meta._id !== undefined && indices.get(name)?.docs.has(meta._id)) {
        items.push({
          create: {
            _index: name,
            _id: meta._id,
            status: 409,
            error: {
              type: 'version_conflict_engine_exception',
              reason: `[${meta._id}]: version conflict, document already exists (current version [1])`,
            },
          },
        });
        continue;
      }
      const { status, item } = put(
        name,
        meta._id,
        source as Record<string, unknown>,
        req.query.get('pipeline'),
      );
      items.push({ [op]: { ...item, status } });
    }
    const errors = items.some((i) =>
      Object.values(i).some((v) => (v as { error?: unknown }).error !== undefined),
    );
    return ok(200, { errors, took: 7, items });
  };

  function matches(query: Record<string, unknown>, source: Record<string, unknown>): boolean | Answer {
    const [kind, ...others] = Object.keys(query);
    if (kind === undefined || others.length > 0)
      return parsingError('[_na] query malformed, must start with start_object');
    const body = query[kind] as Record<string, unknown>;
    if (kind === 'match_all') return true;
    if (kind === 'term' || kind === 'match') {
      const [field] = Object.keys(body ?? {});
      if (field === undefined)
        return parsingError(`[${kind}] query malformed, no start_object after query name`);
      let wanted = body[field];
      if (wanted !== null && typeof wanted === 'object')
        wanted = (wanted as Record<string, unknown>)[kind === 'term' ? 'value' : 'query'];
      const actual = get(source, field);
      const values = Array.isArray(actual) ? actual : [actual];
      if (kind === 'term') return values.some((v) => v === wanted || String(v) === String(wanted));
      const words = String(wanted).toLowerCase().split(/\W+/).filter(Boolean);
      return values.some((v) => {
        const tokens = String(v).toLowerCase().split(/\W+/);
        return words.some((w) => tokens.includes(w));
      });
    }
    if (kind === 'bool') {
      for (const clause of ['must', 'filter'] as const) {
        const list = body[clause];
        for (const q of list === undefined ? [] : Array.isArray(list) ? list : [list]) {
          const m = matches(q as Record<string, unknown>, source);
          if (m !== true) return m;
        }
      }
      const not = body.must_not;
      for (const q of not === undefined ? [] : Array.isArray(not) ? not : [not]) {
        const m = matches(q as Record<string, unknown>, source);
        if (typeof m !== 'boolean') return m;
        if (m) return false;
      }
      return true;
    }
    return esError(400, { type: 'parsing_exception', reason: `unknown query [${kind}]`, line: 1, col: 13 });
  }

  const search: Route = (req) => {
    const target = indexName(req);
    const names: string[] = [];
    for (const part of target.split(',')) {
      if (part.includes('*')) {
        const re = new RegExp(
          `^${part
            .split('*')
            .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
            .join('.*')}$`,
        );
        names.push(...[...indices.keys()].filter((n) => re.test(n)));
      } else if (indices.has(part)) names.push(part);
      else
        return esError(404, {
          type: 'index_not_found_exception',
          reason: `no such index [${part}]`,
          'resource.type': 'index_or_alias',
          'resource.id': part,
          index_uuid: '_na_',
          index: part,
        });
    }
    const body = (req.json ?? {}) as {
      query?: Record<string, unknown>;
      size?: number;
      from?: number;
      sort?: (string | Record<string, unknown>)[];
      _source?: boolean | string[];
    };
    const query = body.query ?? { match_all: {} };
    const hits: {
      _index: string;
      _id: string;
      _score: number | null;
      _source?: Record<string, unknown>;
      sort?: unknown[];
    }[] = [];
    for (const name of [...new Set(names)].sort())
      for (const [id, doc] of indices.get(name)!.docs) {
        const m = matches(query, doc.source);
        if (typeof m !== 'boolean') return m;
        if (m) hits.push({ _index: name, _id: id, _score: 1, _source: doc.source });
      }
    const sort = (body.sort ?? []).map((s) =>
      typeof s === 'string'
        ? { field: s, order: s === '_score' ? 'desc' : 'asc' }
        : {
            field: Object.keys(s)[0]!,
            order: (() => {
              const v = Object.values(s)[0];
              return typeof v === 'string' ? v : ((v as { order?: string }).order ?? 'asc');
            })(),
          },
    );
    const bySort = sort.filter((s) => s.field !== '_score');
    if (bySort.length > 0) {
      hits.sort((a, b) => {
        for (const s of bySort) {
          const x = get(a._source!, s.field) as string | number;
          const y = get(b._source!, s.field) as string | number;
          if (x === y) continue;
          const c = x < y ? -1 : 1;
          return s.order === 'desc' ? -c : c;
        }
        return 0;
      });
      for (const h of hits) {
        h.sort = bySort.map((s) => get(h._source!, s.field));
        h._score = null;
      }
    }
    const from = body.from ?? 0;
    const size = body.size ?? 10;
    const page = hits.slice(from, from + size).map((h) => {
      const out = { ...h };
      if (body._source === false) delete out._source;
      else if (Array.isArray(body._source))
        out._source = Object.fromEntries(
          body._source.filter((f) => get(h._source!, f) !== undefined).map((f) => [f, get(h._source!, f)]),
        );
      return out;
    });
    return ok(200, {
      took: 2,
      timed_out: false,
      _shards: { total: names.length, successful: names.length, skipped: 0, failed: 0 },
      hits: {
        total: { value: hits.length, relation: 'eq' },
        max_score: hits.length === 0 || bySort.length > 0 ? null : 1,
        hits: page,
      },
    });
  };

  const server = (await standIn({
    'GET /': authenticated(() =>
      ok(200, {
        name: 'es01',
        cluster_name: 'osprey-test',
        cluster_uuid: 'wXlvK0cFT1y3Vh6eZrQ1Yg',
        version: {
          number: '8.15.3',
          build_flavor: 'default',
          build_type: 'docker',
          build_hash: 'f97532e680b555c3a05e73a74c28afb666923018',
          build_date: '2024-10-09T22:08:00.328917561Z',
          build_snapshot: false,
          lucene_version: '9.11.1',
          minimum_wire_compatibility_version: '7.17.0',
          minimum_index_compatibility_version: '7.0.0',
        },
        tagline: 'You Know, for Search',
      }),
    ),
    'POST /_bulk': authenticated(bulk),
    'POST /:index/_doc': authenticated(indexDoc),
    'POST /:index/_doc/:id': authenticated(indexDoc),
    'PUT /:index/_doc/:id': authenticated(indexDoc),
    'POST /:index/_search': authenticated(search),
    'GET /:index/_search': authenticated(search),
  })) as ElasticsearchStandIn;
  server.indices = indices;
  server.documents = (name) =>
    Object.fromEntries([...(indices.get(name)?.docs ?? [])].map(([id, d]) => [id, d.source]));
  return server;
}
