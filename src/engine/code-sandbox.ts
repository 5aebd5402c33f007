/**
 * Code steps: the user's JavaScript, run in a QuickJS WebAssembly sandbox.
 *
 * - `source` is the body of an async function. It sees `inputs` (a deep copy of the JSON
 *   inputs, also global) and answers with `return …`; it may `await`. The value is moved to the
 *   host as JSON (stringified inside the sandbox, parsed here); `undefined` becomes `null`, and
 *   nested values JSON drops (functions, `undefined` properties) are dropped.
 * - `console.log/info/warn/error/debug` are captured: the first 100 lines, 64 KiB in all.
 * - Nothing else from the host exists: a bare QuickJS context, no std/os modules, no module
 *   loader (`import()` rejects), no `require`, `process`, `fetch`, timers or I/O.
 * - Every run gets a fresh WebAssembly instance (from one compiled module per process) whose
 *   linear memory may grow to `memoryMb` + 16 MiB and no further. QuickJS's own memory limit
 *   only bounds single allocations in the prebuilt WASM (it cannot measure block sizes), so the
 *   capped memory is what enforces the limit; it also means a broken run can poison nothing.
 * - Time: QuickJS's interrupt handler stops the code after `timeoutMs` or once `signal` has
 *   aborted. Run directly, synchronous code blocks its thread; the engine therefore runs this
 *   sandbox in worker threads (code-worker-pool.ts), which also signal aborts through shared
 *   memory and terminate a worker that overstays its deadline.
 * - Failures throw a `CodeError` (an `ActionError`) with the logs so far and one of the codes
 *   below. Deep recursion is `CODE_STACK_OVERFLOW`, whether QuickJS's 256 KiB stack limit or
 *   the host's own stack (native recursion such as JSON of a deeply nested object) ran out.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import RELEASE_SYNC from '@jitl/quickjs-wasmfile-release-sync';
import {
  newQuickJSWASMModuleFromVariant,
  newVariant,
  type DisposableResult,
  type QuickJSHandle,
  type QuickJSSyncVariant,
} from 'quickjs-emscripten-core';
import { ActionError } from '../integrations/action-error.js';

export type CodeErrorCode =
  | 'CODE_SYNTAX_ERROR' // the source does not parse
  | 'CODE_ERROR' // the code threw (or awaited a promise that can never settle)
  | 'CODE_TIMEOUT' // it ran longer than timeoutMs
  | 'CODE_ABORTED' // the caller's signal aborted
  | 'CODE_MEMORY_LIMIT' // it needed more than memoryMb
  | 'CODE_STACK_OVERFLOW' // its recursion went too deep
  | 'CODE_OUTPUT_INVALID'; // the result is not JSON (a function, symbol, BigInt, cycle) or over 1 MiB

/** A code step's failure: a stable code, a message for the user, and what it logged. */
export class CodeError extends ActionError {
  override name = 'CodeError';
  declare readonly code: CodeErrorCode;
  constructor(
    code: CodeErrorCode,
    message: string,
    readonly logs: string[] = [],
  ) {
    super(code, message);
  }
}

export interface CodeLimits {
  memoryMb: number;
  timeoutMs: number;
}

export interface CodeResult {
  output: unknown;
  logs: string[];
}

const MIB = 1024 * 1024;
const PAGES_PER_MIB = 16; // WebAssembly pages are 64 KiB
const BASE_MIB = 16; // the module's initial memory: its data, C stack and QuickJS's own heap
const MAX_STACK = 256 * 1024; // QuickJS catches plain recursion before Node's stack (~1 MiB) runs out
const MAX_LOG_LINES = 100;
const MAX_LOG_BYTES = 64 * 1024;
const MAX_OUTPUT = MIB;
const FILE = 'code.js';

