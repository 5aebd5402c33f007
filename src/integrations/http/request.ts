import { ActionError } from '../action-error.js';
import type { OutboundHttp, OutboundPolicy } from './outbound.js';
import { retryableStatus, retryAfterFor, waitToRetry } from './retry-policy.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

export interface HttpRequestInput {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  /** Default true: a 4xx or 5xx answer fails the step (429 and 5xx honour Retry-After on retry). */
  fail_on_error_status?: boolean;
  max_redirects?: number;
}

/** The reference's HTTP step output. */
export interface HttpRequestOutput {
  status_code: number;
  headers: Record<string, string>;
  api_object: unknown;
}

function parseInput(raw: unknown): HttpRequestInput {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ActionError('INVALID_INPUT', 'with must be an object');
  const input = raw as Record<string, unknown>;
  if (typeof input.url !== 'string')
    throw new ActionError('INVALID_INPUT', 'with.url is required and must be a string');
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new ActionError('INVALID_INPUT', `with.url is not a URL: ${input.url}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ActionError('INVALID_INPUT', 'with.url must be http or https');
  const method = (typeof input.method === 'string' ? input.method : 'GET').toUpperCase();
  if (!(METHODS as readonly string[]).includes(method))
    throw new ActionError('INVALID_INPUT', `with.method must be one of ${METHODS.join(', ')}`);
  return { ...(input as unknown as HttpRequestInput), method };
}

/**
 * `http.request`: a generic outbound HTTP call for steps, through the guarded outbound client.
 */
export class HttpClient {
  constructor(private readonly outbound: OutboundHttp) {}

  /** `retries`: how often a 429 or 5xx answer is retried here (the integration's setting). */
  async run(
    raw: unknown,
    signal: AbortSignal,
    policy: OutboundPolicy = {},
    retries = 0,
  ): Promise<HttpRequestOutput> {
    const input = parseInput(raw);
    const url = new URL(input.url);
    for (const [k, v] of Object.entries(input.query ?? {})) url.searchParams.append(k, String(v));
    const headers: Record<string, string> = { 'user-agent': 'Osprey', ...lowerKeys(input.headers ?? {}) };
    let body: string | undefined;
    if (input.body !== undefined && input.body !== null) {
      if (typeof input.body === 'string') body = input.body;
      else {
        body = JSON.stringify(input.body);
        headers['content-type'] ??= 'application/json';
      }
    }
    const method = input.method ?? 'GET';
    for (let attempt = 0; ; attempt++) {
      const res = await this.outbound.send(
        { method, url, headers: { ...headers }, body, signal, maxRedirects: input.max_redirects ?? 5 },
        policy,
      );
      const output: HttpRequestOutput = {
        status_code: res.status,
        headers: res.headers,
        api_object: parseBody(res.text, res.headers['content-type']),
      };
      if (res.status < 400 || input.fail_on_error_status === false) return output;
      const after = retryAfterFor(res.status, res.headers);
      const retryable = retryableStatus(res.status, method, after);
      if (retryable && (await waitToRetry(attempt, retries, after, signal))) continue;
      throw new ActionError(
        'HTTP_ERROR',
        `${method} ${res.url.origin}${res.url.pathname} answered ${res.status}`,
        res.status === 429 || res.status >= 500 ? (after ?? 0) : undefined,
      );
    }
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return null;
  if (contentType?.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}
