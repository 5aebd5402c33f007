/**
 * Runs code steps off the main thread: a small pool of `node:worker_threads` workers, each of which
 * compiles the QuickJS sandbox once (code-worker.ts) and runs one job at a time. QuickJS runs
 * synchronously, so in-thread a busy loop would hold the event loop (the API, lease heartbeats,
 * other executions) until its deadline; in a worker it holds only that worker.
 *
 * - Workers start on demand, up to `size`; jobs beyond that wait in FIFO order. An idle worker is
 *   `unref()`'d, so the pool never keeps the process alive; `close()` terminates the workers.
 * - Results and errors are the sandbox's own: a CodeError arrives with its code, message and logs.
 * - Stopping: the sandbox stops the code itself at `timeoutMs` or when the signal aborts (the pool
 *   forwards an abort through shared memory, which the sandbox's interrupt handler reads even
 *   during a busy loop). The main thread enforces both as well: a worker that has not answered
 *   `graceMs` after `timeoutMs`, or `abortGraceMs` after an abort, is terminated and the job answers
 *   CODE_TIMEOUT / CODE_ABORTED (without logs: they died with the worker). A worker that crashes
 *   fails only its job (CODE_ERROR). A worker that ran before is replaced at once.
 * - Worker file: `code-worker.ts` beside this module when this module is TypeScript (tsx, tests),
 *   otherwise `code-worker.js` (the build). Workers inherit the process's `execArgv`, but tsx does
 *   not register its hooks in worker threads on Node 20 (`--import tsx` there is a no-op), so a
 *   TypeScript worker starts from a small bootstrap that registers tsx and then imports it.
 */
import { extname } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CodeError, type CodeLimits, type CodeResult } from './code-sandbox.js';
import type { CodeJobError, CodeJobMessage, CodeWorkerMessage } from './code-worker.js';

export interface CodeWorkerPoolOptions {
  /** How many workers may run at once (default 2). */
  size?: number;
  /** How long after `timeoutMs` a silent worker is terminated (default 1000 ms). */
  graceMs?: number;
  /** How long after an abort a silent worker is terminated (default 100 ms; 0 terminates at once). */
  abortGraceMs?: number;
  /** How long a new worker may take to load the sandbox (default 30 s). */
  startTimeoutMs?: number;
  /** Starts a worker; for tests (the default runs code-worker.ts/.js). */
  spawn?: () => Worker;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  dead: boolean;
  job: Job | undefined;
  startTimer: NodeJS.Timeout | undefined;
}

interface Job {
  id: number;
  source: string;
  inputsJson: string;
  limits: CodeLimits;
  flag: Int32Array;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  slot: Slot | undefined;
  posted: boolean;
  done: boolean;
  timers: NodeJS.Timeout[];
  resolve(result: CodeResult): void;
  reject(error: Error): void;
}

const MAX_TIMER = 2 ** 31 - 1; // setTimeout's longest delay

const ownExtension = extname(new URL(import.meta.url).pathname);
const WORKER_URL = new URL(`./code-worker${ownExtension === '.ts' ? '.ts' : '.js'}`, import.meta.url);

/** Starts a code worker from `WORKER_URL`; see the module comment about TypeScript. */
export function startCodeWorker(): Worker {
  if (ownExtension === '.ts') {
    const tsx = tsxApi();
    if (tsx)
      return new Worker(
        `import(${JSON.stringify(tsx)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(WORKER_URL.href)}))`,
        { eval: true },
      );
  }
  return new Worker(WORKER_URL);
}

function tsxApi(): string | undefined {
  try {
    return import.meta.resolve('tsx/esm/api');
  } catch {
    return undefined; // TypeScript without tsx (a runtime that strips types): the file loads as is
  }
}

