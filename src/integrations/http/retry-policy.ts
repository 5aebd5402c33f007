import { setTimeout as sleep } from 'node:timers/promises';

/** The longest Retry-After an action waits out itself; a longer one fails for the step's retry. */
export const MAX_INLINE_WAIT_MS = 30_000;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * When to come back after an answer: Retry-After, else, for a rate limit (429) only, the reset
 * headers vendors send instead (Okta's X-Rate-Limit-Reset, CrowdStrike's X-RateLimit-RetryAfter,
 * GitHub's X-RateLimit-Reset), which hold epoch seconds (or, when small, seconds to wait). Vendors
 * send those on every answer, so on any other status they say nothing about when to retry.
 */
export function retryAfterFor(
  status: number,
  headers: Record<string, string | string[] | undefined>,
): number | undefined {
  const standard = retryAfterMs(headers['retry-after']);
  if (standard !== undefined || status !== 429) return standard;
  for (const name of ['x-ratelimit-retryafter', 'x-rate-limit-reset', 'x-ratelimit-reset']) {
    const raw = headers[name];
    const value = Number(Array.isArray(raw) ? raw[0] : raw);
    if (!raw || !Number.isFinite(value)) continue;
    return value > 1e9 ? Math.max(0, value * 1000 - Date.now()) : Math.max(0, value * 1000);
  }
  return undefined;
}

/**
 * Whether an answer may be retried: 429 always (the request was not processed), 5xx for idempotent
 * methods, and for POST or PATCH only a 503 that says when to come back.
 */
export function retryableStatus(status: number, method: string, retryAfter: number | undefined): boolean {
  return (
    status === 429 ||
    (status >= 500 && (IDEMPOTENT.has(method) || (status === 503 && retryAfter !== undefined)))
  );
}

/** A connection that failed before any answer may be retried for idempotent methods. */
export function retryableConnection(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * Waits before attempt `attempt + 1` and answers true, or answers false when no retry is left or the
 * wait is longer than an action waits itself. Waits Retry-After when given, else 250 ms, 500 ms, 1 s…
 */
export async function waitToRetry(
  attempt: number,
  retries: number,
  retryAfter: number | undefined,
  signal: AbortSignal,
): Promise<boolean> {
  if (attempt >= retries) return false;
  const wait = retryAfter ?? Math.min(8000, 250 * 2 ** attempt);
  if (wait > MAX_INLINE_WAIT_MS) return false;
  await sleep(wait, undefined, { signal });
  return true;
}
