import { pino } from 'pino';
import { Worker, type WorkerOptions } from '../../src/engine/worker.js';
import type { TestApp } from './app.js';

/** A worker over the test app's database and executor, logging nothing (not started). */
export function testWorker(
  t: TestApp,
  options: Partial<Omit<WorkerOptions, 'db' | 'executor' | 'logger'>> = {},
): Worker {
  return new Worker({
    db: t.db,
    executor: t.services.executor,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}
