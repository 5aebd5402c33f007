import { OspreyError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { StepDefinition, WorkflowDefinition } from '../domain/workflow/validate.js';
import type { Sql } from '../store/database.js';
import {
  OUTPUT_REF,
  insertStepOutput,
  saveStepRun,
  stepOutputsByIds,
  type ExecutionRow,
  type StepRunRow,
} from '../store/executions.js';
import { durationMs } from './duration.js';
import { truthy, type Scope } from './expressions.js';
import {
  BreakSignal,
  ExitSignal,
  StepFailure,
  StopSignal,
  WaitSignal,
  firstToRaise,
  isSignal,
  type WaitWatch,
} from './signals.js';
import type { ExecutorDeps, SaveFields, StepHost } from './step-host.js';
import { approval } from './steps/approval.js';
import { callWorkflow } from './steps/call-workflow.js';

export type { ExecutorDeps } from './step-host.js';

/** Failures no retry can mend. */
const NOT_RETRYABLE = new Set([
  'INVALID_INPUT',
  'INVALID_CONFIGURATION',
  'INVALID_RESPONSE',
  'AUTH_FAILED',
  'NOT_FOUND',
  'REMOTE_REJECTED',
  'TLS_FAILED',
  'INTEGRATION_NOT_FOUND',
  'INTEGRATION_MISMATCH',
  'INTEGRATION_REQUIRED',
  'INTEGRATION_EXPIRED',
  'INTEGRATION_INCOMPLETE',
  'RECIPIENT_REJECTED',
  'ADDRESS_BLOCKED',
  'ACTION_UNAVAILABLE',
  'RESPONSE_TOO_LARGE',
  'TOO_MANY_REDIRECTS',
  'CODE_SYNTAX_ERROR',
  'CODE_MEMORY_LIMIT',
  'CODE_OUTPUT_INVALID',
  'CODE_STACK_OVERFLOW',
  'CODE_ABORTED',
  'EXECUTION_TOO_LARGE',
]);
const DEFAULT_ACTION_TIMEOUT = '60s';
const DEFAULT_CODE_TIMEOUT = '10s';
const DEFAULT_CODE_MEMORY_MB = 64;

export type RunOutcome =
  | { kind: 'finished'; status: 'succeeded' | 'failed'; output: unknown; error: ExecutionRow['error'] }
  | { kind: 'suspended'; until: Date; watch?: WaitWatch | undefined }
  | { kind: 'stopped'; reason: 'lease-lost' | 'cancelled' };

/** An outcome and the bytes of step data the run has recorded in all (for the size cap). */
export type RunResult = RunOutcome & { sizeBytes: number };

/** Checks between steps whether the run may go on (lease held, not cancelled). */
export type Guard = () => Promise<void>;

/**
 * The secret or variable names a definition mentions as `$<binding>.<name>`: every dotted prefix
 * (`$vars.limits.min` → `limits`, `limits.min`), so a value holding an object can be read by its
 * fields and a name containing dots still resolves.
 */
function namesReferenced(text: string, binding: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(new RegExp(`\\$${binding}\\.([A-Za-z_][A-Za-z0-9_.-]*)`, 'g'))) {
    const parts = m[1]!.split('.').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) names.add(parts.slice(0, i).join('.'));
  }
  return [...names];
}

/** Definitions are immutable and cached by revision, so the names they mention are found once. */
const referenced = new WeakMap<WorkflowDefinition, { secrets: string[]; vars: string[] }>();

function namesIn(definition: WorkflowDefinition): { secrets: string[]; vars: string[] } {
  let names = referenced.get(definition);
  if (!names) {
    const text = JSON.stringify(definition);
    names = { secrets: namesReferenced(text, 'secrets'), vars: namesReferenced(text, 'vars') };
    referenced.set(definition, names);
  }
  return names;
}

/**
 * Runs one execution by replaying its definition over the recorded step runs: a step with a
 * recorded result is not run again, its output is reused. Each step's result is committed before
 * the next step starts, so a run that stops anywhere resumes from its last checkpoint.
 */
export class Executor {
  constructor(private readonly deps: ExecutorDeps) {}

  /** A revision's definition (cached: revisions are immutable). */
  definition(revisionId: string): Promise<WorkflowDefinition> {
    return this.deps.queue.definition(this.deps.db, revisionId);
  }

