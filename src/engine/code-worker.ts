/**
 * A code worker: the entry of one `node:worker_threads` worker of the code worker pool
 * (code-worker-pool.ts). It compiles the QuickJS module once, says `ready`, then runs the jobs the
 * pool sends it, one at a time, and answers each with its result or error.
 *
 * Stopping: the pool aborts a job by setting a shared flag (`job.flag`, an Int32 in a
 * SharedArrayBuffer). The sandbox polls `signal.aborted` from QuickJS's interrupt handler, which
 * runs even while the code busy-loops and this thread's event loop is blocked, so the signal handed
 * to the sandbox reads that flag. Should the worker not answer anyway, the pool terminates it.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { CodeError, CodeSandbox, type CodeErrorCode, type CodeLimits } from './code-sandbox.js';

/** Pool → worker: run one code step. */
export interface CodeJobMessage {
  id: number;
  source: string;
  /** The inputs as JSON: stringified on the main thread, exactly as the sandbox would. */
  inputsJson: string;
  limits: CodeLimits;
  /** One Int32; the pool sets it to 1 to abort the job. */
  flag: SharedArrayBuffer;
}

/** How an error crosses the thread boundary. */
export type CodeJobError =
  | { kind: 'code'; code: CodeErrorCode; message: string; logs: string[] }
  | { kind: 'error'; name: string; message: string; stack?: string | undefined };

/** Worker → pool. */
export type CodeWorkerMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; output: unknown; logs: string[] }
  | { type: 'error'; id: number; error: CodeJobError };

const port: MessagePort = parentPort ?? fail('code-worker runs in a worker thread of the code worker pool');

const sandbox = await CodeSandbox.create();
let queue: Promise<void> = Promise.resolve();
port.on('message', (job: CodeJobMessage) => {
  queue = queue.then(() => run(job)); // the pool sends one job at a time; this only keeps it so
});
port.postMessage({ type: 'ready' } satisfies CodeWorkerMessage);

async function run(job: CodeJobMessage): Promise<void> {
  const flag = new Int32Array(job.flag);
  const signal = new AbortController().signal;
  Object.defineProperty(signal, 'aborted', { get: () => Atomics.load(flag, 0) !== 0 });
  let reply: CodeWorkerMessage;
  try {
    const { output, logs } = await sandbox.run(job.source, JSON.parse(job.inputsJson), job.limits, signal);
    reply = { type: 'result', id: job.id, output, logs };
  } catch (error) {
    reply = { type: 'error', id: job.id, error: serialize(error) };
  }
  try {
    port.postMessage(reply);
  } catch (error) {
    // Not expected (the output is parsed JSON), but the pool must hear about the job either way.
    port.postMessage({ type: 'error', id: job.id, error: serialize(error) } satisfies CodeWorkerMessage);
  }
}

function serialize(error: unknown): CodeJobError {
  if (error instanceof CodeError)
    return { kind: 'code', code: error.code, message: error.message, logs: error.logs };
  if (error instanceof Error)
    return { kind: 'error', name: error.name, message: error.message, stack: error.stack };
  return { kind: 'error', name: 'Error', message: String(error) };
}

function fail(message: string): never {
  throw new Error(message);
}
