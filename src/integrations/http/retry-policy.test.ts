import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryableStatus, retryAfterFor, retryAfterMs, waitToRetry } from './retry-policy.js';

describe('retry policy', () => {
  it('reads Retry-After as seconds or a date, and the vendors’ reset headers', () => {
    assert.equal(retryAfterMs('3'), 3000);
    const inTwo = new Date(Date.now() + 2000).toUTCString();
    const ms = retryAfterMs(inTwo)!;
    assert.ok(ms > 0 && ms <= 2000, String(ms));
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterFor(429, { 'retry-after': '1', 'x-rate-limit-reset': '9999999999' }), 1000);
    const epoch = Math.floor(Date.now() / 1000) + 5;
    const okta = retryAfterFor(429, { 'x-rate-limit-reset': String(epoch) })!;
    assert.ok(okta > 3000 && okta <= 5000, String(okta));
    assert.equal(retryAfterFor(429, { 'x-ratelimit-retryafter': '2' }), 2000);
    assert.equal(retryAfterFor(429, {}), undefined);
    // on other answers the reset headers (sent on every answer) are not a retry time
    assert.equal(retryAfterFor(500, { 'x-rate-limit-reset': String(epoch) }), undefined);
    assert.equal(retryAfterFor(503, { 'retry-after': '2' }), 2000);
  });

  it('retries 429 always, 5xx only when idempotent, and a POST only on a 503 that says when', () => {
    assert.equal(retryableStatus(429, 'POST', undefined), true);
    assert.equal(retryableStatus(500, 'GET', undefined), true);
    assert.equal(retryableStatus(500, 'POST', undefined), false);
    assert.equal(retryableStatus(503, 'POST', undefined), false);
    assert.equal(retryableStatus(503, 'POST', 1000), true);
    assert.equal(retryableStatus(404, 'GET', undefined), false);
  });

  it('waits out a short Retry-After, refuses a long one and stops when no retry is left', async () => {
    const signal = new AbortController().signal;
    const started = Date.now();
    assert.equal(await waitToRetry(0, 2, 50, signal), true);
    assert.ok(Date.now() - started >= 45);
    assert.equal(await waitToRetry(0, 2, 60_000, signal), false);
    assert.equal(await waitToRetry(2, 2, 0, signal), false);
    const aborted = AbortSignal.abort();
    await assert.rejects(waitToRetry(0, 2, 1000, aborted));
  });
});
