import { hostname } from 'node:os';
import type pg from 'pg';
import type { Logger } from 'pino';
import { randomToken } from '../domain/ids.js';
import type { Database } from '../store/database.js';
import {
  CANCEL_PREFIX,
  EXECUTIONS_CHANNEL,
  claimExecution,
  executionStatus,
  finishExecution,
  lockChildWakeups,
  renewLease,
  stepRunsOf,
  suspendExecution,
  type ExecutionRow,
} from '../store/executions.js';
import type { Executor } from './executor.js';
import { StopSignal } from './signals.js';

type ClaimedExecution = ExecutionRow & { first_claim: boolean };

/** How often a running execution's status is read to notice a cancel nobody announced. */
const CANCEL_POLL_MS = 1000;

export interface WorkerOptions {
  db: Database;
  executor: Executor;
  logger: Logger;
  /** Executions run at once by this worker. */
  concurrency?: number;
  /** How long a claim lasts without renewal; a dead worker's runs are resumed after this. */
  leaseMs?: number;
  /** How often an idle worker looks for work when no notification arrives. */
  pollMs?: number;
  /** A run resumed this many times (its worker kept dying) is failed instead of retried forever. */
  maxResumes?: number;
  /**
   * The largest share of this worker's slots runs of one workflow may hold while other work waits
   * (0–1). When nothing else is runnable, a workflow may use every slot.
   */
  fairShare?: number;
}

/**
 * Claims executions from Postgres (SKIP LOCKED), runs them with a renewed lease, and parks waits.
 * Workers on any number of machines coordinate only through the database.
 */
export class Worker {
  readonly owner = `${hostname()}:${process.pid}:${randomToken(6)}`;
  readonly #o: Required<Omit<WorkerOptions, 'logger'>> & { logger: Logger };
  #stopped = true;
  #listener: pg.PoolClient | undefined;
  readonly #wakers = new Set<(reason: 'poll' | 'notify') => void>();
  #loops: Promise<void>[] = [];

  constructor(options: WorkerOptions) {
    this.#o = { concurrency: 4, leaseMs: 30_000, pollMs: 1000, maxResumes: 5, fairShare: 0.5, ...options };
  }

  /** Runs cancelled (heard through NOTIFY) while this worker may be running them. */
  readonly #cancelled = new Set<string>();

  /** Runs in progress here, per workflow, for the fair share. */
  readonly #busy = new Map<string, number>();

  #overShare(): string[] {
    const limit = Math.max(1, Math.floor(this.#o.concurrency * this.#o.fairShare));
    return [...this.#busy].filter(([, n]) => n >= limit).map(([id]) => id);
  }

  async start(): Promise<void> {
    this.#stopped = false;
    this.#listener = await this.#o.db.pool.connect();
    this.#listener.on('notification', (message) => {
      const payload = message.payload ?? '';
      if (payload.startsWith(CANCEL_PREFIX)) this.#cancelled.add(payload.slice(CANCEL_PREFIX.length));
      // One notification is one runnable execution: one idle loop claims it (no thundering herd).
      else this.#wakeOne();
    });
    // The database going away (shutdown, failover) must not crash the process; polling goes on.
    this.#listener.on('error', (error) =>
      this.#o.logger.warn({ err: error }, 'execution notifications lost'),
    );
    await this.#listener.query(`LISTEN ${EXECUTIONS_CHANNEL}`);
    for (let i = 0; i < this.#o.concurrency; i++) this.#loops.push(this.#loop());
    // Due waits and expired leases announce nothing: one timer per worker looks for them.
    this.#poller = setInterval(() => this.#wakeOne('poll'), this.#o.pollMs);
  }

  #poller: NodeJS.Timeout | undefined;

