import type { CodeLimits, CodeResult } from './code-sandbox.js';
import { CodeWorkerPool, type CodeWorkerPoolOptions } from './code-worker-pool.js';
import type { CodeRunner } from './step-host.js';

/**
 * Runs code steps in a pool of worker threads (code-worker-pool.ts), so a busy loop never blocks the
 * main thread. Workers start on the first code step, so processes that run none never load QuickJS.
 */
export class LazyCodeSandbox implements CodeRunner {
  readonly #options: CodeWorkerPoolOptions;
  #pool: CodeWorkerPool | undefined;

  constructor(options: CodeWorkerPoolOptions = {}) {
    this.#options = options;
  }

  async run(source: string, inputs: unknown, limits: CodeLimits, signal?: AbortSignal): Promise<CodeResult> {
    this.#pool ??= new CodeWorkerPool(this.#options);
    return this.#pool.run(source, inputs, limits, signal);
  }

  /** Terminates the workers (idle ones never keep the process alive, so this is optional). */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.close();
  }
}
