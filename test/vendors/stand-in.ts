import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request a stand-in received, with its body read. */
export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  url: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  /** The body parsed as JSON when it is JSON, else undefined. */
  json: unknown;
}

/** What a route answers: a status, a JSON (or raw text) body, headers. */
export interface Answer {
  status?: number | undefined;
  json?: unknown;
  text?: string | undefined;
  headers?: Record<string, string> | undefined;
}

export type Route = (req: RecordedRequest) => Answer | Promise<Answer>;

/**
 * A local HTTP server that answers as a vendor's API does. `routes` maps "METHOD /path/pattern" to
 * an answer; `:name` segments match anything. Every request is recorded. `failNext` makes the next
 * request(s) answer something else (a 429, a 500, malformed JSON) before the routes apply again.
 */
export class StandIn {
  readonly requests: RecordedRequest[] = [];
  #server!: Server;
  #overrides: Answer[] = [];
  url = '';

  constructor(private readonly routes: Record<string, Route>) {}

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** The next `times` requests get `answer` instead of their route's. */
  failNext(answer: Answer, times = 1): void {
    for (let i = 0; i < times; i++) this.#overrides.push(answer);
  }

  /** The requests whose path matches. */
  received(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    let json: unknown;
    try {
      json = body ? (JSON.parse(body) as unknown) : undefined;
    } catch {
      json = undefined;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body,
      json,
    };
    this.requests.push(recorded);
    let answer: Answer | undefined = this.#overrides.shift();
    if (!answer) {
      const route = this.#match(recorded.method, url.pathname);
      answer = route ? await route(recorded) : { status: 404, json: { error: 'no such route' } };
    }
    const headers: Record<string, string> = { ...answer.headers };
    let payload = '';
    if (answer.text !== undefined) payload = answer.text;
    else if (answer.json !== undefined) {
      payload = JSON.stringify(answer.json);
      headers['content-type'] ??= 'application/json';
    }
    res.writeHead(answer.status ?? 200, headers);
    res.end(payload);
  }

  #match(method: string, path: string): Route | undefined {
    for (const [key, route] of Object.entries(this.routes)) {
      const [m, pattern] = key.split(' ') as [string, string];
      if (m !== method) continue;
      const re = new RegExp(`^${pattern.replace(/:[A-Za-z_]+/g, '[^/]+').replace(/\*$/, '.*')}$`);
      if (re.test(path)) return route;
    }
    return undefined;
  }
}

/** Starts a stand-in; call close() when done. */
export function standIn(routes: Record<string, Route>): Promise<StandIn> {
  return new StandIn(routes).start();
}
