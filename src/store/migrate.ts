import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OspreyError } from '../domain/errors.js';
import type { Database } from './database.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
// Any constant: the advisory lock that keeps two processes from migrating at once.
const MIGRATION_LOCK = 7_316_902_441;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.slice(0, 3)),
      name: file.slice(4, -4),
      sql: await readFile(`${dir}/${file}`, 'utf8'),
    })),
  );
}

export interface MigrationReport {
  applied: number[];
  current: number;
}

/**
 * Applies every migration newer than the database's, each in its own transaction, under an
 * advisory lock. Refuses (SCHEMA_TOO_NEW) when the database was migrated by a newer Osprey.
 */
export async function migrate(db: Database, migrations?: Migration[]): Promise<MigrationReport> {
  const known = migrations ?? (await loadMigrations());
  const latest = known.at(-1)?.version ?? 0;
  const client = await db.pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number | null }>(
      'SELECT max(version) AS v FROM schema_migrations',
    );
    const current = rows[0]?.v ?? 0;
    if (current > latest) {
      throw new OspreyError(
        'SCHEMA_TOO_NEW',
        500,
        `the database schema is at version ${current}, but this Osprey knows only up to ${latest}; upgrade Osprey`,
      );
    }
    const applied: number[] = [];
    for (const m of known.filter((x) => x.version > current)) {
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
          m.version,
          m.name,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(error as Error).message}`, {
          cause: error,
        });
      }
      applied.push(m.version);
    }
    return { applied, current: Math.max(current, ...applied) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}