export class CodeWorkerPool {
  readonly size: number;
  readonly #graceMs: number;
  readonly #abortGraceMs: number;
  readonly #startTimeoutMs: number;
  readonly #spawn: () => Worker;
  readonly #slots: Slot[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: CodeWorkerPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? 2));
    this.#graceMs = options.graceMs ?? 1000;
    this.#abortGraceMs = options.abortGraceMs ?? 100;
    this.#startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.#spawn = options.spawn ?? startCodeWorker;
  }

  /** Workers started and not yet gone (for tests and metrics). */
  get workers(): number {
    return this.#slots.length;
  }

  /** Runs `source` like `CodeSandbox.run`, in a worker. */
  async run(source: string, inputs: unknown, limits: CodeLimits, signal?: AbortSignal): Promise<CodeResult> {
    if (this.#closed) throw new CodeError('CODE_ABORTED', 'the code was stopped: the code sandbox is closed');
    if (signal?.aborted) throw notStarted();
    const inputsJson = JSON.stringify(inputs ?? null);
    return new Promise<CodeResult>((resolve, reject) => {
      const job: Job = {
        id: this.#nextId++,
        source,
        inputsJson,
        limits: { memoryMb: limits.memoryMb, timeoutMs: limits.timeoutMs },
        flag: new Int32Array(new SharedArrayBuffer(4)),
        signal,
        onAbort: undefined,
        slot: undefined,
        posted: false,
        done: false,
        timers: [],
        resolve,
        reject,
      };
      if (signal) {
        job.onAbort = () => this.#abort(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  /** Terminates every worker; jobs still queued or running fail with CODE_ABORTED. */
  async close(): Promise<void> {
    this.#closed = true;
    const error = () => new CodeError('CODE_ABORTED', 'the code was stopped: the code sandbox is closed');
    for (const job of this.#queue.splice(0)) this.#settle(job, error());
    await Promise.all([...this.#slots].map((slot) => this.#kill(slot, error())));
  }

  /** Hands queued jobs to idle workers, starting workers up to `size`. */
  #pump(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      let slot = this.#slots.find((s) => !s.job && s.ready) ?? this.#slots.find((s) => !s.job);
      if (!slot) {
        if (this.#slots.length >= this.size) return;
        try {
          slot = this.#start();
        } catch (error) {
          this.#settle(this.#queue.shift()!, crashed(error)); // e.g. the Worker refused its execArgv
          continue;
        }
      }
      const job = this.#queue.shift()!;
      slot.job = job;
      job.slot = slot;
      slot.worker.ref();
      if (slot.ready) this.#post(slot, job);
    }
  }

  #start(): Slot {
    const slot: Slot = {
      worker: this.#spawn(),
      ready: false,
      dead: false,
      job: undefined,
      startTimer: undefined,
    };
    const { worker } = slot;
    worker.unref();
    slot.startTimer = setTimeout(
      () =>
        void this.#kill(
          slot,
          new CodeError(
            'CODE_ERROR',
            `the code sandbox failed: its worker did not start within ${this.#startTimeoutMs} ms`,
          ),
        ),
      this.#startTimeoutMs,
    ).unref();
    worker.on('message', (message: CodeWorkerMessage) => this.#receive(slot, message));
    worker.on('error', (error: unknown) => void this.#kill(slot, crashed(error)));
    worker.on('messageerror', (error) => void this.#kill(slot, crashed(error)));
    worker.on(
      'exit',
      (code) => void this.#kill(slot, crashed(new Error(`its worker exited (code ${code})`))),
    );
    this.#slots.push(slot);
    return slot;
  }

  #post(slot: Slot, job: Job): void {
    job.posted = true;
    const message: CodeJobMessage = {
      id: job.id,
      source: job.source,
      inputsJson: job.inputsJson,
      limits: job.limits,
      flag: job.flag.buffer as SharedArrayBuffer,
    };
    slot.worker.postMessage(message);
    const deadline = Math.min(job.limits.timeoutMs + this.#graceMs, MAX_TIMER);
    job.timers.push(
      setTimeout(
        () =>
          void this.#kill(
            slot,
            new CodeError('CODE_TIMEOUT', `the code ran longer than ${job.limits.timeoutMs} ms`),
          ),
        deadline,
      ),
    );
  }

  #receive(slot: Slot, message: CodeWorkerMessage): void {
    if (slot.dead) return;
    if (message.type === 'ready') {
      slot.ready = true;
      clearTimeout(slot.startTimer);
      if (slot.job && !slot.job.posted) this.#post(slot, slot.job);
      else this.#pump();
      return;
    }
    const job = slot.job;
    if (!job || job.id !== message.id) return; // an answer to a job already settled
    this.#release(slot);
    this.#settle(
      job,
      message.type === 'result' ? { output: message.output, logs: message.logs } : revive(message.error),
    );
    this.#pump();
  }

  #abort(job: Job): void {
    if (job.done) return;
    const slot = job.slot;
    if (!slot) {
      const queued = this.#queue.indexOf(job);
      if (queued >= 0) this.#queue.splice(queued, 1);
      this.#settle(job, notStarted());
    } else if (!job.posted) {
      // Its worker is still starting: it can take the next job instead.
      this.#release(slot);
      this.#settle(job, notStarted());
      this.#pump();
    } else {
      Atomics.store(job.flag, 0, 1); // the sandbox stops at its next interrupt check and answers
      const kill = () =>
        void this.#kill(
          slot,
          new CodeError('CODE_ABORTED', 'the code was stopped: its step was cancelled or timed out'),
        );
      if (this.#abortGraceMs <= 0) kill();
      else job.timers.push(setTimeout(kill, this.#abortGraceMs));
    }
  }

  /** Terminates `slot`'s worker (if it is still the pool's) and fails its job with `error`. */
  async #kill(slot: Slot, error: Error): Promise<void> {
    if (slot.dead) return;
    slot.dead = true;
    clearTimeout(slot.startTimer);
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    const job = slot.job;
    slot.job = undefined;
    const terminated = slot.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
    if (job) this.#settle(job, error);
    // A worker that had started is replaced at once; one that never started is not (no spawn loop).
    if (slot.ready && !this.#closed && this.#slots.length < this.size) attempt(() => this.#start());
    this.#pump();
    await terminated;
  }

  #release(slot: Slot): void {
    slot.job = undefined;
    slot.worker.unref();
  }

  #settle(job: Job, outcome: CodeResult | Error): void {
    if (job.done) return;
    job.done = true;
    for (const timer of job.timers) clearTimeout(timer);
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }
}

function notStarted(): CodeError {
  return new CodeError('CODE_ABORTED', 'the code was stopped before it started');
}

function crashed(error: unknown): CodeError {
  const reason = error instanceof Error ? error.message : String(error);
  return new CodeError('CODE_ERROR', `the code sandbox failed: ${reason}`);
}

function attempt(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // ignored: the next job that needs a worker starts one, and fails if it cannot
  }
}

/** Rebuilds an error sent by a worker. */
function revive(error: CodeJobError): Error {
  if (error.kind === 'code') return new CodeError(error.code, error.message, error.logs);
  const revived = new Error(error.message);
  revived.name = error.name;
  if (error.stack) revived.stack = error.stack;
  return revived;
}
