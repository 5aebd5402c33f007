import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.js';
import type { Database } from '../store/database.js';
import { dueSchedules, setScheduleNext } from '../store/schedules.js';
import type { RunQueue } from './run-queue.js';

export interface SchedulerOptions {
  db: Database;
  queue: RunQueue;
  clock: Clock;
  logger: Logger;
  /** How often due schedules are looked for. */
  pollMs?: number;
}

/** The first tick of `cron` in `timezone` strictly after `after`, or undefined when there is none. */
export function nextTick(cron: string, timezone: string, after: Date): Date | undefined {
  return new Cron(cron, { timezone, paused: true }).nextRun(after) ?? undefined;
}

/**
 * Fires schedule triggers. A due workflow row is locked (SKIP LOCKED), its run queued and its next
 * tick written in one transaction, so each tick fires exactly once however many schedulers run.
 * Ticks missed while no scheduler ran fire once, not once per missed tick; a newly published or
 * re-enabled schedule starts from its next tick.
 */
export class Scheduler {
  readonly #o: Required<SchedulerOptions>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = true;

  constructor(options: SchedulerOptions) {
    this.#o = { pollMs: 1000, ...options };
  }

  start(): void {
    this.#stopped = false;
    const loop = (): void => {
      if (this.#stopped) return;
      this.#running = this.tick()
        .catch((error: unknown) => this.#o.logger.warn({ err: error }, 'scheduler tick failed'))
        .finally(() => {
          // Polls just after each period boundary, where cron ticks fall, so a per-second cron
          // never sees two ticks merge into one poll.
          const { pollMs, clock } = this.#o;
          if (!this.#stopped) this.#timer = setTimeout(loop, pollMs - (clock.now() % pollMs) + 5);
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Fires every due tick; returns how many runs it queued. */
  async tick(): Promise<number> {
    const { db, queue, clock, logger } = this.#o;
    return db.transaction(async (tx) => {
      const now = new Date(clock.now());
      let fired = 0;
      for (const s of await dueSchedules(tx, now, 100)) {
        const timezone = s.timezone ?? 'UTC';
        if (s.schedule_next_at) {
          try {
            await queue.enqueue(tx, {
              workspaceId: s.workspace_id,
              workflowId: s.workflow_id,
              revisionId: s.revision_id,
              trigger: {
                type: 'schedule',
                revision: 'published',
                scheduled_at: s.schedule_next_at.toISOString(),
              },
              input: { scheduled_at: s.schedule_next_at.toISOString(), cron: s.cron, timezone },
            });
            fired++;
          } catch (error) {
            // A schedule whose run cannot be queued (its inputs schema refuses the tick) moves on.
            logger.warn({ err: error, workflow_id: s.workflow_id }, 'a scheduled run could not be queued');
          }
        }
        let next: Date | undefined;
        try {
          next = nextTick(s.cron, timezone, now);
        } catch (error) {
          logger.warn({ err: error, workflow_id: s.workflow_id }, 'invalid schedule');
        }
        await setScheduleNext(tx, s.workflow_id, next ?? null);
      }
      return fired;
    });
  }
}
