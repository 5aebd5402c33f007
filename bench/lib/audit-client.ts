// GET /v1alpha/audit_logs through Fastify's app.inject (the whole HTTP stack but the TCP socket),
// timed, and the checks every measured page must pass.
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';

export const AUDIT_LOGS_PATH = '/v1alpha/audit_logs';

export interface AuditPage {
  audit_logs: { id: string; timestamp: string }[];
  next_page_token?: string;
}

export type AuditQuery = Record<string, string | number | undefined>;

export class AuditClient {
  constructor(
    private readonly app: FastifyInstance,
    private readonly token: string,
  ) {}

  /** Exchanges an API key (`client_id:client_secret`) for a bearer token through POST /v1/auth/token. */
  static async login(app: FastifyInstance, apiKey: string): Promise<AuditClient> {
    const res = await app.inject({ method: 'POST', url: '/v1/auth/token', payload: { apiKey } });
    if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`);
    return new AuditClient(app, res.json<{ access_token: string }>().access_token);
  }

  /** One page; returns the latency in ms (around app.inject) and the body (parsed untimed). */
  async page(query: AuditQuery): Promise<[number, AuditPage]> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const url = qs.size ? `${AUDIT_LOGS_PATH}?${qs.toString()}` : AUDIT_LOGS_PATH;
    const t0 = performance.now();
    const res = await this.app.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${this.token}` },
    });
    const ms = performance.now() - t0;
    if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    return [ms, res.json<AuditPage>()];
  }
}

export interface PageExpectation {
  size: number;
  order: 'asc' | 'desc';
  /** Exclusive window bounds in the store's text form (microseconds), compared as strings. */
  start: string;
  end: string;
}

/** The page has `size` entries, strictly in `order`, all inside the window. */
export function checkPage(page: AuditPage, expect: PageExpectation): void {
  const entries = page.audit_logs;
  if (entries.length !== expect.size)
    throw new Error(`expected ${expect.size} entries, got ${entries.length}`);
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1]!.timestamp;
    const b = entries[i]!.timestamp;
    if (expect.order === 'asc' ? !(a < b) : !(a > b))
      throw new Error(`entries out of ${expect.order} order: ${a}, ${b}`);
  }
  for (const e of entries) {
    if (!(e.timestamp > expect.start && e.timestamp < expect.end))
      throw new Error(`entry outside the window: ${e.timestamp}`);
  }
}
