// The PostgreSQL server a benchmark runs against: DATABASE_URL (a fresh database created there and
// dropped at the end) or an embedded PostgreSQL started in a temporary directory and removed at the end.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/store/embedded-postgres.js';

export interface PgTarget {
  /** Connection string of the benchmark's own database. */
  url: string;
  /** One line saying which server this is, for the report. */
  mode: string;
  cleanup(): Promise<void>;
}

async function withClient(connectionString: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface PgTargetOptions {
  /**
   * Libraries the embedded server loads at start (shared_preload_libraries, e.g. pg_stat_statements):
   * set with ALTER SYSTEM, then the server is restarted. Not applied to DATABASE_URL.
   */
  preload?: string[];
}

/** DATABASE_URL when set (its role needs CREATEDB; PostgreSQL 13+ for DROP ... WITH (FORCE)), else embedded. */
export async function openPgTarget(prefix: string, options: PgTargetOptions = {}): Promise<PgTarget> {
  const given = process.env.DATABASE_URL;
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  if (given) {
    await withClient(given, `CREATE DATABASE ${name}`);
    const url = new URL(given);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      mode: `DATABASE_URL (${url.host}), fresh database ${name}, dropped at the end`,
      cleanup: () => withClient(given, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  const dataDir = await mkdtemp(join(os.tmpdir(), 'osprey-bench-pg-'));
  let embedded: EmbeddedPostgresHandle | undefined;
  try {
    embedded = await startEmbeddedPostgres({ dataDir, database: name });
    if (options.preload?.length) {
      const libraries = options.preload.join(',').replace(/'/g, "''");
      await withClient(
        embedded.connectionString,
        `ALTER SYSTEM SET shared_preload_libraries = '${libraries}'`,
      );
      const first = embedded;
      embedded = undefined;
      await first.stop();
      embedded = await startEmbeddedPostgres({ dataDir, database: name });
    }
  } catch (error) {
    await embedded?.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const server = embedded;
  return {
    url: server.connectionString,
    mode: `embedded PostgreSQL in ${dataDir}${options.preload?.length ? ` (shared_preload_libraries=${options.preload.join(',')})` : ''}, removed at the end`,
    async cleanup() {
      try {
        await server.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * Opens a target, runs the benchmark against it and cleans up, also on SIGINT/SIGTERM. Exits the
 * process with 0 on success and 1 on failure (after printing the error).
 */
export async function runWithPgTarget(
  prefix: string,
  run: (target: PgTarget) => Promise<void>,
  options: PgTargetOptions = {},
): Promise<never> {
  const target = await openPgTarget(prefix, options);
  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => (cleaning ??= target.cleanup());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: cleaning up\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  let failed = false;
  try {
    await run(target);
  } catch (error) {
    failed = true;
    process.stderr.write(
      `benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
  } finally {
    await cleanup();
  }
  process.exit(failed ? 1 : 0);
}