  /** Replaces out-of-line output references with the outputs, for replay. */
  async #hydrate(recorded: StepRunRow[]): Promise<StepRunRow[]> {
    const refOf = (o: unknown): string | undefined =>
      o && typeof o === 'object' && OUTPUT_REF in o
        ? String((o as Record<string, unknown>)[OUTPUT_REF])
        : undefined;
    const ids = recorded.map((r) => refOf(r.output)).filter((id): id is string => id !== undefined);
    if (ids.length === 0) return recorded;
    const data = await stepOutputsByIds(this.deps.db, ids);
    return recorded.map((r) => {
      const id = refOf(r.output);
      return id ? { ...r, output: data.get(id) ?? null } : r;
    });
  }

  async run(
    execution: ExecutionRow,
    definition: WorkflowDefinition,
    recorded: StepRunRow[],
    guard: Guard,
  ): Promise<RunResult> {
    const done = new Map((await this.#hydrate(recorded)).map((r) => [r.key, r]));
    const names = namesIn(definition);
    const secrets = await this.deps.resolveSecrets(execution.workspace_id, names.secrets);
    const vars = await this.deps.resolveVariables(execution.workspace_id, names.vars);
    const secretValues = Object.values(secrets).filter((v) => v.length >= 4);
    const run = new Run(
      this.deps,
      execution,
      done,
      guard,
      {
        secrets,
        vars,
        execution: {
          id: execution.id,
          workflow_id: execution.workflow_id,
          revision_id: execution.revision_id,
        },
      },
      secretValues,
    );
    return { ...(await this.#settle(run, definition, execution)), sizeBytes: run.sizeBytes };
  }

  async #settle(run: Run, definition: WorkflowDefinition, execution: ExecutionRow): Promise<RunOutcome> {
    try {
      await run.steps(definition.steps, { event: execution.input }, '', {});
      return { kind: 'finished', status: 'succeeded', output: null, error: null };
    } catch (signal) {
      if (signal instanceof ExitSignal) {
        const output = run.mask(signal.output);
        return signal.status === 'success'
          ? { kind: 'finished', status: 'succeeded', output, error: null }
          : {
              kind: 'finished',
              status: 'failed',
              output,
              error: { code: 'EXIT_FAILURE', message: 'the workflow exited with failure' },
            };
      }
      if (signal instanceof WaitSignal)
        return { kind: 'suspended', until: signal.until, watch: signal.watch };
      if (signal instanceof StopSignal) return { kind: 'stopped', reason: signal.reason };
      if (signal instanceof StepFailure) {
        return {
          kind: 'finished',
          status: 'failed',
          output: null,
          error: {
            code: signal.code,
            message: signal.message,
            ...(signal.stepId ? { step_id: signal.stepId } : {}),
          },
        };
      }
      if (signal instanceof BreakSignal)
        return { kind: 'finished', status: 'succeeded', output: null, error: null };
      throw signal;
    }
  }
}

/** One replay of one execution. */
class Run implements StepHost {
  constructor(
    readonly deps: ExecutorDeps,
    readonly execution: ExecutionRow,
    private readonly done: Map<string, StepRunRow>,
    private readonly guard: Guard,
    private readonly baseBindings: Record<string, unknown>,
    private readonly secretValues: string[],
  ) {
    this.#size = Number(execution.size_bytes ?? 0);
  }

  /** Bytes of step records so far, for the execution size cap. */
  #size: number;

  get sizeBytes(): number {
    return this.#size;
  }

  render(value: unknown, scope: Scope): Promise<unknown> {
    return this.deps.expressions.render(value, scope);
  }

  conceal(value: string): void {
    if (value.length >= 4 && !this.secretValues.includes(value)) this.secretValues.push(value);
  }

  /** Rendered inputs of steps in flight, so a failure records what the step was given. */
  readonly #inputs = new Map<string, unknown>();
  /** The attempt a step in flight is on, so its record says how many were made. */
  readonly #attempts = new Map<string, number>();

  async steps(
    steps: StepDefinition[],
    ctx: Record<string, unknown>,
    prefix: string,
    bindings: Record<string, unknown>,
  ): Promise<void> {
    for (const step of steps) await this.step(step, ctx, prefix, bindings);
  }

  #scope(ctx: Record<string, unknown>, bindings: Record<string, unknown>): Scope {
    return { context: ctx, bindings: { ...this.baseBindings, ...bindings } };
  }

  /** Secret values never reach a recorded input or output. */
  mask(value: unknown): unknown {
    if (this.secretValues.length === 0 || value === undefined) return value;
    return JSON.parse(this.#maskedJson(value)) as unknown;
  }

  /** `value` as JSON text with every secret value replaced by `[secret]`. */
  #maskedJson(value: unknown): string {
    let text = JSON.stringify(value ?? null);
    for (const secret of this.secretValues)
      text = text.split(JSON.stringify(secret).slice(1, -1)).join('[secret]');
    return text;
  }

  async save(
    step: StepDefinition,
    key: string,
    status: StepRunRow['status'],
    fields: SaveFields,
    sql: Sql = this.deps.db,
  ): Promise<void> {
    // Serialised once: the size cap, the out-of-line choice and the write all use the same text.
    const inputJson = this.#maskedJson(fields.input);
    let outputJson = this.#maskedJson(fields.output);
    const outputBytes = Buffer.byteLength(outputJson);
    const size = outputBytes + Buffer.byteLength(inputJson);
    if (status !== 'failed' && this.#size + size > this.deps.maxExecutionBytes) {
      throw new StepFailure(
        'EXECUTION_TOO_LARGE',
        `the execution would record more than ${this.deps.maxExecutionBytes} bytes of step data; keep large data out of step outputs`,
        step.id,
      );
    }
    this.#size += size;
    if (outputBytes > this.deps.inlineOutputBytes) {
      const id = newId();
      await insertStepOutput(sql, {
        id,
        execution_id: this.execution.id,
        key,
        size_bytes: outputBytes,
        data: outputJson,
      });
      outputJson = JSON.stringify({ [OUTPUT_REF]: id, size_bytes: outputBytes });
    }
    const row = {
      execution_id: this.execution.id,
      key,
      step_id: step.id,
      kind: step.kind,
      status,
      attempt: fields.attempt ?? this.#attempts.get(key) ?? 1,
      input_json: inputJson,
      output_json: outputJson,
      error: fields.error ?? null,
      resume_at: fields.resume_at ?? null,
    };
    // Outside a transaction, concurrent runs' checkpoints share a commit (still before the next step).
    if (sql === this.deps.db && this.deps.checkpoints) await this.deps.checkpoints.save(row);
    else await saveStepRun(sql, row);
  }

  async step(
    step: StepDefinition,
    ctx: Record<string, unknown>,
    prefix: string,
    bindings: Record<string, unknown>,
  ): Promise<void> {
    const key = `${prefix}${step.id}`;
    const rec = this.done.get(key);
    if (rec && (rec.status === 'succeeded' || (rec.status === 'failed' && step.on_error === 'continue'))) {
      ctx[step.id] = rec.output;
      this.#restoreNested(step, key, rec.output, ctx, prefix);
      if (step.kind === 'exit')
        throw new ExitSignal((step.status as 'success' | 'failure' | undefined) ?? 'success', rec.output);
      return;
    }
    await this.guard();
    const scope = this.#scope(ctx, bindings);
    try {
      const output = await this.#execute(step, key, ctx, prefix, bindings, scope, rec);
      ctx[step.id] = output;
    } catch (error) {
      if (isSignal(error)) throw error;
      const code = (error as { code?: unknown }).code;
      // Database and other infrastructure errors are not the step's: no SQL codes or messages leak.
      const internal =
        (error as { routine?: unknown }).routine !== undefined ||
        (error instanceof OspreyError && error.status >= 500);
      const failure =
        error instanceof StepFailure
          ? error
          : internal
            ? new StepFailure(
                'INTERNAL',
                'the step failed unexpectedly; the server log has the details',
                step.id,
              )
            : new StepFailure(
                typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) ? code : 'STEP_FAILED',
                (error as Error).message ?? String(error),
                step.id,
              );
      const err = { code: failure.code, message: failure.message };
      await this.save(step, key, 'failed', {
        input: this.#inputs.get(key),
        attempt: this.#attempts.get(key) ?? rec?.attempt ?? 1,
        output: step.on_error === 'continue' ? { error: err } : null,
        error: err,
      });
      if (step.on_error === 'continue') {
        ctx[step.id] = { error: err };
        return;
      }
      // A failure from a nested step keeps naming that step; the enclosing steps record it too.
      if (failure.recorded) throw failure;
      const raised = new StepFailure(failure.code, `step "${step.id}" failed: ${failure.message}`, step.id);
      raised.recorded = true;
      throw raised;
    }
  }

  async #execute(
    step: StepDefinition,
    key: string,
    ctx: Record<string, unknown>,
    prefix: string,
    bindings: Record<string, unknown>,
    scope: Scope,
    rec: StepRunRow | undefined,
  ): Promise<unknown> {
    const r = this.deps.expressions;
    switch (step.kind) {
      case 'transform': {
        const output = await this.#withRetry(step, key, () => r.render(step.value, scope));
        await this.save(step, key, 'succeeded', { output });
        return output;
      }
      case 'exit': {
        const output = step.output === undefined ? null : await r.render(step.output, scope);
        await this.save(step, key, 'succeeded', { output });
        throw new ExitSignal((step.status as 'success' | 'failure' | undefined) ?? 'success', output);
      }
      case 'if': {
        const branch = truthy(await r.render(step.condition, scope)) ? 'then' : 'else';
        await this.steps((step[branch] as StepDefinition[] | undefined) ?? [], ctx, prefix, bindings);
        const output = { branch };
        await this.save(step, key, 'succeeded', { output });
        return output;
      }
      case 'switch': {
        const cases = step.cases as { name: string; when: unknown; steps: StepDefinition[] }[];
        let chosen: { name: string; steps: StepDefinition[] } | undefined;
        for (const c of cases) {
          if (truthy(await r.render(c.when, scope))) {
            chosen = c;
            break;
          }
        }
        await this.steps(
          chosen?.steps ?? (step.default as StepDefinition[] | undefined) ?? [],
          ctx,
          prefix,
          bindings,
        );
        const output = { case: chosen?.name ?? 'default' };
        await this.save(step, key, 'succeeded', { output });
        return output;
      }
      case 'loop':
        return this.#loop(step, key, ctx, bindings, scope);
      case 'break':
        if (step.when === undefined || truthy(await r.render(step.when, scope))) {
          await this.save(step, key, 'succeeded', { output: { broke: true } });
          throw new BreakSignal();
        }
        await this.save(step, key, 'succeeded', { output: { broke: false } });
        return { broke: false };
      case 'parallel': {
        const branches = step.branches as { name: string; steps: StepDefinition[] }[];
        const results = await Promise.allSettled(
          branches.map(async (b) => {
            const branchCtx = { ...ctx };
            await this.steps(b.steps, branchCtx, `${key}.${b.name}.`, bindings);
            return branchCtx;
          }),
        );
        // A wait or failure in any branch stops the step; finished branches are checkpointed.
        const raised = results
          .filter((x): x is PromiseRejectedResult => x.status === 'rejected')
          .reduce<unknown>((a, x) => firstToRaise(a, x.reason), undefined);
        if (raised !== undefined) throw raised as Error;
        const output: Record<string, unknown> = {};
        branches.forEach((b, i) => {
          const branchCtx = (results[i] as PromiseFulfilledResult<Record<string, unknown>>).value;
          output[b.name] = Object.fromEntries(b.steps.map((s) => [s.id, branchCtx[s.id]]));
          for (const s of b.steps) ctx[s.id] = branchCtx[s.id];
        });
        await this.save(step, key, 'succeeded', { output });
        return output;
      }
      case 'wait': {
        const now = this.deps.clock.now();
        if (rec?.status === 'waiting' && rec.resume_at) {
          if (rec.resume_at.getTime() > now) throw new WaitSignal(rec.resume_at);
          const output = { waited_until: rec.resume_at.toISOString() };
          await this.save(step, key, 'succeeded', { output });
          return output;
        }
        let until: Date;
        if (typeof step.duration === 'string') until = new Date(now + durationMs(step.duration));
        else {
          const at = await r.render(step.until, scope);
          until = new Date(typeof at === 'string' ? at : Number.NaN);
          if (Number.isNaN(until.getTime()))
            throw new StepFailure(
              'INVALID_WAIT',
              `until must give an RFC 3339 time, got ${JSON.stringify(at)}`,
              step.id,
            );
        }
        if (until.getTime() <= now) {
          const output = { waited_until: until.toISOString() };
          await this.save(step, key, 'succeeded', { output });
          return output;
        }
        await this.save(step, key, 'waiting', { resume_at: until });
        throw new WaitSignal(until);
      }
      case 'action': {
        const input = await r.render(step.with ?? {}, scope);
        this.#inputs.set(key, input);
        const output = await this.#withRetry(step, key, (signal) =>
          this.deps.actions.run(step.action as string, input, {
            signal,
            workspaceId: this.execution.workspace_id,
            integration: typeof step.integration === 'string' ? step.integration : undefined,
          }),
        );
        await this.save(step, key, 'succeeded', { input, output });
        return output;
      }
      case 'approval':
        return approval(this, step, key, ctx, prefix, bindings, scope, rec);
      case 'call_workflow':
        return callWorkflow(this, step, key, scope, rec);
      case 'code': {
        const input = await r.render(step.inputs ?? {}, scope);
        this.#inputs.set(key, { inputs: input });
        const memoryMb = typeof step.memory_mb === 'number' ? step.memory_mb : DEFAULT_CODE_MEMORY_MB;
        const timeoutMs = durationMs(typeof step.timeout === 'string' ? step.timeout : DEFAULT_CODE_TIMEOUT);
        const source = await this.#codeSource(step);
        const result = await this.#withRetry(step, key, async (signal) => {
          try {
            return await this.deps.code.run(source, input, { memoryMb, timeoutMs }, signal);
          } catch (error) {
            // A failed run keeps what the code printed before it failed.
            const logs = (error as { logs?: unknown }).logs;
            if (Array.isArray(logs)) this.#inputs.set(key, { inputs: input, console: logs });
            throw error;
          }
        });
        // The step's record keeps the console output beside the inputs; its output is the return value.
        await this.save(step, key, 'succeeded', {
          input: { inputs: input, console: result.logs },
          output: result.output,
        });
        return result.output;
      }
      default: {
        const unknownKind: never = step.kind;
        throw new StepFailure('STEP_KIND_UNKNOWN', `unknown step kind ${String(unknownKind)}`, step.id);
      }
    }
  }

  async #loop(
    step: StepDefinition,
    key: string,
    ctx: Record<string, unknown>,
    bindings: Record<string, unknown>,
    scope: Scope,
  ): Promise<unknown> {
    const over = await this.deps.expressions.render(step.over, scope);
    const items: unknown[] = Array.isArray(over)
      ? over
      : over !== null && typeof over === 'object'
        ? Object.entries(over as Record<string, unknown>).map(([k, value]) => ({ key: k, value }))
        : over === null
          ? []
          : [over];
    const as = typeof step.as === 'string' ? step.as : 'item';
    const width = typeof step.concurrency === 'number' ? Math.max(1, step.concurrency) : 1;
    // Iterations run `width` at a time; results stay in item order. A break ends the loop after
    // the iterations already started; a wait or failure stops starting new ones and is raised once
    // those in flight have settled (finished iterations are checkpointed and not run again).
    const results: ({ collected: unknown } | undefined)[] = new Array<{ collected: unknown } | undefined>(
      items.length,
    );
    let next = 0;
    let stopAt = items.length;
    let raised: unknown;
    const runner = async (): Promise<void> => {
      while (next < stopAt && (raised === undefined || raised instanceof WaitSignal)) {
        const index = next++;
        const iterCtx = { ...ctx };
        const iterBindings = { ...bindings, [as]: items[index], index };
        let broke = false;
        try {
          await this.steps(step.steps as StepDefinition[], iterCtx, `${key}[${index}].`, iterBindings);
        } catch (signal) {
          if (!(signal instanceof BreakSignal)) {
            raised = firstToRaise(raised, signal);
            return;
          }
          broke = true;
        }
        results[index] = {
          collected:
            step.collect !== undefined
              ? await this.deps.expressions.render(step.collect, this.#scope(iterCtx, iterBindings))
              : undefined,
        };
        if (broke) stopAt = Math.min(stopAt, index + 1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(width, items.length) }, runner));
    if (raised !== undefined) throw raised as Error;
    const collected = results
      .slice(0, stopAt)
      .filter((x) => x !== undefined)
      .map((x) => x.collected);
    const output = step.collect !== undefined ? collected : { iterations: items.length };
    await this.save(step, key, 'succeeded', { output });
    return output;
  }

  /**
   * On a replay, a finished if, switch or parallel step is not run again, but the steps inside the
   * branch it took stay visible afterwards (as `$.<id>`), as they were on the first pass.
   */
  #restoreNested(
    step: StepDefinition,
    key: string,
    output: unknown,
    ctx: Record<string, unknown>,
    prefix: string,
  ): void {
    const o = (output ?? {}) as { branch?: unknown; case?: unknown };
    let nested: { steps: StepDefinition[]; prefix: string }[] = [];
    if (step.kind === 'if' && (o.branch === 'then' || o.branch === 'else'))
      nested = [{ steps: (step[o.branch] as StepDefinition[] | undefined) ?? [], prefix }];
    else if (step.kind === 'switch') {
      const chosen = (step.cases as { name: string; steps: StepDefinition[] }[]).find(
        (c) => c.name === o.case,
      );
      nested = [{ steps: chosen?.steps ?? (step.default as StepDefinition[] | undefined) ?? [], prefix }];
    } else if (step.kind === 'parallel')
      nested = (step.branches as { name: string; steps: StepDefinition[] }[]).map((b) => ({
        steps: b.steps,
        prefix: `${key}.${b.name}.`,
      }));
    for (const n of nested) {
      for (const s of n.steps) {
        const rec = this.done.get(`${n.prefix}${s.id}`);
        if (!rec) continue;
        ctx[s.id] = rec.output;
        this.#restoreNested(s, `${n.prefix}${s.id}`, rec.output, ctx, n.prefix);
      }
    }
  }

  /** A code step's source: its snippets' code (in order), then its own `source`. */
  async #codeSource(step: StepDefinition): Promise<string> {
    const own = typeof step.source === 'string' ? step.source : '';
    const names = Array.isArray(step.snippets) ? (step.snippets as string[]) : [];
    if (names.length === 0) return own;
    if (!this.deps.snippets)
      throw new StepFailure('CODE_SNIPPET_NOT_RUNNABLE', 'code snippets are not available here', step.id);
    const library = await this.deps.snippets(this.execution.workspace_id, names);
    return own ? `${library}\n${own}` : library;
  }

  async #withRetry<T>(
    step: StepDefinition,
    key: string,
    fn: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const retry = (step.retry ?? {}) as {
      max_attempts?: number;
      initial_delay?: string;
      max_delay?: string;
      factor?: number;
    };
    const attempts = retry.max_attempts ?? 1;
    let delay = retry.initial_delay ? durationMs(retry.initial_delay) : 1000;
    const maxDelay = retry.max_delay ? durationMs(retry.max_delay) : 60_000;
    for (let attempt = 1; ; attempt++) {
      this.#attempts.set(key, attempt);
      try {
        return await this.#withTimeout(step, fn);
      } catch (error) {
        const e = error as { code?: string; retryAfterMs?: number };
        const hopeless =
          NOT_RETRYABLE.has(e.code ?? '') || (e.code === 'HTTP_ERROR' && e.retryAfterMs === undefined);
        if (attempt >= attempts || isSignal(error) || hopeless) throw error;
        // The remote's Retry-After wins over our backoff, up to five minutes.
        const wait = Math.min(300_000, Math.max(delay, e.retryAfterMs ?? 0));
        await new Promise((r) => setTimeout(r, wait));
        delay = Math.min(maxDelay, delay * (retry.factor ?? 2));
      }
    }
  }

  async #withTimeout<T>(step: StepDefinition, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const limit =
      typeof step.timeout === 'string'
        ? step.timeout
        : step.kind === 'action'
          ? DEFAULT_ACTION_TIMEOUT
          : undefined;
    const controller = new AbortController();
    // Code steps enforce their time limit inside the sandbox.
    if (!limit || step.kind === 'code') return fn(controller.signal);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(controller.signal),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            controller.abort();
            reject(new StepFailure('STEP_TIMEOUT', `timed out after ${limit}`, step.id));
          }, durationMs(limit));
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
