import type { ApprovalLinkSigner } from '../domain/approval-token.js';
import type { Clock } from '../domain/clock.js';
import type { StepDefinition } from '../domain/workflow/validate.js';
import type { ActionRunner } from '../integrations/action-error.js';
import type { Database, Sql } from '../store/database.js';
import type { ExecutionRow, StepRunRow, StepRunWrite } from '../store/executions.js';
import type { ExpressionRuntime, Scope } from './expressions.js';
import type { RunQueue } from './run-queue.js';

/** Runs code steps (engine/code-sandbox.ts): JavaScript with memory and time limits, no host access. */
export interface CodeRunner {
  run(
    source: string,
    inputs: unknown,
    limits: { memoryMb: number; timeoutMs: number },
    signal?: AbortSignal,
  ): Promise<{ output: unknown; logs: string[] }>;
}

/** What the executor needs from outside: the database, time, the queue, secrets and variables. */
export interface ExecutorDeps {
  db: Database;
  clock: Clock;
  expressions: ExpressionRuntime;
  queue: RunQueue;
  resolveSecrets(workspaceId: string, names: string[]): Promise<Record<string, string>>;
  resolveVariables(workspaceId: string, names: string[]): Promise<Record<string, unknown>>;
  actions: ActionRunner;
  code: CodeRunner;
  /** The code of the named snippets, in order (code steps' `snippets:`); throws a coded error. */
  snippets?(workspaceId: string, names: readonly string[]): Promise<string>;
  approvals: { signer: ApprovalLinkSigner; publicUrl: string };
  /** Step outputs larger than this (bytes of JSON) are stored out of line. */
  inlineOutputBytes: number;
  /** The most step output one execution may record. */
  maxExecutionBytes: number;
  /** Writes checkpoints outside a transaction (group commit across executions); direct when absent. */
  checkpoints?: { save(row: StepRunWrite): Promise<void> };
}

export interface SaveFields {
  input?: unknown;
  output?: unknown;
  error?: unknown;
  attempt?: number;
  resume_at?: Date | null;
}

/** The part of a run that step kinds implemented outside the executor use. */
export interface StepHost {
  readonly deps: ExecutorDeps;
  readonly execution: ExecutionRow;
  /** Records the step's state (in `sql`'s transaction when given). */
  save(
    step: StepDefinition,
    key: string,
    status: StepRunRow['status'],
    fields: SaveFields,
    sql?: Sql,
  ): Promise<void>;
  render(value: unknown, scope: Scope): Promise<unknown>;
  /** Masks `value` like a secret in everything this run records from now on. */
  conceal(value: string): void;
  steps(
    steps: StepDefinition[],
    ctx: Record<string, unknown>,
    prefix: string,
    bindings: Record<string, unknown>,
  ): Promise<void>;
}