// Runs first, in the sandbox: installs console and inputs, answers the output serializer.
const BOOTSTRAP = `(function (hostLog, inputsJson) {
  const stringify = JSON.stringify;
  const show = (v) => {
    try { return typeof v === 'string' ? v : v instanceof Error ? String(v) : stringify(v) ?? String(v); }
    catch { return Object.prototype.toString.call(v); }
  };
  const log = (...args) => { hostLog(args.map(show).join(' ').slice(0, ${MAX_LOG_BYTES})); };
  globalThis.console = { log, info: log, warn: log, error: log, debug: log };
  globalThis.inputs = JSON.parse(inputsJson);
  return (value) => {
    if (value === undefined) return 'null';
    const json = stringify(value);
    if (typeof json !== 'string') throw new TypeError('a ' + typeof value + ' is not JSON');
    if (json.length > ${MAX_OUTPUT}) throw new RangeError('the output is larger than 1 MiB');
    return json;
  };
})`;

// The package's types describe its CommonJS build; imported as ESM, the default export is the variant.
const VARIANT = RELEASE_SYNC as unknown as QuickJSSyncVariant;

// The parts of the WebAssembly global used here (the project's `lib` has no DOM types).
type WasmModule = object; // a compiled WebAssembly.Module, handed back to the library
interface WasmMemory {
  grow(pages: number): number;
}
declare const WebAssembly: {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
};

type Phase = 'compile' | 'run' | 'output';

/** Carries an exception from the sandbox (or from the host, mid-call) to `classify`. */
class Fault extends Error {
  constructor(
    readonly phase: Phase,
    readonly value: unknown,
    readonly host = false,
  ) {
    super('code fault');
  }
}

let compiled: Promise<WasmModule> | undefined;

export class CodeSandbox {
  private constructor(readonly wasm: WasmModule) {}

  /** Compiles the QuickJS WebAssembly module, once per process. */
  static async create(): Promise<CodeSandbox> {
    compiled ??= readFile(
      fileURLToPath(import.meta.resolve('@jitl/quickjs-wasmfile-release-sync/wasm')),
    ).then((bytes) => WebAssembly.compile(bytes));
    return new CodeSandbox(await compiled);
  }

  /** Runs `source` with `inputs` under `limits`; answers its output and logs or throws a CodeError. */
  async run(source: string, inputs: unknown, limits: CodeLimits, signal?: AbortSignal): Promise<CodeResult> {
    const logs: string[] = [];
    let logBytes = 0;
    let stopped: 'CODE_TIMEOUT' | 'CODE_ABORTED' | undefined = signal?.aborted ? 'CODE_ABORTED' : undefined;
    let refusedGrowth = false;
    const fail = (code: CodeErrorCode, message: string) => new CodeError(code, message, logs);
    if (stopped) throw fail(stopped, 'the code was stopped before it started');
    const inputsJson = JSON.stringify(inputs ?? null);

    const memory = new WebAssembly.Memory({
      initial: BASE_MIB * PAGES_PER_MIB,
      maximum: Math.ceil((limits.memoryMb + BASE_MIB) * PAGES_PER_MIB),
    });
    const grow = memory.grow.bind(memory);
    memory.grow = (delta: number) => {
      try {
        return grow(delta);
      } catch (error) {
        refusedGrowth = true;
        throw error;
      }
    };
    const qjs = await newQuickJSWASMModuleFromVariant(
      newVariant(VARIANT, { wasmModule: this.wasm, wasmMemory: memory }),
    );
    const deadline = Date.now() + limits.timeoutMs;
    const runtime = qjs.newRuntime();
    runtime.setMemoryLimit(limits.memoryMb * MIB);
    runtime.setMaxStackSize(MAX_STACK);
    runtime.setInterruptHandler(() => {
      stopped ??= signal?.aborted ? 'CODE_ABORTED' : Date.now() > deadline ? 'CODE_TIMEOUT' : undefined;
      return stopped !== undefined;
    });
    const ctx = runtime.newContext();
    const handles: QuickJSHandle[] = [];
    const keep = (h: QuickJSHandle) => (handles.push(h), h);
    let phase: Phase = 'run';
    let broken = false;
    const check = (r: DisposableResult<QuickJSHandle, QuickJSHandle>) => {
      if (r.error) throw new Fault(phase, ctx.dump(keep(r.error)));
      return keep(r.value);
    };
    try {
      const hostLog = keep(
        ctx.newFunction('log', (line) => {
          const text = ctx.getString(line);
          if (logs.length < MAX_LOG_LINES && logBytes + text.length <= MAX_LOG_BYTES) logs.push(text);
          else if (logs.at(-1) !== '[more logs dropped]') logs.push('[more logs dropped]');
          logBytes += text.length;
        }),
      );
      const boot = check(ctx.evalCode(BOOTSTRAP, 'bootstrap.js'));
      const serialize = check(
        ctx.callFunction(boot, ctx.undefined, hostLog, keep(ctx.newString(inputsJson))),
      );
      // The wrapper opens on the user's first line, so line numbers in errors are theirs.
      const wrapped = `(async function (inputs) {${source}\n})(globalThis.inputs)`;
      phase = 'compile';
      check(ctx.evalCode(wrapped, FILE, { compileOnly: true }));
      phase = 'run';
      const promise = check(ctx.evalCode(wrapped, FILE));
      for (;;) {
        const state = ctx.getPromiseState(promise);
        if (state.type === 'rejected') throw new Fault(phase, ctx.dump(keep(state.error)));
        if (state.type === 'fulfilled') {
          phase = 'output';
          const value = state.notAPromise ? state.value : keep(state.value);
          const json = ctx.getString(check(ctx.callFunction(serialize, ctx.undefined, value)));
          if (Buffer.byteLength(json) > MAX_OUTPUT)
            throw fail('CODE_OUTPUT_INVALID', 'the output is larger than 1 MiB');
          return { output: JSON.parse(json) as unknown, logs };
        }
        if (!runtime.hasPendingJob())
          throw fail(
            'CODE_ERROR',
            'the code awaits a promise that never settles (there are no timers or I/O)',
          );
        const jobs = runtime.executePendingJobs(100);
        if (jobs.error) throw new Fault(phase, ctx.dump(keep(jobs.error)));
        await new Promise((resolve) => setImmediate(resolve)); // let an abort arrive
        if (signal?.aborted) stopped = 'CODE_ABORTED';
        if (stopped) throw new Fault(phase, undefined);
      }
    } catch (error) {
      if (error instanceof CodeError) throw error;
      const fault = error instanceof Fault ? error : new Fault(phase, error, true);
      broken = fault.host;
      throw fail(...classify(fault, stopped, refusedGrowth, limits));
    } finally {
      // A host-side failure (Node's stack ran out mid-call) leaves QuickJS's heap inconsistent:
      // freeing it would abort, so the instance is only dropped, as every instance is after its run.
      if (!broken) {
        for (const h of handles.reverse()) attempt(() => h.alive && h.dispose());
        attempt(() => ctx.dispose());
        attempt(() => runtime.dispose());
      }
    }
  }
}

