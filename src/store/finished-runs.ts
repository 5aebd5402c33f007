import pg from 'pg';
import type { Database } from './database.js';

/** Runs started by a caller that waits for them (`/sync` webhooks, `?wait=true`) announce their end here. */
export const FINISHED_CHANNEL = 'osprey_finished';

/** How often a waiter looks again should a notification be missed (a reconnect, a restart). */
const RECHECK_MS = 1000;

/**
 * Waits for runs to end without polling: one LISTEN connection per process, opened on first use.
 * A waiter checks once after registering (the run may already have ended) and again on each
 * notification for its run, or every second as a safety net.
 */
export class FinishedRuns {
  #client: Promise<pg.Client> | undefined;
  readonly #waiters = new Map<string, Set<() => void>>();
  #closed = false;

  constructor(private readonly db: Database) {}

  #listen(): Promise<pg.Client> {
    this.#client ??= (async () => {
      const client = new pg.Client(this.db.pool.options);
      client.on('notification', (message) => {
        for (const wake of this.#waiters.get(message.payload ?? '') ?? []) wake();
      });
      client.on('error', () => {
        // Dropped: the next waiter reconnects; current ones fall back to their recheck.
        this.#client = undefined;
        client.end().catch(() => undefined);
      });
      await client.connect();
      await client.query(`LISTEN ${FINISHED_CHANNEL}`);
      return client;
    })().catch((error: unknown) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  /**
   * Calls `check` until it answers something (the run ended) or `timeoutMs` passes; answers the
   * last result (undefined on timeout).
   */
  async waitFor<T>(
    id: string,
    check: () => Promise<T | undefined>,
    timeoutMs: number,
  ): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    let signal: (() => void) | undefined;
    const wake = (): void => signal?.();
    let set = this.#waiters.get(id);
    if (!set) this.#waiters.set(id, (set = new Set()));
    set.add(wake);
    try {
      await this.#listen().catch(() => undefined);
      for (;;) {
        const notified = new Promise<void>((resolve) => (signal = resolve));
        const result = await check();
        if (result !== undefined || this.#closed) return result;
        const left = deadline - Date.now();
        if (left <= 0) return undefined;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          notified,
          new Promise<void>((r) => (timer = setTimeout(r, Math.min(left, RECHECK_MS)))),
        ]);
        clearTimeout(timer);
      }
    } finally {
      set.delete(wake);
      if (set.size === 0) this.#waiters.delete(id);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) await (await client.catch(() => undefined))?.end().catch(() => undefined);
  }
}
