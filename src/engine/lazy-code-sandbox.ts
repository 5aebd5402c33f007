import { CodeSandbox } from './code-sandbox.js';
import type { CodeRunner } from './step-host.js';

/** Compiles the QuickJS module on the first code step, so processes that run none never load it. */
export class LazyCodeSandbox implements CodeRunner {
  #sandbox: Promise<CodeSandbox> | undefined;

  async run(
    source: string,
    inputs: unknown,
    limits: { memoryMb: number; timeoutMs: number },
    signal?: AbortSignal,
  ): Promise<{ output: unknown; logs: string[] }> {
    this.#sandbox ??= CodeSandbox.create();
    return (await this.#sandbox).run(source, inputs, limits, signal);
  }
}
