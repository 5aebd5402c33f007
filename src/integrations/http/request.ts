import { Agent, request } from 'undici';
import { ActionError } from '../action-error.js';
import type { SsrfGuard } from './ssrf-guard.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

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

function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export interface HttpClientOptions {
  guard: SsrfGuard;
  /** Largest response body read, in bytes. */
  maxResponseBytes?: number;
  connectTimeoutMs?: number;
}

/**
 * `http.request`: outbound HTTP for steps. Every connection's address is checked by the SSRF guard
 * after DNS resolution; redirects are followed by hand (each hop checked), bodies are capped, and
 * TLS certificates are verified.
 */
export class HttpClient {
  readonly #agent: Agent;
  readonly #guard: SsrfGuard;
  readonly #maxBytes: number;

  constructor(options: HttpClientOptions) {
    this.#guard = options.guard;
    this.#maxBytes = options.maxResponseBytes ?? 10 * 1024 * 1024;
    this.#agent = new Agent({
      connect: { lookup: options.guard.lookup, timeout: options.connectTimeoutMs ?? 10_000 },
    });
  }

  async run(raw: unknown, signal: AbortSignal): Promise<HttpRequestOutput> {
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
    let method = input.method ?? 'GET';
    let target = url;
    for (let hop = 0; ; hop++) {
      let res;
      try {
        this.#guard.checkLiteral(target.hostname);
        res = await request(target, {
          method: method as 'GET',
          headers,
          body: body ?? null,
          dispatcher: this.#agent,
          signal,
        });
      } catch (error) {
        const cause = (error as { cause?: unknown }).cause;
        const e =
          (error as Error).name === 'BlockedAddressError'
            ? error
            : cause instanceof Error && cause.name === 'BlockedAddressError'
              ? cause
              : undefined;
        if (e) throw new ActionError('ADDRESS_BLOCKED', (e as Error).message);
        if (signal.aborted) throw new ActionError('STEP_TIMEOUT', 'the request timed out');
        throw new ActionError('CONNECTION_FAILED', `${target.origin}: ${(error as Error).message}`);
      }
      if (REDIRECTS.has(res.statusCode) && typeof res.headers.location === 'string') {
        await res.body.dump();
        if (hop >= (input.max_redirects ?? 5))
          throw new ActionError('TOO_MANY_REDIRECTS', `more than ${input.max_redirects ?? 5} redirects`);
        target = new URL(res.headers.location, target);
        if (res.statusCode === 303) {
          method = 'GET';
          body = undefined;
        }
        continue;
      }
      const text = await this.#read(res.body);
      const responseHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) responseHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
      const output: HttpRequestOutput = {
        status_code: res.statusCode,
        headers: responseHeaders,
        api_object: parseBody(text, responseHeaders['content-type']),
      };
      if (res.statusCode >= 400 && input.fail_on_error_status !== false) {
        const retryable = res.statusCode === 429 || res.statusCode >= 500;
        throw new ActionError(
          'HTTP_ERROR',
          `${method} ${target.origin}${target.pathname} answered ${res.statusCode}`,
          retryable ? (retryAfterMs(res.headers['retry-after']) ?? 0) : undefined,
        );
      }
      return output;
    }
  }

  async #read(stream: AsyncIterable<Buffer>): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of stream) {
      size += chunk.length;
      if (size > this.#maxBytes)
        throw new ActionError('RESPONSE_TOO_LARGE', `the response is larger than ${this.#maxBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async close(): Promise<void> {
    await this.#agent.close();
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
