import type { Clock } from '../domain/clock.js';
import { OspreyError } from '../domain/errors.js';

/**
 * A fixed one-second window per key (a webhook), held in this process: beyond `perSecond`
 * deliveries in the same second, 429 RATE_LIMITED with Retry-After.
 */
export class PerSecondLimit {
  readonly #buckets = new Map<string, { second: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly perSecond: number,
    private readonly what: string,
  ) {}

  take(key: string): void {
    const second = Math.floor(this.clock.now() / 1000);
    const bucket = this.#buckets.get(key);
    if (!bucket || bucket.second !== second) {
      if (this.#buckets.size > 10_000) this.#buckets.clear();
      this.#buckets.set(key, { second, count: 1 });
      return;
    }
    if (++bucket.count > this.perSecond) {
      throw new OspreyError(
        'RATE_LIMITED',
        429,
        `${this.what} takes at most ${this.perSecond} requests a second; retry after the time in Retry-After`,
        { headers: { 'retry-after': '1' }, kind: 'transient' },
      );
    }
  }
}
