// A client for the Orchestrate Open API over real HTTP that behaves as the reference's Python
// sample and client notes say a client must: every request signed in its query, every link.next
// signed again before it is followed, runs polled on P7 until they leave the active statuses.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import type { KeyPair, TestApp } from './app.js';
import { resign, sign } from './orchestrate.js';
import { conformPaged, type Shape } from './orchestrate-shapes.js';

export type Obj = Record<string, unknown>;

export interface Paged {
  count: number;
  link: { next: string | null; previous: string | null } | null;
  results: Obj[];
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  raw: Buffer;
  /** The body parsed, when it is JSON. */
  body: unknown;
}

interface ErrorBody {
  code: string;
  message: string;
  details: { field?: string; message: string }[];
}

/** Run statuses a run log leaves when it ends (§7). */
const ACTIVE = ['IN_QUEUE', 'IN_PROGRESS', 'WAITING', 'ON_HOLD'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port free on 127.0.0.1 now, to listen on and to name in OSPREY_PUBLIC_URL beforehand. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** One fetch, its body read whole and parsed when it is JSON. */
export async function http(url: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(url, init);
  const raw = Buffer.from(await res.arrayBuffer());
  const text = raw.toString('utf8');
  const json = (res.headers.get('content-type') ?? '').includes('json');
  return { status: res.status, headers: res.headers, text, raw, body: json ? JSON.parse(text) : undefined };
}

/** A JSON POST (or other method) to an absolute URL. */
export function sendJson(url: string, body: unknown, method = 'POST'): Promise<Reply> {
  return http(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** A native API call (bearer, inject) for a test's setup: it must succeed; its JSON body. */
export async function native(
  t: TestApp,
  method: 'GET' | 'POST' | 'PATCH',
  path: string,
  payload?: object,
): Promise<Obj> {
  const res = await t.request({ method, url: path, ...(payload === undefined ? {} : { payload }) });
  assert.ok(res.statusCode < 300, `${method} ${path}: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** POSTs `body` to a native collection and returns the id of the object under `key`. */
export async function created(t: TestApp, path: string, key: string, body: object): Promise<string> {
  return String(((await native(t, 'POST', path, body))[key] as Obj).id);
}

/** Creates a workflow from YAML, publishes it and returns its id. */
export async function publish(t: TestApp, yaml: string): Promise<string> {
  const id = await created(t, '/v1/workflows', 'workflow', { yaml });
  await native(t, 'POST', `/v1/workflows/${id}/publish`, {});
  return id;
}

/** Signed calls to `<base>/soarapi/openapi/<path>` as `key`. */
export class OpenApiClient {
  constructor(
    readonly base: string,
    readonly key: KeyPair,
  ) {}

  /** The signed URL of a path (no leading slash, trailing slash kept) with extra query fields. */
  url(path: string, query: Record<string, string> = {}, key: KeyPair = this.key): string {
    const extra = new URLSearchParams(query).toString();
    return `${this.base}/soarapi/openapi/${path}?${sign(key)}${extra ? `&${extra}` : ''}`;
  }

  get(path: string, query: Record<string, string> = {}): Promise<Reply> {
    return http(this.url(path, query));
  }

  send(method: string, path: string, body: unknown, query: Record<string, string> = {}): Promise<Reply> {
    return sendJson(this.url(path, query), body, method);
  }

  post(path: string, body: unknown, query: Record<string, string> = {}): Promise<Reply> {
    return this.send('POST', path, body, query);
  }

  /**
   * GETs every page, following each link.next after replacing its expiring signature; checks each
   * page against `Paged<item>` into `problems`, and that the pages hold `count` results.
   */
  async walk(
    path: string,
    query: Record<string, string>,
    item: Shape,
    problems: string[],
  ): Promise<{ count: number; results: Obj[]; pages: number }> {
    let res = await this.get(path, query);
    const results: Obj[] = [];
    let count = -1;
    let pages = 0;
    for (;;) {
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      pages++;
      conformPaged(res.body, item, path, problems);
      const page = res.body as Paged;
      if (count === -1) count = page.count;
      assert.equal(page.count, count, `${path}: the count is the same on every page`);
      results.push(...page.results);
      const next = page.link?.next ?? null;
      if (!next) break;
      assert.ok(next.startsWith(`openapi/${path}?`), `${path}: link.next is relative: ${next}`);
      assert.match(next, new RegExp(`[?&]page=${pages + 1}(&|$)`));
      assert.match(next, /[?&]Signature=/, 'link.next carries the signature it was asked with');
      assert.ok(pages < 50, `${path}: too many pages`);
      res = await http(`${this.base}${resign(next, this.key)}`);
    }
    assert.equal(results.length, count, `${path}: the pages hold count results`);
    return { count, results, pages };
  }

  /** Polls P7 until `until` holds (by default: the run has ended), for at most `ms`. */
  async runLog(
    id: string,
    until: (r: Obj) => boolean = (r) => !ACTIVE.includes(String(r.status)),
    ms = 30_000,
  ): Promise<Obj> {
    const deadline = Date.now() + ms;
    let last = '';
    while (Date.now() < deadline) {
      const r = await this.get(`v1/playbook/playbook-result/${id}/`);
      assert.equal(r.status, 200, r.text);
      if (until(r.body as Obj)) return r.body as Obj;
      last = r.text;
      await sleep(25);
    }
    throw new Error(`run ${id} did not reach the state in ${ms} ms: ${last}`);
  }
}

/** Asserts an error answer: the status, `{code, message, details}`, and the field named in both. */
export function assertOpenError(r: Reply, status: number, code: string | RegExp, field?: string): void {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.text}`);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  const b = r.body as ErrorBody;
  assert.deepEqual(Object.keys(b).sort(), ['code', 'details', 'message'], r.text);
  if (typeof code === 'string') assert.equal(b.code, code, r.text);
  else assert.match(b.code, code, r.text);
  assert.ok(b.message.length > 0);
  assert.doesNotMatch(r.text, /\.ts:\d+|node_modules/, 'no stack trace');
  if (field) {
    assert.ok(
      b.details.some((d) => d.field === field),
      `details name ${field}: ${r.text}`,
    );
    assert.ok(b.message.includes(field), `the message names ${field}: ${b.message}`);
  }
}