function classify(
  fault: Fault,
  stopped: CodeErrorCode | undefined,
  refusedGrowth: boolean,
  limits: CodeLimits,
): [CodeErrorCode, string] {
  if (stopped === 'CODE_TIMEOUT') return [stopped, `the code ran longer than ${limits.timeoutMs} ms`];
  if (stopped === 'CODE_ABORTED')
    return [stopped, 'the code was stopped: its step was cancelled or timed out'];
  const e = Object(fault.value) as { name?: unknown; message?: unknown; stack?: unknown };
  const name = typeof e.name === 'string' ? e.name : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (refusedGrowth || message === 'out of memory')
    return ['CODE_MEMORY_LIMIT', `the code used more than ${limits.memoryMb} MiB`];
  if (fault.host && !(fault.value instanceof RangeError)) throw fault.value; // a bug, not the code's doing
  if (fault.host || message === 'stack overflow')
    return ['CODE_STACK_OVERFLOW', 'the code recursed too deeply (stack overflow)'];
  const line = typeof e.stack === 'string' ? new RegExp(`${FILE}:(\\d+)`).exec(e.stack)?.[1] : undefined;
  const where = line ? ` (line ${line})` : '';
  const text = name || message ? `${name || 'Error'}: ${message}${where}` : `threw ${show(fault.value)}`;
  if (fault.phase === 'compile') return ['CODE_SYNTAX_ERROR', text];
  if (fault.phase === 'output') return ['CODE_OUTPUT_INVALID', `the output is not JSON: ${message || text}`];
  return ['CODE_ERROR', text];
}

function show(value: unknown): string {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 500);
  } catch {
    return String(value).slice(0, 500); // a BigInt
  }
}

function attempt(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // ignored: see the caller
  }
}
