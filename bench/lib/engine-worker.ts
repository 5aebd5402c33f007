// The engine benchmark's second-process worker (forked by bench/engine.ts): the worker role of
// `osprey worker` (services, then a Worker with the configured concurrency and lease), against the
// benchmark's database. The master key comes from the parent (BENCH_MASTER_KEY, hex).
import { pino } from 'pino';
import { createServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { Worker } from '../../src/engine/worker.js';
import { Database } from '../../src/store/database.js';
import type { ChildMessage, ParentMessage } from './engine-protocol.js';

const send = (message: ChildMessage): void => {
  process.send!(message);
};

const config = loadConfig(process.env);
const db = new Database({ connectionString: config.databaseUrl!, max: config.dbPoolSize });
const services = createServices(db, Buffer.from(process.env.BENCH_MASTER_KEY ?? '', 'hex'), config);
await services.keyring.load();
const worker = new Worker({
  db,
  executor: services.executor,
  logger: pino({ level: 'silent' }),
  concurrency: config.workerConcurrency,
  leaseMs: config.workerLeaseMs,
  maxResumes: config.workerMaxResumes,
  fairShare: config.workerFairShare,
});
await worker.start();

let stopping: Promise<void> | undefined;
/** Lets running executions reach a checkpoint, closes the pool, exits. */
const stop = (): Promise<void> =>
  (stopping ??= worker
    .stop()
    .then(() => db.close())
    .finally(() => process.exit(0)));
process.on('message', (message: ParentMessage) => {
  if (message.type === 'cpu') {
    const u = process.cpuUsage();
    send({ type: 'cpu', userMs: u.user / 1000, systemMs: u.system / 1000 });
  } else if (message.type === 'stop') void stop();
});
// The parent gone (stopped us or died): stop too, rather than run on unattended.
process.on('disconnect', () => void stop());
send({ type: 'ready' });
