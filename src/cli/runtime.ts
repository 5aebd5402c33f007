import type { Logger } from 'pino';
import { openRuntime, type Runtime } from '../app.js';
import { loadConfig, type Config } from '../config.js';
import { createLogger } from '../logger.js';

/** Opens the services for a one-shot command, sharing a running embedded server when there is one. */
export async function withRuntime<T>(
  fn: (runtime: Runtime, config: Config, logger: Logger) => Promise<T>,
): Promise<T> {
  const config = loadConfig(process.env);
  const logger = createLogger(process.env.OSPREY_LOG_LEVEL ?? 'warn');
  const runtime = await openRuntime(config, logger, { shareEmbedded: true });
  try {
    return await fn(runtime, config, logger);
  } finally {
    await runtime.close();
  }
}

/** The workspace a command acts on: --workspace by name, else the only (or the bootstrap) workspace. */
export async function resolveWorkspace(
  runtime: Runtime,
  config: Config,
  name: string | undefined,
): Promise<{ id: string; name: string }> {
  const wanted = name ?? config.bootstrapWorkspace;
  const ws = await runtime.services.workspaces.byName(wanted);
  if (!ws) throw new Error(`no workspace named "${wanted}"${name ? '' : '; pass --workspace <name>'}`);
  return ws;
}