  /** Stops claiming, lets running executions reach their next checkpoint, then returns. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#poller);
    this.#wakeAll();
    await Promise.all(this.#loops);
    this.#loops = [];
    if (this.#listener) {
      await this.#listener.query(`UNLISTEN ${EXECUTIONS_CHANNEL}`).catch(() => undefined);
      this.#listener.release();
      this.#listener = undefined;
    }
  }

  /**
   * One slot: claim and run until nothing is claimable, then sleep until woken — by a
   * notification, by the worker's single poll timer, or by a slot that just found work (so a
   * burst of due runs fans out over idle slots without every slot polling on its own).
   */
  async #loop(): Promise<void> {
    let polled = false;
    while (!this.#stopped) {
      let worked = false;
      try {
        const claimed = this.runOne();
        // Woken by the poll timer and finding work: a burst of due runs may wait; fan out.
        if (polled) void claimed.then((found) => found && this.#wakeOne('poll'));
        worked = await claimed;
      } catch (error) {
        this.#o.logger.error({ err: error }, 'worker iteration failed');
      }
      if (worked) continue;
      if (this.#stopped) break;
      polled = await new Promise<boolean>((resolve) => {
        const wake = (reason: 'poll' | 'notify'): void => {
          this.#wakers.delete(wake);
          resolve(reason === 'poll');
        };
        this.#wakers.add(wake);
      });
    }
  }

  #wakeAll(): void {
    for (const wake of [...this.#wakers]) wake('notify');
  }

  #wakeOne(reason: 'poll' | 'notify' = 'notify'): void {
    const first = this.#wakers.values().next();
    if (!first.done) first.value(reason);
  }

  /** For tests and the CLI: runs claimable executions until none is left. */
  async runUntilIdle(): Promise<number> {
    let n = 0;
    while (await this.runOne()) n++;
    return n;
  }

  /** Claims in flight, one at a time, so each sees the runs the previous one took (fair share). */
  #claiming: Promise<unknown> = Promise.resolve();

  #claim(): Promise<ClaimedExecution | undefined> {
    const next = this.#claiming.then(async () => {
      const { db, leaseMs } = this.#o;
      const over = this.#overShare();
      // Other workflows first; a workflow over its share still gets a slot nothing else wants.
      let execution = await claimExecution(db, this.owner, leaseMs, over);
      if (!execution && over.length) execution = await claimExecution(db, this.owner, leaseMs);
      if (execution) this.#busy.set(execution.workflow_id, (this.#busy.get(execution.workflow_id) ?? 0) + 1);
      return execution;
    });
    this.#claiming = next.catch(() => undefined);
    return next;
  }

  /** Claims and runs one execution; false when there was nothing to claim. */
  async runOne(): Promise<boolean> {
    const execution = await this.#claim();
    if (!execution) return false;
    const wf = execution.workflow_id;
    try {
      await this.#run(execution);
    } finally {
      const n = (this.#busy.get(wf) ?? 1) - 1;
      if (n > 0) this.#busy.set(wf, n);
      else this.#busy.delete(wf);
    }
    return true;
  }

  async #run(execution: ClaimedExecution): Promise<void> {
    const { db, leaseMs, logger, maxResumes } = this.#o;
    const log = logger.child({ execution_id: execution.id });
    if (execution.resumes > maxResumes) {
      log.warn({ resumes: execution.resumes }, 'giving up on an execution whose workers kept stopping');
      await this.#finish(execution, 'failed', null, {
        code: 'TOO_MANY_RESUMES',
        message: `the execution was resumed ${execution.resumes} times after its worker stopped; giving up`,
      });
      return;
    }
    let lost = false;
    const heartbeat = setInterval(
      () => {
        renewLease(db, execution.id, this.owner, leaseMs)
          .then((held) => {
            if (!held) lost = true;
          })
          .catch(() => undefined);
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    try {
      const definition = await this.#o.executor.definition(execution.revision_id);
      // A run claimed for the first time has no checkpoints, unless a retry copied some in.
      const fresh = execution.first_claim && execution.trigger.retry_from !== 'failed_step';
      const recorded = fresh ? [] : await stepRunsOf(db, execution.id);
      // Between steps: a lost lease stops at once; a cancel is heard through NOTIFY, and the
      // status is read at most once a second as well (for workers that do not listen).
      let checkedAt = Date.now();
      const guard = async (): Promise<void> => {
        if (lost) throw new StopSignal('lease-lost');
        const heard = this.#cancelled.has(execution.id);
        if (!heard && Date.now() - checkedAt < CANCEL_POLL_MS) return;
        checkedAt = Date.now();
        if ((await executionStatus(db, execution.id)) === 'cancelled') throw new StopSignal('cancelled');
      };
      const outcome = await this.#o.executor.run(execution, definition, recorded, guard);
      if (outcome.kind === 'finished') {
        await this.#finish(execution, outcome.status, outcome.output, outcome.error, outcome.sizeBytes);
        log.info({ status: outcome.status }, 'execution finished');
      } else if (outcome.kind === 'suspended') {
        const { until, watch, sizeBytes } = outcome;
        if (watch?.kind === 'child') {
          await db.transaction(async (tx) => {
            await lockChildWakeups(tx, execution.id);
            await suspendExecution(tx, execution.id, this.owner, until, watch, sizeBytes);
          });
        } else {
          await suspendExecution(db, execution.id, this.owner, until, watch, sizeBytes);
        }
      } else {
        log.info({ reason: outcome.reason }, 'execution stopped');
      }
    } catch (error) {
      log.error({ err: error }, 'execution crashed');
      await this.#finish(execution, 'failed', null, {
        code: 'INTERNAL',
        message: 'the execution failed unexpectedly; the server log has the details',
      }).catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
      this.#cancelled.delete(execution.id);
    }
  }

  /** Ends a run; a child run ends under its parent's wake-up lock (see lockChildWakeups). */
  #finish(
    execution: ClaimedExecution,
    status: 'succeeded' | 'failed',
    output: unknown,
    error: Parameters<typeof finishExecution>[5],
    sizeBytes?: number,
  ): Promise<boolean> {
    const { db } = this.#o;
    const parent = execution.parent_execution_id;
    if (!parent) return finishExecution(db, execution.id, this.owner, status, output, error, sizeBytes);
    return db.transaction(async (tx) => {
      await lockChildWakeups(tx, parent);
      return finishExecution(tx, execution.id, this.owner, status, output, error, sizeBytes);
    });
  }
}
