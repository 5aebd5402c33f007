import type { Database } from './database.js';
import { saveStepRun, type StepRunWrite } from './executions.js';

interface Pending {
  row: StepRunWrite;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Rows written together at most; a larger backlog goes in several statements. */
const MAX_BATCH = 500;

/**
 * Group commit for checkpoints: step runs saved by concurrent executions while a write is in
 * flight go to PostgreSQL together, in one multi-row statement, and each caller resumes only once
 * its row is committed. One execution still never starts a step before the previous one's result
 * is durable; many executions share the commit. A failed batch is retried row by row, so one bad
 * row fails only its own step.
 */
export class StepRunBatcher {
  #queue: Pending[] = [];
  #flushing = false;

  constructor(private readonly db: Database) {}

  save(row: StepRunWrite): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        try {
          await this.#write(batch.map((p) => p.row));
          for (const p of batch) p.resolve();
        } catch {
          for (const p of batch) {
            await saveStepRun(this.db, p.row).then(p.resolve, p.reject);
          }
        }
      }
    } finally {
      this.#flushing = false;
    }
  }

  async #write(rows: StepRunWrite[]): Promise<void> {
    if (rows.length === 1) return saveStepRun(this.db, rows[0]!);
    // A key written twice in one batch (a wait parked, then done) keeps its last state.
    const last = new Map<string, StepRunWrite>();
    for (const r of rows) last.set(`${r.execution_id}\u0000${r.key}`, r);
    const list = [...last.values()];
    await this.db.exec(
      `INSERT INTO step_runs (execution_id, key, step_id, kind, status, attempt, input, output, error, resume_at, finished_at)
       SELECT u.execution_id, u.key, u.step_id, u.kind, u.status, u.attempt, u.input, u.output, u.error, u.resume_at,
              CASE WHEN u.status IN ('succeeded', 'failed') THEN now() END
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[],
                     $9::jsonb[], $10::timestamptz[])
              AS u(execution_id, key, step_id, kind, status, attempt, input, output, error, resume_at)
       ON CONFLICT (execution_id, key) DO UPDATE SET status = EXCLUDED.status, attempt = EXCLUDED.attempt,
         writes = step_runs.writes + 1, input = EXCLUDED.input, output = EXCLUDED.output, error = EXCLUDED.error,
         resume_at = EXCLUDED.resume_at, finished_at = EXCLUDED.finished_at`,
      [
        list.map((r) => r.execution_id),
        list.map((r) => r.key),
        list.map((r) => r.step_id),
        list.map((r) => r.kind),
        list.map((r) => r.status),
        list.map((r) => r.attempt),
        list.map((r) => r.input_json),
        list.map((r) => r.output_json),
        list.map((r) => (r.error ? JSON.stringify(r.error) : null)),
        list.map((r) => r.resume_at),
      ],
    );
  }
}
